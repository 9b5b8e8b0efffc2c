package main

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/dbrest-io/dbrest-operator/controllers"
	"github.com/dbrest-io/dbrest-operator/internal/metrics"
)

// The metrics package cannot import controllers (a cycle), so the match of
// its method set with JobObserver is checked here, where both meet.
var (
	_ controllers.JobObserver     = (*metrics.Metrics)(nil)
	_ controllers.RefusalObserver = (*metrics.Metrics)(nil)
)

// setupMetrics registers the operator's metrics on controller-runtime's
// registry, which the manager's (secure) metrics endpoint serves. The state
// gauges read the manager's cache and are reported by the leader only.
func setupMetrics(mgr ctrl.Manager) (*metrics.Metrics, error) {
	m := metrics.New(mgr.GetClient(), mgr.Elected())
	if err := m.Register(ctrlmetrics.Registry); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	return m, nil
}
