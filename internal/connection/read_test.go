package connection

import (
	"context"
	"errors"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// countingReader counts the Gets that reach it, and says which types they
// asked for.
type countingReader struct {
	client.Reader
	mu    sync.Mutex
	gets  int
	types []string
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.mu.Lock()
	c.gets++
	switch obj.(type) {
	case *metav1.PartialObjectMetadata:
		c.types = append(c.types, "metadata")
	default:
		c.types = append(c.types, "object")
	}
	c.mu.Unlock()
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c *countingReader) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

// update changes the Secret's data in one store, as a write seen by the
// API server before (or without) the cache.
func update(t *testing.T, c client.Client, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "creds"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data = data
	if err := c.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryReadsDataOnlyWhenTheVersionChanges runs the registry with
// two stores, as in the manager: a metadata cache that may lag, and the
// API server. The data is read from the API server only when the cache
// shows a version the client was not built from.
func TestRegistryReadsDataOnlyWhenTheVersionChanges(t *testing.T) {
	ctx := context.Background()
	pw := func(p string) map[string][]byte {
		return map[string][]byte{"username": []byte("admin"), "password": []byte(p)}
	}
	secret := func() *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"}, Data: pw("one")}
	}
	cacheStore, apiStore := newReader(t, secret()), newReader(t, secret())
	metadata, live := &countingReader{Reader: cacheStore}, &countingReader{Reader: apiStore}
	factory := &countingFactory{}
	reg := NewRegistry(Readers{Metadata: metadata, Live: live}, factory.build, nil)
	api := newAPI()

	for range 5 {
		if _, err := reg.For(ctx, api); err != nil {
			t.Fatal(err)
		}
	}
	if live.count() != 1 || len(factory.configs) != 1 {
		t.Fatalf("five calls on one version: want 1 live read and 1 build, got %d and %d", live.count(), len(factory.configs))
	}
	for _, typ := range metadata.types {
		if typ != "metadata" {
			t.Fatalf("the cache was asked for a whole object: %v", metadata.types)
		}
	}

	// Written on the server, not yet in the cache: nothing is read (the
	// cache's event will come and trigger the reconcile).
	update(t, apiStore, pw("two"))
	if _, err := reg.For(ctx, api); err != nil || live.count() != 1 {
		t.Fatalf("a version the cache has not seen must not be read: %v, %d reads", err, live.count())
	}

	// The cache sees it: one read, a new client with the new password.
	update(t, cacheStore, pw("two"))
	if _, err := reg.For(ctx, api); err != nil {
		t.Fatal(err)
	}
	if live.count() != 2 || len(factory.configs) != 2 || factory.configs[1].Credentials.Password != "two" {
		t.Fatalf("a new version in the cache: want a second read and build with the new password, got %d reads, %d builds",
			live.count(), len(factory.configs))
	}

	// The server is one version ahead of the cache: the client is built
	// from the newest, and is not built again while the cache catches up.
	update(t, apiStore, pw("three"))
	update(t, apiStore, pw("four"))
	update(t, cacheStore, pw("three"))
	first, err := reg.For(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	second, err := reg.For(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	if len(factory.configs) != 3 || factory.configs[2].Credentials.Password != "four" || first.Client != second.Client {
		t.Fatalf("want one build from the newest version while the cache lags, got %d builds", len(factory.configs))
	}
	update(t, cacheStore, pw("four"))
	reads := live.count()
	third, err := reg.For(ctx, api)
	if err != nil || third.Client != first.Client || live.count() != reads {
		t.Fatalf("the cache caught up with the client's version: want the same client and no read (%v)", err)
	}
}

// TestRegistryRemembersErrorsOfTheData: a Secret without the keys is read
// once per version, not on every call, and its next version is read.
func TestRegistryRemembersErrorsOfTheData(t *testing.T) {
	ctx := context.Background()
	store := newReader(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"},
		Data: map[string][]byte{"username": []byte("admin")}})
	live := &countingReader{Reader: store}
	reg := NewRegistry(Readers{Metadata: store, Live: live}, nil, nil)
	api := newAPI()
	for range 3 {
		var e *CredentialsError
		if _, err := reg.For(ctx, api); !errors.As(err, &e) || e.Missing {
			t.Fatalf("want a CredentialsError for the missing password, got %v", err)
		}
	}
	if live.count() != 1 {
		t.Fatalf("an unchanged broken Secret was read %d times", live.count())
	}
	update(t, store, map[string][]byte{"token": []byte("tok")})
	if c, err := reg.For(ctx, api); err != nil || c.Client == nil || live.count() != 2 {
		t.Fatalf("the fixed Secret must be read and used: %v, %d reads", err, live.count())
	}
}

// TestRegistryBuildsOnceForConcurrentCallers: a rotation wakes every
// Deployment of the DatabaseAPI at once; one of them reads and builds.
func TestRegistryBuildsOnceForConcurrentCallers(t *testing.T) {
	ctx := context.Background()
	store := newReader(t, tokenSecret())
	live := &countingReader{Reader: store}
	factory := &countingFactory{}
	var mu sync.Mutex
	build := func(cfg restapi.Config) (*restapi.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		return factory.build(cfg)
	}
	reg := NewRegistry(Readers{Metadata: store, Live: live}, build, nil)
	api := newAPI()
	var wg sync.WaitGroup
	clients := make([]Connection, 32)
	for i := range clients {
		wg.Go(func() {
			c, err := reg.For(ctx, api)
			if err != nil {
				t.Error(err)
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if len(factory.configs) != 1 {
		t.Fatalf("32 concurrent callers built %d clients", len(factory.configs))
	}
	for _, c := range clients {
		if c.Client != clients[0].Client {
			t.Fatal("concurrent callers got different clients")
		}
	}
}
