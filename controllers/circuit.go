package controllers

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// The glue between the DatabaseAPIs and their circuit breakers
// (internal/circuit): limits from the spec, the state to and from status,
// and what a request's error says of the server.

// RefusalObserver is told of every request a breaker refused locally,
// and how long the Deployment was told to wait (for metrics).
type RefusalObserver interface {
	ObserveRefusal(api types.NamespacedName, reason circuit.RefusalReason, wait time.Duration)
}

// defaultRequestsPerSecond is the rate limit of a DatabaseAPI whose
// spec has none (objects created before the field existed).
const defaultRequestsPerSecond = 100

// breakerFor returns the breaker of api, made from its status when the
// manager has none yet.
func breakerFor(reg *circuit.Registry, api *dbrestv1.DatabaseAPI) *circuit.Breaker {
	return reg.For(client.ObjectKeyFromObject(api).String(), string(api.UID), limitsOf(api), snapshotOf(api.Status.Circuit))
}

func limitsOf(api *dbrestv1.DatabaseAPI) circuit.Limits {
	inFlight := int(api.Spec.MaxConcurrentRequests)
	if inFlight <= 0 {
		inFlight = restapi.DefaultMaxConcurrentRequests
	}
	rps := float64(api.Spec.MaxRequestsPerSecond)
	if rps <= 0 {
		rps = defaultRequestsPerSecond
	}
	return circuit.Limits{MaxInFlight: inFlight, PerSecond: rps, Burst: int(2 * rps)}
}

// snapshotOf is the circuit a previous manager left in status.
func snapshotOf(st *dbrestv1.CircuitStatus) circuit.Snapshot {
	if st == nil {
		return circuit.Snapshot{State: circuit.Closed}
	}
	return circuit.Snapshot{State: circuit.Open, OpenedAt: st.OpenedAt.Time, NextProbeAt: st.NextProbeAt.Time,
		Probes: int(st.FailedProbes), Reason: st.Reason, Message: st.Message}
}

// circuitStatus is the status of a circuit: nil when closed. Times are
// kept to the second, as metav1.Time serializes them; the next probe is
// rounded up, so a restarted manager never probes early.
func circuitStatus(s circuit.Snapshot) *dbrestv1.CircuitStatus {
	if s.State != circuit.Open {
		return nil
	}
	next := s.NextProbeAt.Truncate(time.Second)
	if next.Before(s.NextProbeAt) {
		next = next.Add(time.Second)
	}
	return &dbrestv1.CircuitStatus{OpenedAt: metav1.NewTime(s.OpenedAt.Truncate(time.Second)), NextProbeAt: metav1.NewTime(next),
		FailedProbes: int32(s.Probes), Reason: s.Reason, Message: s.Message}
}

// serverOutcome says what a request's error shows of the server, and
// whether a request was made at all (a link refused locally was not).
// Only answers that say the server is in trouble open the circuit: 429,
// 5xx and no answer. A 4xx is the server answering about the request.
func serverOutcome(err error) (circuit.Outcome, bool) {
	if err == nil {
		return circuit.Outcome{}, true
	}
	var origin *restapi.OriginError
	var transport *restapi.TransportError
	if errors.As(err, &origin) || (errors.As(err, &transport) && transport.NotSent && !transport.TLS) {
		return circuit.Outcome{}, false
	}
	c := classify(err)
	switch c.reason {
	case dbrestv1.ReasonThrottled, dbrestv1.ReasonServerError, dbrestv1.ReasonServiceUnavailable, dbrestv1.ReasonUnreachable:
		return circuit.Outcome{Trouble: true, RetryAfter: restapi.RetryAfter(err), Reason: c.reason, Message: err.Error()}, true
	}
	return circuit.Outcome{}, true
}

// waitOutcome is the outcome of a Deployment refused by its DatabaseAPI's
// breaker. An open circuit shows in the Ready condition, once: while the
// reason stays CircuitOpen nothing is written, whatever the retries. A
// full in-flight bound or an empty token bucket is a short wait that
// changes nothing in status.
func waitOutcome(apiName string, ref *circuit.Refusal, current string) outcome {
	if ref.Reason != circuit.RefusedOpen || current == dbrestv1.ReasonCircuitOpen {
		return outcome{hold: true, requeue: ref.Wait, behind: true}
	}
	c := ref.Circuit
	msg := fmt.Sprintf("DatabaseAPI %q is in trouble (%s: %s): its circuit opened at %s and no Deployment calls it "+
		"until a probe succeeds; next probe due at %s, see the DatabaseAPI's status.circuit",
		apiName, c.Reason, c.Message, c.OpenedAt.UTC().Format(time.RFC3339), c.NextProbeAt.UTC().Format(time.RFC3339))
	return outcome{phase: conditions.Progressing, reason: dbrestv1.ReasonCircuitOpen, message: msg, requeue: ref.Wait, behind: true}
}
