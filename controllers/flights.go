package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/dbrest-io/dbrest-operator/internal/circuit"
)

// A request to a REST server is a flight: a reconcile starts it and waits
// for its answer at most a short grace (DeploymentOptions.CallWait). An
// answer within the grace is used at once, as if the call were inline;
// otherwise the worker returns, the request goes on in its own goroutine,
// and its answer wakes the Deployment, whose next reconcile takes the
// answer as part of its observation. A worker therefore waits on a server
// for at most the grace, however slow the server is, and the number of
// requests in flight is bounded by each DatabaseAPI's breaker and by the
// tracker's total, not by the number of workers.

// flightAnswer is what a flight brings back; err is the request's
// error, which the breaker observes.
type flightAnswer interface {
	err() error
}

// callFlights are the flights of the Deployment reconciler.
type callFlights = flightTracker[flightKey, answer]

// answer is what a Deployment's flight brought back: one of the
// observation's server answers, the one of its action.
type answer struct {
	poll *pollResult
	jobs *jobsResult
	app  *appResult
	call *callResult
}

// err is the request's error, for the breaker.
func (a answer) err() error {
	switch {
	case a.poll != nil:
		return a.poll.err
	case a.jobs != nil:
		return a.jobs.err
	case a.app != nil:
		return a.app.err
	case a.call != nil:
		return a.call.err
	}
	return nil
}

// flightKey says what a flight was started for, so that its answer is
// used only while the status still asks for it.
type flightKey struct {
	act action
	// jobURL is the job a poll reads.
	jobURL string
	// startedAt is status.job.startedAt when the flight left: a send's
	// answer belongs to the intent with this start time.
	startedAt time.Time
}

// flight is one request on its way: K says what it was started for, A
// is its answer.
type flight[K any, A flightAnswer] struct {
	key      K
	req      reconcile.Request
	began    time.Time
	cancel   context.CancelFunc
	answered chan struct{}

	mu       sync.Mutex
	done     bool
	detached bool
	// ticket is the breaker's ticket, released by the flight when it
	// ends detached (the reconcile that started it has returned).
	ticket *circuit.Ticket
	ended  time.Time
	answer A
}

// flightTracker holds the flights of a reconciler's objects, at most one
// each, and the slots that bound the requests in flight in total: a
// reconcile acquires a slot with its breaker ticket, before it writes an
// intent, and a detached flight keeps it until its answer comes.
type flightTracker[K any, A flightAnswer] struct {
	mu      sync.Mutex
	byUID   map[types.UID]*flight[K, A]
	limit   int
	held    int
	stopped bool
	// wakes carries each detached flight that ended to the controller
	// (a channel source), which queues its Deployment.
	wakes chan ctrlevent.TypedGenericEvent[flightWake]
	// stopping is closed by stop, so that no flight waits on wakes after.
	stopping chan struct{}
}

// flightWake is the event of a detached flight that ended: its object
// (a Deployment, or a DatabaseAPI for a probe), and whether the request
// took longer than slowFlight.
type flightWake struct {
	req  reconcile.Request
	slow bool
}

// slowFlight is how long a request may take before its answer is
// treated as a slow server's: its wake-up goes behind other work.
const slowFlight = time.Second

func newFlightTracker[K any, A flightAnswer](limit int) *flightTracker[K, A] {
	return &flightTracker[K, A]{byUID: map[types.UID]*flight[K, A]{}, limit: max(limit, 1),
		wakes: make(chan ctrlevent.TypedGenericEvent[flightWake], 256), stopping: make(chan struct{})}
}

// acquire takes a slot, and says false when all are held.
func (t *flightTracker[K, A]) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held >= t.limit {
		return false
	}
	t.held++
	return true
}

// hold takes a slot whatever the limit, for a flight bounded otherwise
// (a DatabaseAPI's probe: one per DatabaseAPI).
func (t *flightTracker[K, A]) hold() {
	t.mu.Lock()
	t.held++
	t.mu.Unlock()
}

// release gives a slot back.
func (t *flightTracker[K, A]) release() {
	t.mu.Lock()
	t.held--
	t.mu.Unlock()
}

// start runs call in a new goroutine as uid's flight, under a slot the
// caller holds (see acquire). ctx gives the
// call its values (the logger); the flight is cancelled by forget and
// stop, not by ctx.
func (t *flightTracker[K, A]) start(ctx context.Context, uid types.UID, req reconcile.Request, key K,
	ticket *circuit.Ticket, call func(context.Context) A) (*flight[K, A], error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return nil, context.Canceled
	}
	if _, busy := t.byUID[uid]; busy {
		// decide holds while a flight is on its way; reaching this is a
		// bug, and a second request must not leave.
		return nil, errors.New("a request of this object is already in flight")
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight[K, A]{key: key, req: req, began: time.Now(), cancel: cancel, answered: make(chan struct{}), ticket: ticket}
	t.byUID[uid] = f
	go t.fly(fctx, f, call)
	return f, nil
}

