package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// ApplicationClient is what the Deployment reconciler needs from the REST
// API: a read, the three mutating calls, and job reads.
type ApplicationClient interface {
	GetApplication(ctx context.Context, name string) (*restapi.Application, error)
	Deploy(ctx context.Context, spec restapi.ApplicationSpec) (*restapi.Result, error)
	Redeploy(ctx context.Context, spec restapi.ApplicationSpec) (*restapi.Result, error)
	Undeploy(ctx context.Context, name string) (*restapi.Result, error)
	GetJob(ctx context.Context, jobURL string) (*restapi.JobStatus, error)
	// ListJobs and JobURL find the job of a call whose outcome is
	// unknown; they are used only in that rare case.
	ListJobs(ctx context.Context) ([]restapi.Job, error)
	JobURL(id string) string
}

var _ ApplicationClient = (*restapi.Client)(nil)

// ClientFunc returns the client for a DatabaseAPI, sending
// ?__detached=<detached> on mutating calls, and a key that changes whenever
// the DatabaseAPI, its Secret or its CA changes. Errors are the connection
// package's typed errors.
type ClientFunc func(ctx context.Context, api *dbrestv1.DatabaseAPI, detached bool) (ApplicationClient, string, error)

// JobObserver is told of each job the operator saw finish: its operation
// (Deploy, Redeploy, Undeploy), its outcome (completed, failed, expired)
// and how long it ran from acceptance to the poll that saw it end.
type JobObserver interface {
	ObserveJob(op dbrestv1.JobOperation, outcome string, d time.Duration)
}

// DeploymentOptions tunes the Deployment reconciler.
type DeploymentOptions struct {
	// ResyncInterval is how often a Ready application is read back to
	// detect drift, when spec.resyncInterval is unset. Default 10m.
	ResyncInterval time.Duration
	// MaxPollInterval caps the backoff between polls of a long job. Default 1m.
	MaxPollInterval time.Duration
	// Backoff is the retry policy for retryable failures.
	Backoff Backoff
	// CallWait is how long a worker waits for a request's answer before
	// it leaves the request to finish on its own and takes other work;
	// the answer then wakes the Deployment. A healthy server answers
	// within it, so its Deployments reconcile as if the calls were
	// inline. Default 100ms; negative never waits.
	CallWait time.Duration
	// MaxRequestsInFlight bounds the requests in flight to all servers
	// together, on top of each DatabaseAPI's maxConcurrentRequests.
	// Default 1024.
	MaxRequestsInFlight int
}

// DeploymentReconciler deploys, redeploys and undeploys applications
// through the REST API.
type DeploymentReconciler struct {
	client.Client
	// Clients returns the REST client of a DatabaseAPI.
	Clients ClientFunc
	// Recorder records the Deployment's events.
	Recorder events.EventRecorder
	// Options tunes the reconciler; zero fields take defaults.
	Options DeploymentOptions
	// Jobs, when set, is told of every job that finishes (for metrics).
	Jobs JobObserver
	// Circuits holds each DatabaseAPI's breaker, shared with the
	// DatabaseAPI reconciler; nil makes no checks (unit tests).
	Circuits *circuit.Registry
	// Refusals, when set, is told of every request a breaker refused.
	Refusals RefusalObserver

	retries *retryTracker
	writes  *writeTracker
	sends   *sendTracker
	flights *callFlights
}

// staleRetry is how soon a reconcile runs again when the cache is behind
// our own write and no copy of the newer object is at hand, which only a
// write whose outcome was lost can cause.
const staleRetry = time.Second

// slotWait is how soon a reconcile that found every request slot held
// tries again.
const slotWait = time.Second

// flightRecheck is when a Deployment whose request went on without its
// worker is reconciled again if no answer woke it: after the request's
// own timeout, and a little more.
func flightRecheck(requestTimeout time.Duration) time.Duration {
	if requestTimeout <= 0 {
		requestTimeout = restapi.DefaultRequestTimeout
	}
	return requestTimeout + 5*time.Second
}

// maxActions bounds the actions of one reconcile. The longest path is a
// finalizer write, a job list, a read, a call and the read that verifies
// it; reaching the bound means the state machine loops, a bug that must
// not turn into a hot loop against the server.
const maxActions = 8

// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments/status,verbs=patch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile observes one Deployment, asks decide what to do, does it, and
// repeats until the decision is to finish. It writes to the kube-apiserver
// in three named places only: the finalizer (addFinalizer, release), the
// intent before a mutating call (recordIntent), and the deferred status
// patch, which lands before the function returns and only when the status
// changed.
func (r *DeploymentReconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, retErr error) {
	cached := &dbrestv1.Deployment{}
	if err := r.Get(ctx, req.NamespacedName, cached); err != nil {
		// A flight of a Deployment that is gone is cancelled by the
		// informer's delete handler (SetupWithManager).
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	obj, ok := r.writes.current(cached)
	if !ok {
		return reconcile.Result{RequeueAfter: staleRetry}, nil
	}
	before := obj.Status.DeepCopy()
	skipStatus := false
	defer func() {
		if skipStatus {
			return
		}
		if err := r.patchStatus(ctx, obj, before); err != nil {
			// The error's own backoff replaces the planned requeue.
			result, retErr = reconcile.Result{}, kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	o, conn, err := r.observe(ctx, obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	// One ticket of the DatabaseAPI's breaker, and one of the slots that
	// bound the requests in flight in total, cover the reconcile's
	// requests; both are asked for before the first one, so a refusal
	// comes before anything, the intent included, is written for them.
	var ticket *circuit.Ticket
	slot := false
	defer func() {
		if ticket != nil {
			ticket.Release(time.Now())
		}
		if slot {
			r.flights.release()
		}
	}()
	for range maxActions {
		d := decide(o)
		if d.action.callsServer() && !slot {
			if !r.flights.acquire() {
				return reconcile.Result{RequeueAfter: slotWait, Priority: lowPriority()}, nil
			}
			slot = true
		}
		if d.action.callsServer() && ticket == nil && conn.breaker != nil {
			t, refused := conn.breaker.Admit(time.Now())
			if refused != nil {
				if r.Refusals != nil {
					r.Refusals.ObserveRefusal(conn.api, refused.Reason, refused.Wait)
				}
				out := waitOutcome(conn.api.Name, refused, conditions.Reason(obj.Status.Conditions))
				if !out.hold {
					// The call this Deployment would make, held back by the
					// open circuit (none when the server runs the spec).
					obj.Status.Plan = circuitPlan(o)
				}
				return r.finish(ctx, obj, out), nil
			}
			ticket = t
		}
		r.noteJobEnd(obj.Status.Job, d.status.Job)
		obj.Status, o.status = d.status, d.status
		if d.event != nil {
			r.record(obj, *d.event)
		}
		switch d.action {
		case actFinish:
			return r.finish(ctx, obj, d.outcome), nil
		case actRelease:
			// The object goes: there is no status left to write.
			skipStatus = true
			return r.release(ctx, obj, *d.outcome.event)
		case actAddFinalizer:
			if err := r.addFinalizer(ctx, obj); err != nil {
				return reconcile.Result{}, err
			}
			o.finalizer = true
		case actPollJob, actListJobs, actReadApp, actSend:
			if d.action == actSend {
				if err := r.recordIntent(ctx, obj, before); err != nil {
					return reconcile.Result{}, err
				}
			}
			a, end, detached, err := r.request(ctx, req, obj, conn, d.action, d.op, ticket)
			if err != nil {
				return reconcile.Result{}, err
			}
			if detached {
				// The request goes on without this worker, and owns the
				// ticket and the slot now; its answer wakes the
				// Deployment. The requeue is only a safety net.
				ticket, slot = nil, false
				return reconcile.Result{RequeueAfter: flightRecheck(conn.requestTimeout), Priority: lowPriority()}, nil
			}
			observeServer(ticket, a.err())
			r.use(o, obj, d.action, a, end)
		}
	}
	return reconcile.Result{}, errStateMachineLoop
}

// observeServer tells the breaker what a request showed of the server.
func observeServer(t *circuit.Ticket, err error) {
	if t == nil {
		return
	}
	if out, made := serverOutcome(err); made {
		t.Observe(time.Now(), out)
	}
}

// patchStatus writes the status when, and only when, it changed. The
// patch is a merge patch of the status alone, computed from the status
// read at the start of the reconcile (or last written).
func (r *DeploymentReconciler) patchStatus(ctx context.Context, obj *dbrestv1.Deployment, before *dbrestv1.DeploymentStatus) error {
	if equality.Semantic.DeepEqual(before, &obj.Status) {
		return nil
	}
	return r.tracked(obj, func() error {
		return patchStatusIfChanged(ctx, r.Client, obj, before, &obj.Status,
			func(base *dbrestv1.Deployment) { base.Status = *before })
	})
}

// tracked makes one write of obj known to the write tracker, so that a
// reconcile that reads an older version from the cache uses the object as
// this write left it.
func (r *DeploymentReconciler) tracked(obj *dbrestv1.Deployment, write func() error) error {
	rv := obj.ResourceVersion
	r.writes.writing(obj)
	err := write()
	r.writes.written(obj, rv, err)
	return err
}

// patchStatusIfChanged is the one status write of both reconcilers: a
// merge patch from before to now, sent only when they differ. A NotFound
// means the object is gone, which is not an error.
func patchStatusIfChanged[T client.Object, S any](ctx context.Context, c client.Client, obj T, before, now *S, restore func(T)) error {
	if equality.Semantic.DeepEqual(before, now) {
		return nil
	}
	base := obj.DeepCopyObject().(T)
	restore(base)
	err := c.Status().Patch(ctx, obj, client.MergeFrom(base))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
