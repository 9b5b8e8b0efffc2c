// Package connection turns a DatabaseAPI, its credentials Secret and its CA
// into a REST client, and caches one client per DatabaseAPI generation and
// Secret (and CA) version, so every Deployment that uses the same API shares
// one connection pool and one concurrency limit.
package connection

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// Factory builds a REST client from its configuration. Production code
// uses restapi.New; tests may wrap it (for example to count builds).
type Factory func(restapi.Config) (*restapi.Client, error)

// Registry caches clients by DatabaseAPI. It is safe for concurrent use.
type Registry struct {
	reader    client.Reader
	factory   Factory
	observers ObserverFunc

	mu      sync.Mutex
	entries map[types.NamespacedName]*entry
}

type entry struct {
	key    string
	client *restapi.Client
}

// Connection is a client together with the version key it was built from.
// The key changes when the DatabaseAPI's generation, its Secret or its CA
// changes; the controllers use it to notice that a retry may now succeed.
type Connection struct {
	Client *restapi.Client
	Key    string
}

// ObserverFunc returns the request observer (metrics hook) of the client
// of one DatabaseAPI, so metrics can carry the DatabaseAPI as a label.
type ObserverFunc func(api types.NamespacedName) restapi.Observer

// NewRegistry returns a Registry that reads Secrets and ConfigMaps through
// reader (normally the manager's cached client, so resolving costs no API
// call) and builds clients with factory (restapi.New when nil). observers,
// when not nil, gives each client its request observer.
func NewRegistry(reader client.Reader, factory Factory, observers ObserverFunc) *Registry {
	if factory == nil {
		factory = restapi.New
	}
	return &Registry{reader: reader, factory: factory, observers: observers, entries: map[types.NamespacedName]*entry{}}
}

// For returns the client for api, building it when the DatabaseAPI, its
// Secret or its CA changed since the cached one was built. Errors are
// *CredentialsError, *CAError or *ConfigError.
func (r *Registry) For(ctx context.Context, api *dbrestv1.DatabaseAPI) (Connection, error) {
	creds, secretVersion, err := r.credentials(ctx, api)
	if err != nil {
		return Connection{}, err
	}
	ca, caVersion, err := r.caBundle(ctx, api)
	if err != nil {
		return Connection{}, err
	}
	key := fmt.Sprintf("g%d/s%s/c%s", api.Generation, secretVersion, caVersion)
	name := types.NamespacedName{Namespace: api.Namespace, Name: api.Name}

	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[name]; ok && e.key == key {
		return Connection{Client: e.client, Key: key}, nil
	}
	var obs restapi.Observer
	if r.observers != nil {
		obs = r.observers(name)
	}
	c, err := r.factory(clientConfig(api, creds, ca, obs))
	if err != nil {
		return Connection{}, &ConfigError{API: name.String(), Err: err}
	}
	r.entries[name] = &entry{key: key, client: c}
	return Connection{Client: c, Key: key}, nil
}

// Forget drops the cached client of a DatabaseAPI that is gone.
func (r *Registry) Forget(name types.NamespacedName) {
	r.mu.Lock()
	delete(r.entries, name)
	r.mu.Unlock()
}

func clientConfig(api *dbrestv1.DatabaseAPI, creds restapi.Credentials, ca []byte, obs restapi.Observer) restapi.Config {
	cfg := restapi.Config{
		BaseURL:               api.Spec.URL,
		Credentials:           creds,
		CABundle:              ca,
		InsecureSkipTLSVerify: api.Spec.InsecureSkipTLSVerify,
		MaxConcurrentRequests: int(api.Spec.MaxConcurrentRequests),
		Headers:               api.Spec.Headers,
		Observer:              obs,
	}
	if api.Spec.RequestTimeout != nil {
		cfg.RequestTimeout = api.Spec.RequestTimeout.Duration
	}
	if p := api.Spec.Paths; p != nil {
		cfg.Paths = restapi.Paths{
			Applications: p.Applications, Application: p.Application, Redeploy: p.Redeploy,
			Jobs: p.Jobs, Job: p.Job,
		}
	}
	return cfg
}

// credentials reads the Secret named by the DatabaseAPI. A token wins over
// username/password; a Secret with neither is an error the user must fix.
func (r *Registry) credentials(ctx context.Context, api *dbrestv1.DatabaseAPI) (restapi.Credentials, string, error) {
	ref := api.Spec.CredentialsSecretRef.Name
	var s corev1.Secret
	if err := r.reader.Get(ctx, types.NamespacedName{Namespace: api.Namespace, Name: ref}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return restapi.Credentials{}, "", &CredentialsError{Secret: ref, Missing: true}
		}
		return restapi.Credentials{}, "", fmt.Errorf("reading credentials Secret %q: %w", ref, err)
	}
	if tok := string(s.Data[dbrestv1.CredentialsTokenKey]); tok != "" {
		return restapi.Credentials{Token: tok}, s.ResourceVersion, nil
	}
	user, pass := string(s.Data[dbrestv1.CredentialsUsernameKey]), string(s.Data[dbrestv1.CredentialsPasswordKey])
	if user == "" || pass == "" {
		return restapi.Credentials{}, "", &CredentialsError{Secret: ref}
	}
	return restapi.Credentials{Username: user, Password: pass}, s.ResourceVersion, nil
}

// caBundle returns the PEM CA bundle, inline or from the referenced
// ConfigMap or Secret, and a version for the cache key.
func (r *Registry) caBundle(ctx context.Context, api *dbrestv1.DatabaseAPI) ([]byte, string, error) {
	if api.Spec.CABundle != "" {
		return []byte(api.Spec.CABundle), "inline", nil
	}
	ref := api.Spec.CABundleRef
	if ref == nil {
		return nil, "", nil
	}
	key := ref.Key
	if key == "" {
		key = dbrestv1.DefaultCAKey
	}
	name := types.NamespacedName{Namespace: api.Namespace, Name: ref.Name}
	var data []byte
	var version string
	switch ref.Kind {
	case "Secret":
		var s corev1.Secret
		if err := r.reader.Get(ctx, name, &s); err != nil {
			return nil, "", caLookupError(ref, key, err)
		}
		data, version = s.Data[key], s.ResourceVersion
	default:
		var cm corev1.ConfigMap
		if err := r.reader.Get(ctx, name, &cm); err != nil {
			return nil, "", caLookupError(ref, key, err)
		}
		data, version = []byte(cm.Data[key]), cm.ResourceVersion
		if len(data) == 0 {
			data = cm.BinaryData[key]
		}
	}
	if len(data) == 0 {
		return nil, "", &CAError{Kind: kindOf(ref), Name: ref.Name, Key: key}
	}
	return data, version, nil
}

func caLookupError(ref *dbrestv1.CABundleSource, key string, err error) error {
	if apierrors.IsNotFound(err) {
		return &CAError{Kind: kindOf(ref), Name: ref.Name, Key: key, Missing: true}
	}
	return fmt.Errorf("reading CA %s %q: %w", kindOf(ref), ref.Name, err)
}

func kindOf(ref *dbrestv1.CABundleSource) string {
	if ref.Kind == "" {
		return "ConfigMap"
	}
	return ref.Kind
}
