package controllers

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// TestDecideWhileInFlight: while a request is on its way, whatever else
// was observed, the decision is to hold: no second request, the status
// as it is (the reconcile-requested-at annotation included, handled with
// the answer), and a requeue behind other work after the request's
// timeout, as a safety net for the answer's wake-up.
func TestDecideWhileInFlight(t *testing.T) {
	inFlight := func(o *observation) { o.inFlight = true }
	deploy, redeploy := dbrestv1.JobOperationDeploy, dbrestv1.JobOperationRedeploy
	cases := []struct {
		name string
		obs  *observation
	}{
		{"a read on its way", observed(inFlight)},
		{"a deploy on its way: the pending intent is not settled", observed(withJob(deploy, dbrestv1.JobStatusPending, time.Minute), inFlight)},
		{"a poll on its way", observed(withJob(redeploy, dbrestv1.JobStatusInProgress, time.Minute), inFlight)},
		{"a delete waits for the answer", observed(applied(time.Minute), deleting, inFlight)},
		{"a spec change waits for the answer", observed(applied(time.Minute), changeSpec(func(a *dbrestv1.ApplicationSpec) { a.Version = "3" }), inFlight)},
		{"suspend waits for the answer", observed(func(o *observation) { o.spec.Suspend = true }, inFlight)},
		{"a reconcile request is handled with the answer", observed(applied(11*time.Minute), func(o *observation) { o.requestedAt = "now" }, inFlight)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			before := tc.obs.status.DeepCopy()
			d := decide(tc.obs)
			g.Expect(d.action).To(Equal(actFinish))
			g.Expect(d.outcome).To(Equal(outcome{hold: true, requeue: 35 * time.Second, behind: true}))
			g.Expect(d.status).To(Equal(*before), "the status stays as it is")
		})
	}
	// Without a request on its way the same observations act.
	g := NewWithT(t)
	g.Expect(decide(observed()).action).To(Equal(actReadApp))
	g.Expect(decide(observed(withJob(deploy, dbrestv1.JobStatusPending, time.Minute))).outcome.hold).To(BeFalse())
}

func TestFlightRecheck(t *testing.T) {
	g := NewWithT(t)
	g.Expect(flightRecheck(10 * time.Second)).To(Equal(15 * time.Second))
	g.Expect(flightRecheck(0)).To(Equal(35*time.Second), "the client's default timeout")
}

