package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// errStateMachineLoop is returned when one reconcile takes more actions
// than any path needs; controller-runtime then backs off.
var errStateMachineLoop = errors.New("the Deployment state machine did not settle within one reconcile; backing off")

// connected is a Deployment's client with what the decision needs of
// its connection.
type connected struct {
	client         ApplicationClient
	key            string
	requestTimeout time.Duration
	// api names the DatabaseAPI; breaker is its circuit breaker (nil
	// without a registry).
	api     types.NamespacedName
	breaker *circuit.Breaker
}

// observe gathers the Kubernetes side of the observation: the object,
// the owner of its application, and its DatabaseAPI's client.
func (r *DeploymentReconciler) observe(ctx context.Context, obj *dbrestv1.Deployment) (*observation, connected, error) {
	o := &observation{
		now:        time.Now(),
		generation: obj.Generation,
		spec:       &obj.Spec,
		status:     *obj.Status.DeepCopy(),
		deleting:   !obj.DeletionTimestamp.IsZero(),
		finalizer:  controllerutil.ContainsFinalizer(obj, dbrestv1.FinalizerName),
		resync:     r.resyncInterval(obj),
		maxPoll:    r.maxPoll(),
	}
	if v := obj.Annotations[dbrestv1.ReconcileRequestedAnnotation]; v != "" && v != obj.Status.LastHandledReconcileAt {
		o.requestedAt = v
	}
	api, apiErr := r.getAPI(ctx, obj)
	var known *dbrestv1.DatabaseAPI
	if apiErr == nil {
		known = api
	}
	owner, err := r.owner(ctx, obj, known)
	if err != nil {
		return nil, connected{}, err
	}
	o.owner = owner
	conn, blocked := r.connect(ctx, obj, api, apiErr)
	o.blocked, o.connKey, o.requestTimeout = blocked, conn.key, conn.requestTimeout
	if blocked != nil && o.deleting {
		o.namespaceDeleting = r.namespaceDeleting(ctx, obj.Namespace)
	}
	if j := obj.Status.Job; j != nil && (j.Status == dbrestv1.JobStatusPending || j.Status == dbrestv1.JobStatusAccepted) {
		o.sentBy = r.sends.sentBy(obj.UID, j.StartedAt.Time, o.now)
	} else {
		r.sends.forget(obj.UID)
	}
	r.landFlight(o, obj)
	return o, conn, nil
}

// finish turns the outcome into conditions, an event and a requeue.
func (r *DeploymentReconciler) finish(ctx context.Context, obj *dbrestv1.Deployment, out outcome) reconcile.Result {
	if out.hold {
		return requeue(out, out.requeue)
	}
	if out.keep {
		// Nothing new was learnt, but a spec change that does not touch
		// the application (a poll interval, say) is still observed.
		obj.Status.ObservedGeneration = obj.Generation
		for i := range obj.Status.Conditions {
			obj.Status.Conditions[i].ObservedGeneration = obj.Generation
		}
	} else {
		obj.Status.ObservedGeneration = obj.Generation
		repeated := conditions.Reason(obj.Status.Conditions) == out.reason
		if out.eventPerMessage && repeated {
			c := meta.FindStatusCondition(obj.Status.Conditions, dbrestv1.ReadyCondition)
			repeated = c != nil && c.Message == out.message
		}
		conditions.Apply(&obj.Status.Conditions, obj.Generation, out.phase, out.reason, out.message)
		// A warning that keeps coming for the same reason is one event,
		// not one per retry.
		if out.event != nil && (!repeated || !out.event.warning) {
			r.record(obj, *out.event)
		}
	}
	delay := out.requeue
	if out.retry {
		delay = r.retries.next(obj.UID, out.retryAfter)
	} else {
		r.retries.reset(obj.UID)
	}
	log.FromContext(ctx).V(1).Info("reconciled", "phase", out.phase.String(), "reason", out.reason, "requeueAfter", delay)
	return requeue(out, delay)
}

// requeue is the result that brings the Deployment back after delay,
// behind other work when the outcome says so.
func requeue(out outcome, delay time.Duration) reconcile.Result {
	res := reconcile.Result{RequeueAfter: delay}
	if out.behind {
		res.Priority = lowPriority()
	}
	return res
}

