package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/metrics"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// TestSetupWiresMetrics runs the binary's setup (the wiring that ships)
// against a control plane and the simulator, deploys one application, and
// reads the operator's metrics from the registry the metrics endpoint
// serves: requests by DatabaseAPI, the job, and the state gauges.
func TestSetupWiresMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	g := NewWithT(t)
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	sim := simulator.New(simulator.Options{JobDuration: 500 * time.Millisecond})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(setup(ctx, mgr, options{maxPollInterval: time.Second, retryBase: 200 * time.Millisecond, retryMax: time.Second})).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); g.Expect(<-done).To(Succeed()) })

	k8s, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ns := "metrics-" + rand.String(6)
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		StringData: map[string]string{"username": "admin", "password": "admin"}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: dbrestv1.DatabaseAPISpec{URL: srv.URL + sim.BasePath(), CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
		Spec: dbrestv1.DeploymentSpec{DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
			PollInterval: &metav1.Duration{Duration: time.Second},
			Application:  dbrestv1.ApplicationSpec{Name: "orders", DeploymentPath: "/apps/orders.war", Targets: []string{"cluster1"}}}})).To(Succeed())

	api := ns + "/db"
	g.Eventually(func(g Gomega) {
		families, err := ctrlmetrics.Registry.Gather()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(value(families, metrics.Deployments, map[string]string{"ready": "True", "reason": dbrestv1.ReasonDeployed})).To(BeEquivalentTo(1))
		g.Expect(value(families, metrics.DatabaseAPIs, map[string]string{"ready": "True", "reason": dbrestv1.ReasonReachable})).To(BeEquivalentTo(1))
		g.Expect(value(families, metrics.JobsInFlight, map[string]string{"operation": "Deploy"})).To(BeZero())
		g.Expect(value(families, metrics.RequestsTotal, map[string]string{"databaseapi": api, "operation": "deploy", "code": "202"})).To(BeEquivalentTo(1))
		g.Expect(value(families, metrics.RequestsTotal, map[string]string{"databaseapi": api, "operation": "probe", "code": "200"})).To(BeNumerically(">=", 1))
		g.Expect(value(families, metrics.RequestsTotal, map[string]string{"databaseapi": api, "operation": "getJob", "code": "200"})).To(BeNumerically(">=", 1))
		g.Expect(value(families, metrics.JobDuration, map[string]string{"operation": "Deploy", "outcome": dbrestv1.JobStatusCompleted})).To(BeEquivalentTo(1))
	}, time.Minute, 200*time.Millisecond).Should(Succeed())

	// Latency has a series for each kind of call made: the probe, the read
	// that found no application, the deploy and the job polls.
	n, err := testutil.GatherAndCount(ctrlmetrics.Registry, metrics.RequestDuration)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeNumerically(">=", 4))
}

// value returns the value of the series of name whose labels include
// want: a counter's or gauge's value, a histogram's sample count; -1 when
// there is no such series.
func value(families []*dto.MetricFamily, name string, want map[string]string) float64 {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}
