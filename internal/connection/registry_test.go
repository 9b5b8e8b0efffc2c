package connection

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

func newAPI() *dbrestv1.DatabaseAPI {
	return &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", Generation: 1},
		Spec: dbrestv1.DatabaseAPISpec{
			URL:                  "https://db.example.com/api/",
			CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
		},
	}
}

func newReader(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

// countingFactory records the configurations it was asked to build.
type countingFactory struct{ configs []restapi.Config }

func (c *countingFactory) build(cfg restapi.Config) (*restapi.Client, error) {
	c.configs = append(c.configs, cfg)
	return restapi.New(cfg)
}

func TestRegistryCachesPerGenerationAndSecretVersion(t *testing.T) {
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"},
		Data: map[string][]byte{"username": []byte("admin"), "password": []byte("pw")}}
	reader := newReader(t, secret)
	factory := &countingFactory{}
	reg := NewRegistry(Readers{Metadata: reader, Live: reader}, factory.build, nil)
	api := newAPI()

	first, err := reg.For(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	second, err := reg.For(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	if first.Client != second.Client || len(factory.configs) != 1 {
		t.Fatalf("same generation and Secret: want one shared client, built %d", len(factory.configs))
	}
	if got := factory.configs[0].Credentials; got.Username != "admin" || got.Password != "pw" {
		t.Fatalf("credentials not taken from the Secret: %v", got)
	}

	// A new Secret version builds a new client with the new credentials.
	secret.Data = map[string][]byte{"token": []byte("tok")}
	if err := reader.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	third, err := reg.For(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	if third.Client == first.Client || third.Key == first.Key || factory.configs[1].Credentials.Token != "tok" {
		t.Fatal("a Secret change must rebuild the client")
	}

	// A new generation too.
	api.Generation = 2
	fourth, err := reg.For(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Client == third.Client || len(factory.configs) != 3 {
		t.Fatal("a generation change must rebuild the client")
	}

	reg.Forget(client.ObjectKeyFromObject(api))
	if _, err := reg.For(ctx, api); err != nil || len(factory.configs) != 4 {
		t.Fatal("Forget must drop the cached client")
	}
}

func TestRegistryTypedErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		objs   []client.Object
		mutate func(*dbrestv1.DatabaseAPI)
		check  func(error) bool
	}{
		{"secret missing", nil, nil, func(err error) bool {
			var e *CredentialsError
			return errors.As(err, &e) && e.Missing
		}},
		{"secret without keys", []client.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"},
			Data: map[string][]byte{"username": []byte("admin")}}}, nil, func(err error) bool {
			var e *CredentialsError
			return errors.As(err, &e) && !e.Missing
		}},
		{"CA ConfigMap missing", []client.Object{tokenSecret()}, func(a *dbrestv1.DatabaseAPI) {
			a.Spec.CABundleRef = &dbrestv1.CABundleSource{Name: "ca"}
		}, func(err error) bool {
			var e *CAError
			return errors.As(err, &e) && e.Missing && e.Kind == "ConfigMap"
		}},
		{"CA Secret without the key", []client.Object{tokenSecret(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: "ns"}}},
			func(a *dbrestv1.DatabaseAPI) {
				a.Spec.CABundleRef = &dbrestv1.CABundleSource{Kind: "Secret", Name: "ca", Key: "bundle.pem"}
			}, func(err error) bool {
				var e *CAError
				return errors.As(err, &e) && !e.Missing && e.Key == "bundle.pem"
			}},
		{"CA not PEM", []client.Object{tokenSecret()}, func(a *dbrestv1.DatabaseAPI) { a.Spec.CABundle = "garbage" }, func(err error) bool {
			var e *ConfigError
			return errors.As(err, &e)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := newAPI()
			if tc.mutate != nil {
				tc.mutate(api)
			}
			reader := newReader(t, tc.objs...)
			_, err := NewRegistry(Readers{Metadata: reader, Live: reader}, nil, nil).For(ctx, api)
			if !tc.check(err) {
				t.Fatalf("unexpected error %T: %v", err, err)
			}
		})
	}
}

func tokenSecret() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"}, Data: map[string][]byte{"token": []byte("t")}}
}
