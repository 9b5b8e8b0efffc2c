package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/metrics"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := dbrestv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// registered returns metrics over an empty cache, on their own registry.
func registered(t *testing.T, objs ...client.Object) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(objs...).Build()
	m := metrics.New(c, nil)
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// histogram returns the histogram of name whose labels include want.
func histogram(g Gomega, reg prometheus.Gatherer, name string, want map[string]string) *dto.Histogram {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			return m.GetHistogram()
		}
	}
	g.Expect(want).To(BeNil(), "no %s series with labels %v", name, want)
	return nil
}

// cumulative returns the count of the bucket whose upper bound is le.
func cumulative(h *dto.Histogram, le float64) uint64 {
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	return 0
}

func TestRequestMetrics(t *testing.T) {
	g := NewWithT(t)
	m, reg := registered(t)
	orders := m.Observers()(types.NamespacedName{Namespace: "shop", Name: "db"})
	other := m.Observers()(types.NamespacedName{Namespace: "billing", Name: "db"})

	orders.ObserveRequest(restapi.OpDeploy, 202, 40*time.Millisecond)
	orders.ObserveRequest(restapi.OpGetJob, 200, 20*time.Millisecond)
	orders.ObserveRequest(restapi.OpGetJob, 200, 30*time.Millisecond)
	orders.ObserveRequest(restapi.OpGetJob, 0, 3*time.Second) // no answer
	other.ObserveRequest(restapi.OpProbe, 401, 5*time.Millisecond)

	g.Expect(testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dbrest_rest_requests_total REST requests sent to DatabaseAPIs, by DatabaseAPI ("namespace/name"), operation and HTTP code ("error": no answer).
# TYPE dbrest_rest_requests_total counter
dbrest_rest_requests_total{code="202",databaseapi="shop/db",operation="deploy"} 1
dbrest_rest_requests_total{code="200",databaseapi="shop/db",operation="getJob"} 2
dbrest_rest_requests_total{code="error",databaseapi="shop/db",operation="getJob"} 1
dbrest_rest_requests_total{code="401",databaseapi="billing/db",operation="probe"} 1
`), metrics.RequestsTotal)).To(Succeed())

	h := histogram(g, reg, metrics.RequestDuration, map[string]string{"databaseapi": "shop/db", "operation": "getJob"})
	g.Expect(h.GetSampleCount()).To(BeEquivalentTo(3))
	g.Expect(h.GetSampleSum()).To(BeNumerically("~", 3.05, 1e-9))
	g.Expect(cumulative(h, 0.025)).To(BeEquivalentTo(1))
	g.Expect(cumulative(h, 0.05)).To(BeEquivalentTo(2))
	g.Expect(cumulative(h, 5)).To(BeEquivalentTo(3))
	// The probe's client is another DatabaseAPI: its latency is apart.
	h = histogram(g, reg, metrics.RequestDuration, map[string]string{"databaseapi": "billing/db"})
	g.Expect(h.GetSampleCount()).To(BeEquivalentTo(1))
}

func TestJobMetrics(t *testing.T) {
	g := NewWithT(t)
	m, reg := registered(t)
	m.ObserveJob(dbrestv1.JobOperationDeploy, dbrestv1.JobStatusCompleted, 90*time.Second)
	m.ObserveJob(dbrestv1.JobOperationDeploy, dbrestv1.JobStatusCompleted, 3*time.Second)
	m.ObserveJob(dbrestv1.JobOperationRedeploy, dbrestv1.JobStatusFailed, 45*time.Minute)

	h := histogram(g, reg, metrics.JobDuration, map[string]string{"operation": "Deploy", "outcome": "completed"})
	g.Expect(h.GetSampleCount()).To(BeEquivalentTo(2))
	g.Expect(h.GetSampleSum()).To(BeNumerically("~", 93, 1e-9))
	g.Expect(cumulative(h, 5)).To(BeEquivalentTo(1))
	g.Expect(cumulative(h, 60)).To(BeEquivalentTo(1))
	g.Expect(cumulative(h, 120)).To(BeEquivalentTo(2))
	h = histogram(g, reg, metrics.JobDuration, map[string]string{"operation": "Redeploy", "outcome": "failed"})
	g.Expect(h.GetSampleCount()).To(BeEquivalentTo(1))
	g.Expect(cumulative(h, 1800)).To(BeEquivalentTo(0))
	g.Expect(cumulative(h, 3600)).To(BeEquivalentTo(1))
}

func TestRegisterTwiceFails(t *testing.T) {
	m, reg := registered(t)
	if err := m.Register(reg); err == nil {
		t.Fatal("registering the same metrics twice succeeded; the second manager would silently report nothing")
	}
}

// deployment returns a Deployment as the controller leaves it: Ready (and
// Reconciling or Stalled) with one reason, and optionally a job.
func deployment(name, ready, reason string, job *dbrestv1.JobRecord) *dbrestv1.Deployment {
	d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
	if ready != "" {
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
			Type: dbrestv1.ReadyCondition, Status: metav1.ConditionStatus(ready), Reason: reason, Message: "m",
		})
	}
	d.Status.Job = job
	return d
}

func job(op dbrestv1.JobOperation, status string) *dbrestv1.JobRecord {
	return &dbrestv1.JobRecord{URL: "http://db/jobs/1", Operation: op, Status: status}
}

func databaseAPI(name, ready, reason string) *dbrestv1.DatabaseAPI {
	api := &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
	meta.SetStatusCondition(&api.Status.Conditions, metav1.Condition{
		Type: dbrestv1.ReadyCondition, Status: metav1.ConditionStatus(ready), Reason: reason, Message: "m",
	})
	return api
}

func stateObjects() []client.Object {
	return []client.Object{
		deployment("orders", "True", dbrestv1.ReasonDeployed, job(dbrestv1.JobOperationDeploy, dbrestv1.JobStatusCompleted)),
		deployment("billing", "True", dbrestv1.ReasonDeployed, nil),
		deployment("catalog", "False", dbrestv1.ReasonDeploying, job(dbrestv1.JobOperationDeploy, dbrestv1.JobStatusInProgress)),
		deployment("search", "False", dbrestv1.ReasonRedeploying, job(dbrestv1.JobOperationRedeploy, dbrestv1.JobStatusInProgress)),
		deployment("broken", "False", dbrestv1.ReasonJobFailed, job(dbrestv1.JobOperationDeploy, dbrestv1.JobStatusFailed)),
		deployment("new", "", "", nil),
		databaseAPI("db", "True", dbrestv1.ReasonReachable),
		databaseAPI("legacy", "False", dbrestv1.ReasonUnauthorized),
	}
}

func TestStateGauges(t *testing.T) {
	g := NewWithT(t)
	_, reg := registered(t, stateObjects()...)
	g.Expect(testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dbrest_jobs_in_flight Jobs the operator is polling (status.job.status "in progress"), by operation.
# TYPE dbrest_jobs_in_flight gauge
dbrest_jobs_in_flight{operation="Deploy"} 1
dbrest_jobs_in_flight{operation="Redeploy"} 1
dbrest_jobs_in_flight{operation="Undeploy"} 0
# HELP dbrest_deployments Deployments by the status ("True", "False"; "Unknown" before the first reconcile) and reason of their Ready condition.
# TYPE dbrest_deployments gauge
dbrest_deployments{ready="True",reason="Deployed"} 2
dbrest_deployments{ready="False",reason="Deploying"} 1
dbrest_deployments{ready="False",reason="Redeploying"} 1
dbrest_deployments{ready="False",reason="JobFailed"} 1
dbrest_deployments{ready="Unknown",reason="Unknown"} 1
# HELP dbrest_databaseapis DatabaseAPIs by the status ("True", "False"; "Unknown" before the first probe) and reason of their Ready condition.
# TYPE dbrest_databaseapis gauge
dbrest_databaseapis{ready="True",reason="Reachable"} 1
dbrest_databaseapis{ready="False",reason="Unauthorized"} 1
`), metrics.JobsInFlight, metrics.Deployments, metrics.DatabaseAPIs)).To(Succeed())
}

