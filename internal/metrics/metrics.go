// Package metrics defines the operator's Prometheus metrics. They are
// registered on controller-runtime's registry, so the manager's secure
// metrics endpoint serves them next to the controller-runtime ones.
// docs/observability.md documents each metric.
//
// Request and job metrics are pushed by hooks (restapi.Observer and the
// controllers' JobObserver). Gauges of object state are computed at scrape
// time from the manager's cache, so they are never out of step with the
// objects and cost no API call.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// Metric names. They are part of the operator's interface (dashboards and
// alerts use them), so they are constants and documented.
const (
	// RequestsTotal counts REST requests by DatabaseAPI, operation and code.
	RequestsTotal = "dbrest_rest_requests_total"
	// RequestDuration is the REST request latency by DatabaseAPI and operation.
	RequestDuration = "dbrest_rest_request_duration_seconds"
	// JobDuration is how long finished jobs ran, by operation and outcome.
	JobDuration = "dbrest_job_duration_seconds"
	// JobsInFlight is the number of jobs in progress, by operation.
	JobsInFlight = "dbrest_jobs_in_flight"
	// Deployments is the number of Deployments by Ready status and reason.
	Deployments = "dbrest_deployments"
	// DatabaseAPIs is the number of DatabaseAPIs by Ready status and reason.
	DatabaseAPIs = "dbrest_databaseapis"
	// CircuitOpen is 1 while a DatabaseAPI's circuit is open.
	CircuitOpen = "dbrest_databaseapi_circuit_open"
	// RequestsRefused counts requests a DatabaseAPI's breaker refused
	// locally, by DatabaseAPI and reason.
	RequestsRefused = "dbrest_rest_requests_refused_total"
	// RefusalWait is how long refused Deployments were told to wait, by
	// DatabaseAPI and reason (rate_limit: the tokens waited for).
	RefusalWait = "dbrest_rest_refusal_wait_seconds"
)

// CodeError is the code label of a request that got no answer
// (connection refused, reset, time-out, TLS failure).
const CodeError = "error"

// Buckets. REST calls are mostly fast but may run up to the request
// time-out (30s by default, 10m at most); jobs take seconds to an hour.
var (
	requestBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	jobBuckets     = []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}
)

// Metrics holds the operator's collectors. It is safe for concurrent use.
type Metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	jobDuration     *prometheus.HistogramVec
	refused         *prometheus.CounterVec
	refusalWait     *prometheus.HistogramVec
	state           *stateCollector
}

// New returns the operator's metrics. reader lists Deployments and
// DatabaseAPIs for the state gauges; pass the manager's cached client, so a
// scrape reads memory, not the API server. elected, when not nil, holds the
// state gauges back until it is closed (the manager's Elected channel): a
// standby replica then reports no object counts, so a sum over replicas does
// not count objects twice and a standby starts no informers of its own.
func New(reader client.Reader, elected <-chan struct{}) *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RequestsTotal,
			Help: `REST requests sent to DatabaseAPIs, by DatabaseAPI ("namespace/name"), operation and HTTP code ("error": no answer).`,
		}, []string{"databaseapi", "operation", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    RequestDuration,
			Help:    `Time from sending a REST request to reading its whole answer, by DatabaseAPI ("namespace/name") and operation.`,
			Buckets: requestBuckets,
		}, []string{"databaseapi", "operation"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    JobDuration,
			Help:    "Time from a job's acceptance to the poll that saw it end, by operation (Deploy, Redeploy, Undeploy) and outcome (completed, failed, expired).",
			Buckets: jobBuckets,
		}, []string{"operation", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RequestsRefused,
			Help: `Requests a DatabaseAPI's breaker refused before they were sent, by DatabaseAPI ("namespace/name") and reason (circuit_open, max_in_flight, rate_limit).`,
		}, []string{"databaseapi", "reason"}),
		refusalWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    RefusalWait,
			Help:    `How long a refused Deployment was told to wait, by DatabaseAPI ("namespace/name") and reason; for rate_limit, the time until a token.`,
			Buckets: requestBuckets,
		}, []string{"databaseapi", "reason"}),
		state: newStateCollector(reader, elected),
	}
}

// Register adds every collector to reg, normally controller-runtime's
// metrics.Registry.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.jobDuration, m.refused, m.refusalWait, m.state} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Observers returns the hook the connection registry gives each
// DatabaseAPI's client, so every request is counted under its DatabaseAPI.
func (m *Metrics) Observers() connection.ObserverFunc {
	return func(api types.NamespacedName) restapi.Observer {
		label := prometheus.Labels{"databaseapi": api.String()}
		// Currying once per client keeps the per-request cost to one
		// lookup by operation and code.
		return &requestObserver{
			requests: m.requests.MustCurryWith(label),
			duration: m.requestDuration.MustCurryWith(label),
		}
	}
}

// ObserveJob records a finished job. It implements controllers.JobObserver
// (this package does not import controllers, which would be a cycle).
func (m *Metrics) ObserveJob(op dbrestv1.JobOperation, outcome string, d time.Duration) {
	m.jobDuration.WithLabelValues(string(op), outcome).Observe(d.Seconds())
}

// ObserveRefusal records a request refused by a DatabaseAPI's breaker. It
// implements controllers.RefusalObserver.
func (m *Metrics) ObserveRefusal(api types.NamespacedName, reason circuit.RefusalReason, wait time.Duration) {
	m.refused.WithLabelValues(api.String(), string(reason)).Inc()
	m.refusalWait.WithLabelValues(api.String(), string(reason)).Observe(wait.Seconds())
}

// requestObserver counts the requests of one DatabaseAPI's client.
type requestObserver struct {
	requests *prometheus.CounterVec
	duration prometheus.ObserverVec
}

var _ restapi.Observer = (*requestObserver)(nil)

// ObserveRequest implements restapi.Observer.
func (o *requestObserver) ObserveRequest(op restapi.Operation, code int, d time.Duration) {
	o.requests.WithLabelValues(string(op), codeLabel(code)).Inc()
	o.duration.WithLabelValues(string(op)).Observe(d.Seconds())
}

// codeLabel is the HTTP code as text, or CodeError when no answer came.
func codeLabel(code int) string {
	if code <= 0 {
		return CodeError
	}
	return strconv.Itoa(code)
}
