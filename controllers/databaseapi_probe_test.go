package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

type proberFunc func(context.Context) error

func (f proberFunc) Probe(ctx context.Context) error { return f(ctx) }

// TestProbeFlight: an answer within the grace is the reconcile's outcome
// and tells the breaker; a probe we cancelled, or one that cannot leave
// because the manager stops, is no outcome at all (nothing changes in
// status) and gives its breaker ticket back.
func TestProbeFlight(t *testing.T) {
	ctx := context.Background()
	api := &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", UID: types.UID("a1")},
		Spec: dbrestv1.DatabaseAPISpec{URL: "http://127.0.0.1:1/api/"}}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "db"}}
	key := probeKey{generation: 1, conn: "g1"}
	unavailable := &restapi.UnavailableError{StatusError: restapi.StatusError{Code: 503}}

	cases := []struct {
		name     string
		probe    proberFunc
		stopped  bool
		answered bool
		reason   string
		failures int
	}{
		{"an answer", func(context.Context) error { return nil }, false, true, dbrestv1.ReasonReachable, 0},
		{"a 503", func(context.Context) error { return unavailable }, false, true, dbrestv1.ReasonServiceUnavailable, 1},
		{"cancelled by us", func(context.Context) error { return &restapi.TransportError{Err: context.Canceled} }, false, false, "", 0},
		{"the manager stops", func(context.Context) error { return nil }, true, false, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := &DatabaseAPIReconciler{probes: newProbeFlights(), CallWait: time.Minute}
			if tc.stopped {
				r.probes.stop()
			}
			b := circuit.New(circuit.Policy{}, circuit.Limits{MaxInFlight: 1}, circuit.Snapshot{}, nil)
			ticket, due := b.ProbeTicket(time.Now())
			g.Expect(due).To(BeTrue())
			s, answered := r.probeFlight(ctx, req, api.DeepCopy(), tc.probe, key, ticket)
			g.Expect(answered).To(Equal(tc.answered))
			g.Expect(s.reason).To(Equal(tc.reason))
			g.Expect(b.Snapshot().Failures).To(Equal(tc.failures))
			if answered {
				ticket.Release(time.Now()) // the caller's, as probeThrough does
			}
			_, refused := b.Admit(time.Now())
			g.Expect(refused).To(BeNil(), "the probe's slot came back")
			g.Expect(r.probes.slotsHeld()).To(BeZero())
		})
	}
}
