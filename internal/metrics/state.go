package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// listTimeout bounds a scrape's cache reads. A synced cache answers at
// once; the bound only matters while an informer is still syncing.
const listTimeout = 5 * time.Second

// notObserved is the ready and reason label of an object the operator has
// not written a Ready condition on yet.
const notObserved = "Unknown"

// jobOperations are reported even at zero, so that a query such as
// dbrest_jobs_in_flight{operation="Undeploy"} > 0 always has a series.
var jobOperations = []dbrestv1.JobOperation{
	dbrestv1.JobOperationDeploy, dbrestv1.JobOperationRedeploy, dbrestv1.JobOperationUndeploy,
}

// stateCollector computes the object gauges at scrape time from the cache.
// Computing them from the objects, not from counters kept by the
// reconcilers, keeps them right across restarts, deletions and shards.
type stateCollector struct {
	reader  client.Reader
	elected <-chan struct{}

	jobsInFlight *prometheus.Desc
	deployments  *prometheus.Desc
	databaseAPIs *prometheus.Desc
	circuitOpen  *prometheus.Desc
}

func newStateCollector(reader client.Reader, elected <-chan struct{}) *stateCollector {
	return &stateCollector{
		reader:  reader,
		elected: elected,
		jobsInFlight: prometheus.NewDesc(JobsInFlight,
			`Jobs the operator is polling (status.job.status "in progress"), by operation.`,
			[]string{"operation"}, nil),
		deployments: prometheus.NewDesc(Deployments,
			`Deployments by the status ("True", "False"; "Unknown" before the first reconcile) and reason of their Ready condition.`,
			[]string{"ready", "reason"}, nil),
		databaseAPIs: prometheus.NewDesc(DatabaseAPIs,
			`DatabaseAPIs by the status ("True", "False"; "Unknown" before the first probe) and reason of their Ready condition.`,
			[]string{"ready", "reason"}, nil),
		circuitOpen: prometheus.NewDesc(CircuitOpen,
			`1 while the circuit of a DatabaseAPI ("namespace/name") is open (status.circuit set: no Deployment calls its server until a probe succeeds), else 0.`,
			[]string{"databaseapi"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobsInFlight
	ch <- c.deployments
	ch <- c.databaseAPIs
	ch <- c.circuitOpen
}

// Collect implements prometheus.Collector. A failed read leaves its gauges
// out of this scrape instead of failing it: the manager's endpoint answers
// 500 on any collector error, which would hide every other metric too.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.isLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	logger := log.Log.WithName("metrics")

	var deployments dbrestv1.DeploymentList
	if err := c.reader.List(ctx, &deployments); err != nil {
		logger.Error(err, "listing Deployments for the state gauges")
	} else {
		inFlight := map[dbrestv1.JobOperation]int{}
		byReady := map[readyKey]int{}
		for i := range deployments.Items {
			d := &deployments.Items[i]
			if j := d.Status.Job; j != nil && j.Status == dbrestv1.JobStatusInProgress {
				inFlight[j.Operation]++
			}
			byReady[readyOf(d.Status.Conditions)]++
		}
		for _, op := range jobOperations {
			ch <- prometheus.MustNewConstMetric(c.jobsInFlight, prometheus.GaugeValue, float64(inFlight[op]), string(op))
		}
		emitReady(ch, c.deployments, byReady)
	}

	var apis dbrestv1.DatabaseAPIList
	if err := c.reader.List(ctx, &apis); err != nil {
		logger.Error(err, "listing DatabaseAPIs for the state gauges")
		return
	}
	byReady := map[readyKey]int{}
	for i := range apis.Items {
		api := &apis.Items[i]
		byReady[readyOf(api.Status.Conditions)]++
		open := 0.0
		if api.Status.Circuit != nil {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(c.circuitOpen, prometheus.GaugeValue, open, api.Namespace+"/"+api.Name)
	}
	emitReady(ch, c.databaseAPIs, byReady)
}

func (c *stateCollector) isLeader() bool {
	if c.elected == nil {
		return true
	}
	select {
	case <-c.elected:
		return true
	default:
		return false
	}
}

// readyKey is the label pair of the ready gauges.
type readyKey struct{ ready, reason string }

func readyOf(conds []metav1.Condition) readyKey {
	c := meta.FindStatusCondition(conds, dbrestv1.ReadyCondition)
	if c == nil {
		return readyKey{notObserved, notObserved}
	}
	return readyKey{string(c.Status), c.Reason}
}

// emitReady sends one gauge per (ready, reason) pair seen. A pair no object
// has any more is left out, so Prometheus marks it stale instead of
// keeping a zero series per reason forever.
func emitReady(ch chan<- prometheus.Metric, desc *prometheus.Desc, counts map[readyKey]int) {
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), k.ready, k.reason)
	}
}
