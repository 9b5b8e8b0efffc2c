package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/controllers"
)

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(dbrestv1.AddToScheme(scheme))
	return scheme
}

// newManager builds the operator's manager with the wiring that ships
// (controllers.Setup with its defaults), so the playground behaves like
// the deployed operator. Only the serving differs: metrics over plain HTTP
// on localhost, since there is nobody to authenticate, and no leader
// election, since there is one replica.
func newManager(ctx context.Context, cfg *rest.Config, o options) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 newScheme(),
		Cache:                  controllers.CacheOptions(cache.Options{}, nil),
		Client:                 controllers.ClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: false},
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         false,
		// The check is process-wide, and run may build a manager more than
		// once in a process (the tests do); within one manager the
		// controllers' names are unique anyway.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		// Reconciles here are short; a Ctrl-C should not wait the default 30s.
		GracefulShutdownTimeout: ptr.To(gracefulShutdown),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{}); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// checkFree fails when one of the manager's listen addresses (by flag
// name) is taken. 8080 in particular often is on a developer's machine.
// The manager only reports it once it runs, after the control plane has
// started; this says it at once, naming the flag to change.
func checkFree(ctx context.Context, addrs map[string]string) error {
	var lc net.ListenConfig
	for flagName, addr := range addrs {
		if addr == "" || addr == "0" {
			continue
		}
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: %w (pick another address, or \"0\" to turn it off)", flagName, err)
		}
		ln.Close()
	}
	return nil
}

const (
	// gracefulShutdown is how long the manager lets reconciles finish.
	gracefulShutdown = 10 * time.Second
	// stopTimeout bounds the wait for the manager to return after it is
	// told to stop. controller-runtime v0.25 can spin forever when stopped
	// before its caches synced (kubernetes-sigs/controller-runtime#3440),
	// and kube-apiserver and etcd must be stopped even then.
	stopTimeout = gracefulShutdown + 5*time.Second
)

// runManager runs mgr until ctx ends, mgr fails, or an error arrives on
// failed from another part. It calls ready once the operator is watching
// its kinds. It returns nil only after a stop through ctx, and returns at
// most stopTimeout after being told to stop.
func runManager(ctx context.Context, mgr ctrl.Manager, failed <-chan error, ready func()) error {
	mgrCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(stopTimeout):
			return fmt.Errorf("did not stop within %s; stopping the rest anyway", stopTimeout)
		}
	}
	// Waited for in the background: if the manager fails before it starts
	// its cache, the wait would only end with mgrCtx.
	synced := make(chan bool, 1)
	go func() { synced <- watching(mgrCtx, mgr.GetCache()) }()

	for {
		select {
		case ok := <-synced:
			if ok && ctx.Err() == nil {
				ready()
			}
			synced = nil
		case <-ctx.Done():
			if err := stop(); err != nil {
				return fmt.Errorf("operator manager: %w", err)
			}
			return nil
		case err := <-failed:
			if mgrErr := stop(); mgrErr != nil {
				err = errors.Join(err, fmt.Errorf("operator manager: %w", mgrErr))
			}
			return err
		case err := <-done:
			if err == nil {
				err = errors.New("stopped on its own")
			}
			return fmt.Errorf("operator manager: %w", err)
		}
	}
}

// watching waits until the cache has started and holds the operator's
// kinds, so that the banner comes after the start-up logs and objects
// applied from then on are reconciled at once. WaitForCacheSync alone
// returns as soon as the cache starts, before the controllers add their
// informers.
func watching(ctx context.Context, c cache.Cache) bool {
	if !c.WaitForCacheSync(ctx) {
		return false
	}
	for _, obj := range []client.Object{&dbrestv1.DatabaseAPI{}, &dbrestv1.Deployment{}} {
		// Blocks until this informer has synced, now that the cache runs.
		if _, err := c.GetInformer(ctx, obj); err != nil {
			return false
		}
	}
	return true
}