func TestStateGaugesFollowTheObjects(t *testing.T) {
	g := NewWithT(t)
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(stateObjects()...).Build()
	reg := prometheus.NewRegistry()
	g.Expect(metrics.New(c, nil).Register(reg)).To(Succeed())

	// The job of "catalog" ends: it leaves the in-flight gauge, and the
	// Deploying series goes away instead of staying at zero.
	d := &dbrestv1.Deployment{}
	g.Expect(c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "catalog"}, d)).To(Succeed())
	d.Status.Job.Status = dbrestv1.JobStatusCompleted
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: dbrestv1.ReadyCondition, Status: "True", Reason: dbrestv1.ReasonDeployed})
	g.Expect(c.Update(context.Background(), d)).To(Succeed())

	g.Expect(testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dbrest_deployments Deployments by the status ("True", "False"; "Unknown" before the first reconcile) and reason of their Ready condition.
# TYPE dbrest_deployments gauge
dbrest_deployments{ready="True",reason="Deployed"} 3
dbrest_deployments{ready="False",reason="Redeploying"} 1
dbrest_deployments{ready="False",reason="JobFailed"} 1
dbrest_deployments{ready="Unknown",reason="Unknown"} 1
`), metrics.Deployments)).To(Succeed())
	g.Expect(testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP dbrest_jobs_in_flight Jobs the operator is polling (status.job.status "in progress"), by operation.
# TYPE dbrest_jobs_in_flight gauge
dbrest_jobs_in_flight{operation="Deploy"} 0
dbrest_jobs_in_flight{operation="Redeploy"} 1
dbrest_jobs_in_flight{operation="Undeploy"} 0
`), metrics.JobsInFlight)).To(Succeed())
}

func TestStateGaugesWaitForLeadership(t *testing.T) {
	g := NewWithT(t)
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(stateObjects()...).Build()
	elected := make(chan struct{})
	reg := prometheus.NewRegistry()
	g.Expect(metrics.New(c, elected).Register(reg)).To(Succeed())

	n, err := testutil.GatherAndCount(reg, metrics.Deployments, metrics.DatabaseAPIs, metrics.JobsInFlight)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero(), "a standby replica reported object gauges")

	close(elected)
	n, err = testutil.GatherAndCount(reg, metrics.Deployments, metrics.DatabaseAPIs, metrics.JobsInFlight)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(Equal(5 + 2 + 3))
}

func TestStateGaugesSurviveAFailedRead(t *testing.T) {
	g := NewWithT(t)
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(stateObjects()...).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*dbrestv1.DeploymentList); ok {
				return errors.New("cache not synced")
			}
			return c.List(ctx, list, opts...)
		}}).Build()
	m := metrics.New(c, nil)
	reg := prometheus.NewRegistry()
	g.Expect(m.Register(reg)).To(Succeed())
	m.ObserveJob(dbrestv1.JobOperationUndeploy, dbrestv1.JobStatusCompleted, time.Second)

	// The scrape succeeds: the DatabaseAPI gauges and the job histogram
	// are there, only the Deployment gauges are missing.
	n, err := testutil.GatherAndCount(reg, metrics.Deployments, metrics.JobsInFlight)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeZero())
	n, err = testutil.GatherAndCount(reg, metrics.DatabaseAPIs, metrics.JobDuration)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(Equal(3))
}
