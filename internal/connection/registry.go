// Package connection turns a DatabaseAPI, its credentials Secret and its CA
// into a REST client, and caches one client per DatabaseAPI generation and
// Secret (and CA) version, so every Deployment that uses the same API shares
// one connection pool and one concurrency limit.
//
// Secrets and ConfigMaps are known to the manager's cache by their metadata
// only: the versions say whether the cached client is still current, at no
// API call. Their data is read uncached, and only to build a client; the
// Registry keeps nothing of it but the client.
package connection

import (
	"cmp"
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// Factory builds a REST client from its configuration. Production code
// uses restapi.New; tests may wrap it (for example to count builds).
type Factory func(restapi.Config) (*restapi.Client, error)

// Readers are where the Registry reads the Secrets and ConfigMaps a
// DatabaseAPI names.
type Readers struct {
	// Metadata answers Gets of metav1.PartialObjectMetadata: the
	// manager's cache, whose metadata-only informers tell an object's
	// resourceVersion at no API call.
	Metadata client.Reader
	// Live reads whole objects from the API server (the manager's API
	// reader), when a client must be built.
	Live client.Reader
}

// Registry caches clients by DatabaseAPI. It is safe for concurrent use.
type Registry struct {
	readers   Readers
	factory   Factory
	observers ObserverFunc
	// builds lets one caller read the objects and build the client while
	// the others that need the same one wait for it: a rotated Secret
	// wakes every Deployment of its DatabaseAPI at once.
	builds singleflight.Group

	mu      sync.Mutex
	entries map[types.NamespacedName]*entry
}

// entry is the outcome of the last build for a DatabaseAPI: a client, or
// the error its objects' data gave (a Secret without the keys, a CA that
// is not PEM), so that an unchanged broken object is not read again.
type entry struct {
	key    string
	client *restapi.Client
	err    error
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

// NewRegistry returns a Registry that reads through readers and builds
// clients with factory (restapi.New when nil). observers, when not nil,
// gives each client its request observer.
func NewRegistry(readers Readers, factory Factory, observers ObserverFunc) *Registry {
	if factory == nil {
		factory = restapi.New
	}
	return &Registry{readers: readers, factory: factory, observers: observers, entries: map[types.NamespacedName]*entry{}}
}

// For returns the client for api. The resourceVersions of its Secret and
// CA come from the metadata cache; only when they, or the DatabaseAPI's
// generation, differ from those the cached client was built from are the
// objects read, uncached, and a client built. Errors are
// *CredentialsError, *CAError or *ConfigError, or a retryable read error.
func (r *Registry) For(ctx context.Context, api *dbrestv1.DatabaseAPI) (Connection, error) {
	name := types.NamespacedName{Namespace: api.Namespace, Name: api.Name}
	key, err := r.cachedKey(ctx, api)
	if err != nil {
		return Connection{}, err
	}
	if c, err, ok := r.lookup(name, key); ok {
		return c, err
	}
	v, err, _ := r.builds.Do(name.String()+"@"+key, func() (any, error) {
		return r.build(ctx, api, name)
	})
	if err != nil {
		return Connection{}, err
	}
	return v.(Connection), nil
}

// Forget drops the cached client of a DatabaseAPI that is gone.
func (r *Registry) Forget(name types.NamespacedName) {
	r.mu.Lock()
	delete(r.entries, name)
	r.mu.Unlock()
}

func versionKey(generation int64, secretVersion, caVersion string) string {
	return fmt.Sprintf("g%d/s%s/c%s", generation, secretVersion, caVersion)
}

// cachedKey is the version key of api as the metadata cache sees it.
func (r *Registry) cachedKey(ctx context.Context, api *dbrestv1.DatabaseAPI) (string, error) {
	secretVersion, err := r.secretVersion(ctx, api)
	if err != nil {
		return "", err
	}
	caVersion, err := r.caVersion(ctx, api)
	if err != nil {
		return "", err
	}
	return versionKey(api.Generation, secretVersion, caVersion), nil
}

// lookup returns the outcome of the last build when it was built from key.
func (r *Registry) lookup(name types.NamespacedName, key string) (Connection, error, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[name]
	switch {
	case !ok || e.key != key:
		return Connection{}, nil, false
	case e.err != nil:
		return Connection{}, e.err, true
	}
	return Connection{Client: e.client, Key: e.key}, nil, true
}

// build reads the Secret and the CA from the API server and builds the
// client. The key is made of the versions it read, which may be newer
// than the cache's for a moment; while the cache catches up, the client
// already built from them is kept, not built again.
func (r *Registry) build(ctx context.Context, api *dbrestv1.DatabaseAPI, name types.NamespacedName) (Connection, error) {
	ctx = withoutBodies(ctx)
	creds, secretVersion, credsErr := r.credentials(ctx, api)
	if credsErr != nil && !fromData(credsErr) {
		return Connection{}, credsErr
	}
	ca, caVersion, caErr := r.caBundle(ctx, api)
	if caErr != nil && !fromData(caErr) {
		return Connection{}, caErr
	}
	key := versionKey(api.Generation, secretVersion, caVersion)
	if err := cmp.Or(credsErr, caErr); err != nil {
		r.mu.Lock()
		r.entries[name] = &entry{key: key, err: err}
		r.mu.Unlock()
		return Connection{}, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[name]; ok && e.key == key && e.err == nil {
		return Connection{Client: e.client, Key: key}, nil
	}
	var obs restapi.Observer
	if r.observers != nil {
		obs = r.observers(name)
	}
	c, err := r.factory(clientConfig(api, creds, ca, obs))
	if err != nil {
		err = &ConfigError{API: name.String(), Err: err}
		r.entries[name] = &entry{key: key, err: err}
		return Connection{}, err
	}
	r.entries[name] = &entry{key: key, client: c}
	return Connection{Client: c, Key: key}, nil
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