func (r *DeploymentReconciler) record(obj *dbrestv1.Deployment, ev event) {
	typ := "Normal"
	if ev.warning {
		typ = "Warning"
	}
	r.Recorder.Eventf(obj, nil, typ, ev.reason, "Reconcile", "%s", ev.message)
}

// noteJobEnd tells the job observer of a job that this decision saw end:
// in a poll, in the body of its 202, or in the job list.
func (r *DeploymentReconciler) noteJobEnd(before, after *dbrestv1.JobRecord) {
	if r.Jobs == nil || before == nil || after == nil || after.URL == "" || !before.StartedAt.Equal(&after.StartedAt) {
		return
	}
	switch before.Status {
	case dbrestv1.JobStatusInProgress, dbrestv1.JobStatusPending, dbrestv1.JobStatusAccepted:
	default:
		return
	}
	switch after.Status {
	case dbrestv1.JobStatusCompleted, dbrestv1.JobStatusFailed, dbrestv1.JobStatusExpired:
		r.Jobs.ObserveJob(after.Operation, after.Status, time.Since(after.StartedAt.Time))
	}
}

// addFinalizer is the first write for a new Deployment.
// The patch carries the resourceVersion it was computed from: a merge
// patch replaces the whole list of finalizers, and one computed from an
// older version would drop a finalizer that another controller added
// since.
func (r *DeploymentReconciler) addFinalizer(ctx context.Context, obj *dbrestv1.Deployment) error {
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(obj, dbrestv1.FinalizerName)
	return r.tracked(obj, func() error { return r.Patch(ctx, obj, patch) })
}

// recordIntent writes the status, which now holds the intent of the
// mutating call about to be sent. It is the one status write that must
// land before a call: if the operator stops before the answer is
// recorded, the next one finds the intent and settles it instead of
// sending a second call.
func (r *DeploymentReconciler) recordIntent(ctx context.Context, obj *dbrestv1.Deployment, before *dbrestv1.DeploymentStatus) error {
	if err := r.patchStatus(ctx, obj, before); err != nil {
		return err
	}
	*before = *obj.Status.DeepCopy()
	return nil
}

// request makes the request of action act (op, for a send) as a flight,
// and waits for its answer at most the grace (callWait). detached says
// the worker left it: the request goes on, owning ticket and slot, and
// its answer wakes the Deployment (see landFlight).
func (r *DeploymentReconciler) request(ctx context.Context, req reconcile.Request, obj *dbrestv1.Deployment, conn connected,
	act action, op dbrestv1.JobOperation, ticket *circuit.Ticket) (a answer, end time.Time, detached bool, err error) {
	key := flightKey{act: act}
	if j := obj.Status.Job; j != nil {
		key.startedAt, key.jobURL = j.StartedAt.Time, j.URL
	}
	// The call holds copies of what it needs: the reconcile goes on with
	// obj, or returns, while the request is on its way.
	c := conn.client
	var call func(context.Context) answer
	switch act {
	case actPollJob:
		url := key.jobURL
		call = func(ctx context.Context) answer {
			js, err := c.GetJob(ctx, url)
			return answer{poll: &pollResult{job: js, err: err}}
		}
	case actListJobs:
		call = func(ctx context.Context) answer { return answer{jobs: listJobs(ctx, c)} }
	case actReadApp:
		name := obj.Spec.Application.Name
		call = func(ctx context.Context) answer {
			app, err := c.GetApplication(ctx, name)
			return answer{app: &appResult{app: app, err: err}}
		}
	default:
		spec := applicationSpec(obj.Spec.Application.DeepCopy())
		call = func(ctx context.Context) answer {
			res, err := send(ctx, c, op, spec)
			return answer{call: &callResult{op: op, res: res, err: err}}
		}
	}
	f, err := r.flights.start(ctx, obj.UID, req, key, ticket, call)
	if err != nil {
		return answer{}, time.Time{}, false, err
	}
	a, end, ok := r.flights.await(obj.UID, f, r.callWait())
	return a, end, !ok, nil
}

