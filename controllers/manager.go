package controllers

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
)

// Config wires the reconcilers into a manager.
type Config struct {
	// Deployment tunes the Deployment reconciler.
	Deployment DeploymentOptions
	// MaxConcurrentReconciles is the number of Deployments reconciled in
	// parallel. Default 32.
	MaxConcurrentReconciles int
	// ClientFactory builds REST clients; nil means restapi.New.
	ClientFactory connection.Factory
	// Observers gives each DatabaseAPI's client its request observer
	// (REST request metrics); may be nil.
	Observers connection.ObserverFunc
	// Jobs observes finished jobs (job metrics); may be nil.
	Jobs JobObserver
	// Refusals observes requests refused by a DatabaseAPI's breaker
	// (metrics); may be nil.
	Refusals RefusalObserver
}

// Setup registers the field indexes and both reconcilers on mgr. The
// manager binary and the integration tests share it, so tests run the
// wiring that ships.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("registering indexes: %w", err)
	}
	if cfg.MaxConcurrentReconciles <= 0 {
		cfg.MaxConcurrentReconciles = 32
	}
	// Versions from the cache's metadata, data read uncached (CacheOptions).
	registry := connection.NewRegistry(connection.Readers{Metadata: mgr.GetCache(), Live: mgr.GetAPIReader()},
		cfg.ClientFactory, cfg.Observers)
	recorder := mgr.GetEventRecorder("dbrest-operator")
	// A breaker whose circuit opens, closes or moves its next probe
	// wakes its DatabaseAPI, which writes the circuit to status and probes
	// when due. The send never blocks a reconcile: a full channel drops
	// the wake-up, and the DatabaseAPI's own requeue comes anyway.
	wake := make(chan ctrlevent.GenericEvent, 1024)
	circuits := circuit.NewRegistry(circuit.Policy{}, func(key string) {
		ns, name, _ := strings.Cut(key, "/")
		select {
		case wake <- ctrlevent.GenericEvent{Object: &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}:
		default:
		}
	})
	apis := &DatabaseAPIReconciler{
		Client:   mgr.GetClient(),
		Clients:  ProbersFrom(registry),
		Forget:   registry.Forget,
		Recorder: recorder,
		Backoff:  cfg.Deployment.Backoff,
		Circuits: circuits,
		CallWait: cfg.Deployment.CallWait,
		wake:     wake,
	}
	if err := apis.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: 4}); err != nil {
		return fmt.Errorf("setting up the DatabaseAPI controller: %w", err)
	}
	deployments := &DeploymentReconciler{
		Client:   mgr.GetClient(),
		Clients:  ClientsFrom(registry),
		Recorder: recorder,
		Options:  cfg.Deployment,
		Jobs:     cfg.Jobs,
		Circuits: circuits,
		Refusals: cfg.Refusals,
	}
	if err := deployments.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}); err != nil {
		return fmt.Errorf("setting up the Deployment controller: %w", err)
	}
	return nil
}
