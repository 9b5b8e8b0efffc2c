package monitoring

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// exported is what the manager serves on /metrics after it deployed an
// application: each metric name as PromQL sees it (a histogram as its
// _bucket, _sum and _count) with the values of each of its labels.
var exported map[string]map[string]map[string]bool

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

// run starts a control plane, the simulator and the manager binary built
// from ./cmd/manager, has it deploy one application (so that every metric
// has a series: requests, a job, both controllers and their queues), and
// records what the manager exports before running the tests.
func run(m *testing.M) (int, error) {
	cp, err := harness.StartControlPlane()
	if err != nil {
		return 0, err
	}
	defer func() { _ = cp.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "dbrest-monitoring-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.BuildManager(ctx, dir)
	if err != nil {
		return 0, err
	}
	kubeconfig, err := cp.AdminKubeconfig("manager")
	if err != nil {
		return 0, err
	}
	sim := simulator.New(simulator.Options{JobDuration: 200 * time.Millisecond})
	srv := httptest.NewServer(sim.Handler())
	defer func() { srv.Close(); sim.Close() }()

	p, err := harness.StartManager(ctx, harness.ManagerSpec{Binary: bin, Kubeconfig: kubeconfig, Output: os.Stderr})
	if err != nil {
		return 0, err
	}
	defer func() { _ = p.Stop(15 * time.Second) }()
	if err := p.WaitReady(ctx); err != nil {
		return 0, err
	}
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return 0, err
	}
	if err := deployOne(ctx, c, srv.URL+sim.BasePath()); err != nil {
		return 0, err
	}
	scrape, err := harness.Scrape(ctx, p.MetricsURL)
	if err != nil {
		return 0, err
	}
	exported = map[string]map[string]map[string]bool{}
	for _, s := range scrape {
		labels := exported[s.Name]
		if labels == nil {
			labels = map[string]map[string]bool{}
			exported[s.Name] = labels
		}
		for k, v := range s.Labels {
			if labels[k] == nil {
				labels[k] = map[string]bool{}
			}
			labels[k][v] = true
		}
	}
	return m.Run(), nil
}

// deployOne creates a DatabaseAPI on the simulator and a Deployment, and
// waits until the Deployment is Ready: its job has run and been polled.
func deployOne(ctx context.Context, c client.Client, url string) error {
	const ns = "monitoring"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
			StringData: map[string]string{"username": "admin", "password": "admin"}},
		// One request per second: the second Deployment's requests are
		// refused by the rate limit, so the refusal metrics have series.
		&dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Spec: dbrestv1.DatabaseAPISpec{URL: url, CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
				MaxRequestsPerSecond: 1}},
		&dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: ns},
			Spec: dbrestv1.DeploymentSpec{DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
				PollInterval: &metav1.Duration{Duration: time.Second},
				Application:  dbrestv1.ApplicationSpec{Name: "billing", DeploymentPath: "/apps/billing.war", Targets: []string{"cluster1"}}}},
		&dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
			Spec: dbrestv1.DeploymentSpec{DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
				PollInterval: &metav1.Duration{Duration: time.Second},
				Application:  dbrestv1.ApplicationSpec{Name: "orders", DeploymentPath: "/apps/orders.war", Targets: []string{"cluster1"}}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var d dbrestv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, &d); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(d.Status.Conditions, dbrestv1.ReadyCondition) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("the Deployment did not become Ready"), ctx.Err())
		case <-tick.C:
		}
	}
}
