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
	// bodyBytes sums the kube-apiserver's request bodies of every client
	// by "verb resource" (apiserver_request_body_size_bytes, whose verbs
	// are lower case and which has no subresource label), so the ceiling
	// can send bodies of the manager's size.
	bodyBytes map[string]float64
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
	return s, o.scrapeServer(ctx, &s)
}

// serverSnapshot reads the kube-apiserver's counters alone, for the
// ceiling, which runs with the manager stopped.
func (o *observer) serverSnapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{at: time.Now()}
	return s, o.scrapeServer(ctx, &s)
}

func (o *observer) scrapeServer(ctx context.Context, s *snapshot) error {
	raw, err := o.apiserver.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("scraping the kube-apiserver: %w", err)
	}
	am, err := harness.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parsing the kube-apiserver's metrics: %w", err)
	}
	s.server, s.bodyBytes = map[string]float64{}, map[string]float64{}
	for _, smp := range am {
		switch smp.Name {
		case "apiserver_request_total":
			key := smp.Labels["verb"] + " " + smp.Labels["resource"]
			if sub := smp.Labels["subresource"]; sub != "" {
				key += "/" + sub
			}
			s.server[key] += smp.Value
		case "apiserver_request_body_size_bytes_sum":
			s.bodyBytes[smp.Labels["verb"]+" "+smp.Labels["resource"]] += smp.Value
		}
	}
	return nil
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