// use adds the answer of a request to the observation. A mutating
// call may have changed the server: what was read before it no longer
// holds.
func (r *DeploymentReconciler) use(o *observation, obj *dbrestv1.Deployment, act action, a answer, end time.Time) {
	switch act {
	case actPollJob:
		o.poll = a.poll
	case actListJobs:
		o.jobs = a.jobs
	case actReadApp:
		o.app = a.app
	case actSend:
		r.sends.sent(obj.UID, obj.Status.Job.StartedAt.Time, end)
		o.sentBy = end
		o.call, o.app, o.jobs, o.poll = a.call, nil, nil, nil
	}
}

// landFlight adds to the observation the answer of the request that an
// earlier reconcile left on its way, when it has come and the status
// still asks for it, or notes that it is still on its way.
func (r *DeploymentReconciler) landFlight(o *observation, obj *dbrestv1.Deployment) {
	f, busy := r.flights.landed(obj.UID)
	if busy {
		o.inFlight = true
		return
	}
	if f == nil {
		return
	}
	var started time.Time
	j := obj.Status.Job
	if j != nil {
		started = j.StartedAt.Time
	}
	if !started.Equal(f.key.startedAt) {
		// The status moved on since the request left (it cannot while
		// the request is on its way, but a restored status can): the
		// answer is not for it.
		return
	}
	switch f.key.act {
	case actPollJob:
		if j == nil || j.URL != f.key.jobURL {
			return
		}
	case actSend:
		// The answer of the intent in status, and only of it.
		if j == nil || j.Status != dbrestv1.JobStatusPending || f.answer.call.op != j.Operation {
			return
		}
	}
	r.use(o, obj, f.key.act, f.answer, f.ended)
}

func (r *DeploymentReconciler) callWait() time.Duration {
	return graceOf(r.Options.CallWait)
}

// graceOf is the grace a worker waits for an answer, of a CallWait
// setting: its default when unset, none when negative.
func graceOf(w time.Duration) time.Duration {
	switch {
	case w < 0:
		return 0
	case w == 0:
		return defaultCallWait
	default:
		return w
	}
}

// defaultCallWait is DeploymentOptions.CallWait's default.
const defaultCallWait = 100 * time.Millisecond

// send makes the mutating call op.
func send(ctx context.Context, c ApplicationClient, op dbrestv1.JobOperation, spec restapi.ApplicationSpec) (*restapi.Result, error) {
	switch op {
	case dbrestv1.JobOperationDeploy:
		return c.Deploy(ctx, spec)
	case dbrestv1.JobOperationRedeploy:
		return c.Redeploy(ctx, spec)
	default:
		return c.Undeploy(ctx, spec.Name)
	}
}

// listJobs reads the server's jobs with the URL to poll each.
func listJobs(ctx context.Context, c ApplicationClient) *jobsResult {
	jobs, err := c.ListJobs(ctx)
	if err != nil {
		return &jobsResult{err: err}
	}
	out := make([]listedJob, len(jobs))
	for i := range jobs {
		out[i] = listedJob{Job: jobs[i], url: c.JobURL(jobs[i].ID)}
	}
	return &jobsResult{jobs: out}
}

// release removes the finalizer, letting Kubernetes delete the object.
// Like addFinalizer, it patches with the resourceVersion it read, so that
// no other controller's finalizer is removed with ours.
func (r *DeploymentReconciler) release(ctx context.Context, obj *dbrestv1.Deployment, ev event) (reconcile.Result, error) {
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, dbrestv1.FinalizerName)
	if err := r.tracked(obj, func() error { return r.Patch(ctx, obj, patch) }); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	r.record(obj, ev)
	r.retries.forget(obj.UID)
	r.writes.forget(obj.UID)
	r.sends.forget(obj.UID)
	r.flights.forget(obj.UID)
	return reconcile.Result{}, nil
}

func (r *DeploymentReconciler) namespaceDeleting(ctx context.Context, namespace string) bool {
	var ns corev1.Namespace
	if err := r.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return false
	}
	return !ns.DeletionTimestamp.IsZero()
}

// getAPI reads the Deployment's DatabaseAPI from the cache.
func (r *DeploymentReconciler) getAPI(ctx context.Context, obj *dbrestv1.Deployment) (*dbrestv1.DatabaseAPI, error) {
	api := &dbrestv1.DatabaseAPI{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.DatabaseAPIRef.Name}, api)
	return api, err
}

