package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"

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
	registry := connection.NewRegistry(mgr.GetClient(), cfg.ClientFactory, cfg.Observers)
	recorder := mgr.GetEventRecorder("dbrest-operator")
	apis := &DatabaseAPIReconciler{
		Client:   mgr.GetClient(),
		Clients:  ProbersFrom(registry),
		Forget:   registry.Forget,
		Recorder: recorder,
		Backoff:  cfg.Deployment.Backoff,
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
	}
	if err := deployments.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}); err != nil {
		return fmt.Errorf("setting up the Deployment controller: %w", err)
	}
	return nil
}