// TestFlightTracker: an answer within the grace is the caller's, with
// the ticket and the slot; a late one detaches the flight, which then
// releases both itself and wakes its Deployment, behind other work when
// it was slow; one flight per Deployment; forget and stop cancel.
func TestFlightTracker(t *testing.T) {
	ctx := context.Background()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "orders"}}
	uid := types.UID("u1")
	quick := func(context.Context) answer { return answer{app: &appResult{}} }

	t.Run("an answer within the grace is the caller's", func(t *testing.T) {
		g := NewWithT(t)
		ft := newFlightTracker[flightKey, answer](2)
		g.Expect(ft.acquire()).To(BeTrue())
		f, err := ft.start(ctx, uid, req, flightKey{act: actReadApp}, nil, quick)
		g.Expect(err).NotTo(HaveOccurred())
		a, end, ok := ft.await(uid, f, time.Minute)
		g.Expect(ok).To(BeTrue())
		g.Expect(a.app).NotTo(BeNil())
		g.Expect(end).NotTo(BeZero())
		g.Expect(ft.slotsHeld()).To(Equal(1), "the caller still holds its slot")
		f2, busy := ft.landed(uid)
		g.Expect(f2).To(BeNil())
		g.Expect(busy).To(BeFalse(), "nothing left on its way")
		g.Expect(ft.wakes).To(BeEmpty(), "no wake-up: the caller had the answer")
	})

	t.Run("a late answer detaches, releases ticket and slot, wakes", func(t *testing.T) {
		g := NewWithT(t)
		ft := newFlightTracker[flightKey, answer](1)
		breaker := circuit.New(circuit.Policy{}, circuit.Limits{MaxInFlight: 1}, circuit.Snapshot{}, nil)
		ticket, refused := breaker.Admit(time.Now())
		g.Expect(refused).To(BeNil())
		g.Expect(ft.acquire()).To(BeTrue())
		g.Expect(ft.acquire()).To(BeFalse(), "one slot in all")
		gate := make(chan struct{})
		f, err := ft.start(ctx, uid, req, flightKey{act: actSend}, ticket, func(context.Context) answer {
			<-gate
			return answer{call: &callResult{op: dbrestv1.JobOperationDeploy, err: errors.New("boom")}}
		})
		g.Expect(err).NotTo(HaveOccurred())
		_, _, ok := ft.await(uid, f, 0)
		g.Expect(ok).To(BeFalse(), "no answer within the grace")
		_, busy := ft.landed(uid)
		g.Expect(busy).To(BeTrue(), "on its way")
		_, err = ft.start(ctx, uid, req, flightKey{act: actReadApp}, nil, quick)
		g.Expect(err).To(HaveOccurred(), "one flight per Deployment")
		_, refused = breaker.Admit(time.Now())
		g.Expect(refused).NotTo(BeNil(), "the detached flight holds the ticket")

		close(gate)
		var wake ctrlevent.TypedGenericEvent[flightWake]
		g.Eventually(ft.wakes).Should(Receive(&wake))
		g.Expect(wake.Object.req).To(Equal(req))
		g.Expect(wake.Object.slow).To(BeFalse())
		g.Expect(ft.slotsHeld()).To(Equal(0), "the flight released its slot")
		_, refused = breaker.Admit(time.Now())
		g.Expect(refused).To(BeNil(), "and its ticket")
		landed, busy := ft.landed(uid)
		g.Expect(busy).To(BeFalse())
		g.Expect(landed.answer.call.err).To(MatchError("boom"))
		landed, _ = ft.landed(uid)
		g.Expect(landed).To(BeNil(), "an answer is taken once")
	})

	t.Run("a slow answer wakes behind other work", func(t *testing.T) {
		g := NewWithT(t)
		ft := newFlightTracker[flightKey, answer](1)
		g.Expect(ft.acquire()).To(BeTrue())
		gate := make(chan struct{})
		f, _ := ft.start(ctx, uid, req, flightKey{act: actReadApp}, nil, func(context.Context) answer { <-gate; return answer{app: &appResult{}} })
		f.began = f.began.Add(-2 * slowFlight)
		_, _, ok := ft.await(uid, f, 0)
		g.Expect(ok).To(BeFalse())
		close(gate)
		var wake ctrlevent.TypedGenericEvent[flightWake]
		g.Eventually(ft.wakes).Should(Receive(&wake))
		g.Expect(wake.Object.slow).To(BeTrue())
	})

	t.Run("a cancelled request tells the breaker nothing", func(t *testing.T) {
		g := NewWithT(t)
		ft := newFlightTracker[flightKey, answer](4)
		breaker := circuit.New(circuit.Policy{}, circuit.Limits{MaxInFlight: 4}, circuit.Snapshot{}, nil)
		// Broken off mid-request: the error a server gone silent gives.
		cut := func(ctx context.Context) answer {
			<-ctx.Done()
			return answer{app: &appResult{err: &restapi.TransportError{Err: io.ErrUnexpectedEOF}}}
		}
		fly := func(id types.UID, call func(context.Context) answer) {
			ticket, refused := breaker.Admit(time.Now())
			g.Expect(refused).To(BeNil())
			g.Expect(ft.acquire()).To(BeTrue())
			f, err := ft.start(ctx, id, req, flightKey{act: actReadApp}, ticket, call)
			g.Expect(err).NotTo(HaveOccurred())
			_, _, ok := ft.await(id, f, 0)
			g.Expect(ok).To(BeFalse())
		}
		fly("a", cut)
		ft.forget("a")
		g.Eventually(ft.wakes).Should(Receive())
		g.Expect(breaker.Snapshot().Failures).To(BeZero(), "our cancellation is not the server's failure")
		// The same error, not cancelled by us, is the server's.
		gate := make(chan struct{})
		fly("b", func(context.Context) answer {
			<-gate
			return answer{app: &appResult{err: &restapi.TransportError{Err: io.ErrUnexpectedEOF}}}
		})
		close(gate)
		g.Eventually(ft.wakes).Should(Receive())
		g.Expect(breaker.Snapshot().Failures).To(Equal(1))
		g.Expect(ft.slotsHeld()).To(BeZero())
	})

	t.Run("forget and stop cancel the request", func(t *testing.T) {
		g := NewWithT(t)
		ft := newFlightTracker[flightKey, answer](4)
		canceled := make(chan error, 2)
		blocked := func(ctx context.Context) answer {
			<-ctx.Done()
			canceled <- ctx.Err()
			return answer{app: &appResult{err: ctx.Err()}}
		}
		for _, id := range []types.UID{"a", "b"} {
			g.Expect(ft.acquire()).To(BeTrue())
			f, err := ft.start(ctx, id, req, flightKey{act: actReadApp}, nil, blocked)
			g.Expect(err).NotTo(HaveOccurred())
			_, _, ok := ft.await(id, f, 0)
			g.Expect(ok).To(BeFalse())
		}
		ft.forget("a")
		g.Eventually(canceled).Should(Receive(MatchError(context.Canceled)))
		ft.stop()
		g.Eventually(canceled).Should(Receive(MatchError(context.Canceled)))
		g.Eventually(ft.slotsHeld).Should(Equal(0), "every slot comes back")
		g.Expect(ft.acquire()).To(BeTrue())
		_, err := ft.start(ctx, "c", req, flightKey{act: actReadApp}, nil, quick)
		g.Expect(err).To(MatchError(context.Canceled), "no request leaves after stop")
	})
}