func (t *flightTracker[K, A]) fly(ctx context.Context, f *flight[K, A], call func(context.Context) A) {
	a := call(ctx)
	// Cancelled by forget or stop: the error is ours, and says nothing
	// of the server.
	abandoned := ctx.Err() != nil
	f.cancel()
	end := time.Now()
	f.mu.Lock()
	f.done, f.answer, f.ended = true, a, end
	detached, ticket := f.detached, f.ticket
	f.mu.Unlock()
	if !detached {
		close(f.answered)
		return
	}
	if !abandoned {
		observeServer(ticket, a.err())
	}
	if ticket != nil {
		ticket.Release(end)
	}
	t.release()
	select {
	case t.wakes <- ctrlevent.TypedGenericEvent[flightWake]{Object: flightWake{req: f.req, slow: end.Sub(f.began) > slowFlight}}:
	case <-t.stopping:
	}
}

// await waits for f's answer at most grace. With the answer, it removes
// f from the tracker and returns it; the caller keeps the ticket and the
// slot. Without it, f is detached and owns both from now on.
func (t *flightTracker[K, A]) await(uid types.UID, f *flight[K, A], grace time.Duration) (A, time.Time, bool) {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-f.answered:
	case <-timer.C:
	}
	f.mu.Lock()
	if !f.done {
		f.detached = true
		f.mu.Unlock()
		var none A
		return none, time.Time{}, false
	}
	a, end := f.answer, f.ended
	f.mu.Unlock()
	t.remove(uid, f)
	return a, end, true
}

// onItsWay returns the key of uid's flight while it has not ended.
func (t *flightTracker[K, A]) onItsWay(uid types.UID) (K, bool) {
	t.mu.Lock()
	f := t.byUID[uid]
	t.mu.Unlock()
	if f == nil {
		var none K
		return none, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key, !f.done
}

// landed returns uid's detached flight when it has ended, removing it,
// and says whether one is still on its way.
func (t *flightTracker[K, A]) landed(uid types.UID) (f *flight[K, A], busy bool) {
	t.mu.Lock()
	f = t.byUID[uid]
	t.mu.Unlock()
	if f == nil {
		return nil, false
	}
	f.mu.Lock()
	done := f.done && f.detached
	f.mu.Unlock()
	if !done {
		return nil, true
	}
	t.remove(uid, f)
	return f, false
}

func (t *flightTracker[K, A]) remove(uid types.UID, f *flight[K, A]) {
	t.mu.Lock()
	if t.byUID[uid] == f {
		delete(t.byUID, uid)
	}
	t.mu.Unlock()
}

// forget cancels uid's flight, if any: the object is gone.
func (t *flightTracker[K, A]) forget(uid types.UID) {
	t.mu.Lock()
	f := t.byUID[uid]
	delete(t.byUID, uid)
	t.mu.Unlock()
	if f != nil {
		f.cancel()
	}
}

// slotsHeld is the number of slots held: requests in flight, and
// reconciles about to send one.
func (t *flightTracker[K, A]) slotsHeld() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.held
}

// stop cancels every flight and starts no more: the manager stops.
func (t *flightTracker[K, A]) stop() {
	t.mu.Lock()
	if !t.stopped {
		close(t.stopping)
	}
	t.stopped = true
	fs := make([]*flight[K, A], 0, len(t.byUID))
	for _, f := range t.byUID {
		fs = append(fs, f)
	}
	t.mu.Unlock()
	for _, f := range fs {
		f.cancel()
	}
}

// lowPriority is the queue priority of work that waits on a refusing or
// slow server: below the default, so that the Deployments of healthy
// servers go first.
func lowPriority() *int {
	p := handler.LowPriority
	return &p
}

// wakeHandler queues the object of each flight that ended, behind
// other work when its server was slow.
func wakeHandler() handler.TypedEventHandler[flightWake, reconcile.Request] {
	return handler.TypedFuncs[flightWake, reconcile.Request]{
		GenericFunc: func(_ context.Context, e ctrlevent.TypedGenericEvent[flightWake], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok && e.Object.slow {
				pq.AddWithOpts(priorityqueue.AddOpts{Priority: lowPriority()}, e.Object.req)
				return
			}
			q.Add(e.Object.req)
		},
	}
}
