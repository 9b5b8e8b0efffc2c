package controllers

import (
	"context"
	"errors"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
)

// A DatabaseAPI's probe is a flight, as a Deployment's request is (see
// flights.go): the worker waits for its answer at most the grace, and an
// unanswered probe goes on in its own goroutine, holding its breaker
// ticket, while the worker takes the next DatabaseAPI. Its answer wakes
// the DatabaseAPI, whose next reconcile uses it. So a server that accepts
// connections and never answers holds a goroutine per DatabaseAPI for the
// request timeout, not one of the four workers, and the other DatabaseAPIs
// are probed on time.

// probeFlights are the probes on their way.
type probeFlights = flightTracker[probeKey, probeAnswer]

// probeKey says what a probe was sent for: the DatabaseAPI's generation
// and the connection (spec, credentials and CA versions) it used. Its
// answer says nothing of another spec or of rotated credentials.
type probeKey struct {
	generation int64
	conn       string
}

// probeAnswer is the answer of a probe: nil when the API answered well.
type probeAnswer struct {
	probeErr error
}

func (a probeAnswer) err() error { return a.probeErr }

// newProbeFlights returns the probe tracker. Its slots are not bounded:
// each DatabaseAPI has one probe on its way at most.
func newProbeFlights() *probeFlights {
	return newFlightTracker[probeKey, probeAnswer](0)
}

// probeFlight sends the probe as a flight and waits for its answer at
// most the grace. answered is false when the worker left it (the flight
// owns t from then on, tells the breaker its answer and wakes the
// DatabaseAPI), and when we cancelled it, as the manager stops: an answer
// that says nothing of the server changes nothing in status.
func (r *DatabaseAPIReconciler) probeFlight(ctx context.Context, req reconcile.Request, api *dbrestv1.DatabaseAPI,
	p Prober, key probeKey, t *circuit.Ticket) (s outcome, answered bool) {
	r.probes.hold()
	f, err := r.probes.start(ctx, api.UID, req, key, t, func(ctx context.Context) probeAnswer {
		return probeAnswer{probeErr: p.Probe(ctx)}
	})
	if err != nil {
		// The manager is stopping: nothing was sent.
		r.probes.release()
		releaseTicket(t)
		return outcome{}, false
	}
	a, _, ok := r.probes.await(api.UID, f, r.callWait())
	if !ok {
		return outcome{}, false
	}
	r.probes.release()
	if errors.Is(a.probeErr, context.Canceled) {
		releaseTicket(t)
		return outcome{}, false
	}
	observeServer(t, a.probeErr)
	return probeOutcome(api, a.probeErr), true
}

// landedProbe returns the outcome of the probe an earlier reconcile left
// on its way, when it has come for the DatabaseAPI as it is now (key), and
// says whether the probe is still on its way. One sent for an older spec
// or connection is cancelled, and a new one goes.
func (r *DatabaseAPIReconciler) landedProbe(api *dbrestv1.DatabaseAPI, key probeKey) (*outcome, bool) {
	if k, busy := r.probes.onItsWay(api.UID); busy {
		if k == key {
			return nil, true
		}
		r.probes.forget(api.UID)
		return nil, false
	}
	f, _ := r.probes.landed(api.UID)
	if f == nil || f.key != key {
		return nil, false
	}
	s := probeOutcome(api, f.answer.probeErr)
	return &s, false
}

func releaseTicket(t *circuit.Ticket) {
	if t != nil {
		t.Release(time.Now())
	}
}

func (r *DatabaseAPIReconciler) callWait() time.Duration {
	return graceOf(r.CallWait)
}