// connect resolves the DatabaseAPI's client; api and err are the
// DatabaseAPI as getAPI read it. A DatabaseAPI that is missing or
// misconfigured in a way no call can fix blocks the Deployment with an
// outcome that points at it.
func (r *DeploymentReconciler) connect(ctx context.Context, obj *dbrestv1.Deployment, api *dbrestv1.DatabaseAPI, err error) (connected, *outcome) {
	ref := obj.Spec.DatabaseAPIRef.Name
	if err != nil {
		if apierrors.IsNotFound(err) {
			return connected{}, &outcome{phase: conditions.Progressing, reason: dbrestv1.ReasonDatabaseAPINotReady,
				message: fmt.Sprintf("DatabaseAPI %q not found in namespace %q; create it", ref, obj.Namespace)}
		}
		return connected{}, &outcome{phase: conditions.Progressing, reason: dbrestv1.ReasonDatabaseAPINotReady,
			message: fmt.Sprintf("reading DatabaseAPI %q: %v", ref, err), retry: true}
	}
	if ready := meta.FindStatusCondition(api.Status.Conditions, dbrestv1.ReadyCondition); ready != nil &&
		ready.Status != "True" && ready.ObservedGeneration == api.Generation && blocksDeployments(ready.Reason) {
		reason := dbrestv1.ReasonDatabaseAPINotReady
		if ready.Reason == dbrestv1.ReasonCredentialsNotFound {
			reason = dbrestv1.ReasonCredentialsNotFound
		}
		msg := fmt.Sprintf("DatabaseAPI %q is not ready (%s): %s", ref, ready.Reason, ready.Message)
		return connected{}, &outcome{phase: conditions.Stalled, reason: reason, message: msg,
			event: &event{warning: true, reason: reason, message: msg}}
	}
	c, key, err := r.Clients(ctx, api, detached(&obj.Spec))
	if err != nil {
		var creds *connection.CredentialsError
		reason := dbrestv1.ReasonDatabaseAPINotReady
		if errors.As(err, &creds) {
			reason = dbrestv1.ReasonCredentialsNotFound
		}
		var ca *connection.CAError
		var cfg *connection.ConfigError
		if errors.As(err, &creds) || errors.As(err, &ca) || errors.As(err, &cfg) {
			msg := fmt.Sprintf("DatabaseAPI %q cannot be used: %v", ref, err)
			return connected{}, &outcome{phase: conditions.Stalled, reason: reason, message: msg,
				event: &event{warning: true, reason: reason, message: msg}}
		}
		return connected{}, &outcome{phase: conditions.Progressing, reason: reason, message: err.Error(), retry: true}
	}
	timeout := restapi.DefaultRequestTimeout
	if api.Spec.RequestTimeout != nil && api.Spec.RequestTimeout.Duration > 0 {
		timeout = api.Spec.RequestTimeout.Duration
	}
	conn := connected{client: c, key: key, requestTimeout: timeout, api: client.ObjectKeyFromObject(api)}
	if r.Circuits != nil {
		conn.breaker = breakerFor(r.Circuits, api)
	}
	return conn, nil
}

// blocksDeployments says whether a DatabaseAPI's not-ready reason makes
// every call of its Deployments fail. Transient reasons (unreachable,
// 5xx, 429) and credential reasons do not block: each Deployment then
// reports the outcome of its own calls.
func blocksDeployments(reason string) bool {
	switch reason {
	case dbrestv1.ReasonInvalidConfig, dbrestv1.ReasonCANotFound, dbrestv1.ReasonCredentialsNotFound,
		dbrestv1.ReasonNotFound, dbrestv1.ReasonTLSError, dbrestv1.ReasonProtocolMismatch:
		return true
	}
	return false
}

func (r *DeploymentReconciler) resyncInterval(obj *dbrestv1.Deployment) time.Duration {
	if obj.Spec.ResyncInterval != nil && obj.Spec.ResyncInterval.Duration > 0 {
		return obj.Spec.ResyncInterval.Duration
	}
	if r.Options.ResyncInterval > 0 {
		return r.Options.ResyncInterval
	}
	return 10 * time.Minute
}

func (r *DeploymentReconciler) maxPoll() time.Duration {
	if r.Options.MaxPollInterval > 0 {
		return r.Options.MaxPollInterval
	}
	return time.Minute
}
