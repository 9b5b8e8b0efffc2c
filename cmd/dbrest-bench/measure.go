package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/dbrest-io/dbrest-operator/internal/harness"
)

// snapshot is what the bench reads from outside the manager at a phase
// boundary; a phase's figures are the difference of two snapshots.
type snapshot struct {
	at    time.Time
	usage harness.Usage
	// client counts the manager's requests to the kube-apiserver by
	// method (client-go's rest_client_requests_total).
	client map[string]float64
	// reconciles counts Deployment reconciles.
	reconciles float64
	// server counts the kube-apiserver's requests of every client by
	// "VERB resource[/subresource]" (apiserver_request_total), for the
	// writes on Deployments and Events that the client side cannot tell
	// apart.
	server map[string]float64
}

// observer takes snapshots of one manager and one control plane.
type observer struct {
	mgr       *harness.Process
	apiserver rest.Interface
}

func newObserver(mgr *harness.Process, cfg *rest.Config) (*observer, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &observer{mgr: mgr, apiserver: dc.RESTClient()}, nil
}

func (o *observer) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now()}
	var err error
	if s.usage, err = harness.ReadUsage(o.mgr.PID()); err != nil {
		return s, fmt.Errorf("reading the manager's usage: %w", err)
	}
	m, err := harness.Scrape(ctx, o.mgr.MetricsURL)
	if err != nil {
		return s, err
	}
	s.client = m.SumBy("rest_client_requests_total", "method", nil)
	s.reconciles = m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": "deployment"})
	raw, err := o.apiserver.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return s, fmt.Errorf("scraping the kube-apiserver: %w", err)
	}
	am, err := harness.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return s, fmt.Errorf("parsing the kube-apiserver's metrics: %w", err)
	}
	s.server = map[string]float64{}
	for _, smp := range am {
		if smp.Name != "apiserver_request_total" {
			continue
		}
		key := smp.Labels["verb"] + " " + smp.Labels["resource"]
		if sub := smp.Labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		s.server[key] += smp.Value
	}
	return s, nil
}

// delta is after minus before, per key, leaving out keys that did not move.
func delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Writes on Deployments and Events, by apiserver_request_total key. The
// manager writes Deployments only by PATCH (finalizer and status); the
// bench's own writes are subtracted by the phase that sent them.
var (
	objectWrites = []string{"PATCH deployments", "PATCH deployments/status", "PUT deployments", "PUT deployments/status"}
	eventWrites  = []string{"POST events", "PATCH events", "PUT events"}
)

func sumKeys(m map[string]float64, keys []string) float64 {
	var total float64
	for _, k := range keys {
		total += m[k]
	}
	return total
}
