package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// The Deployment reconciler is observe → decide → act. decide is a pure
// function of an observation; the reconciler carries out the action it
// returns (a read, a mutating call, a finalizer write) and adds what it
// saw to the observation, then asks again, until the decision is to
// finish or to release the object. Every status change is made here, so
// the table in deployment_decide_test.go covers the whole state machine.

// observation is everything one reconcile has seen so far.
type observation struct {
	now time.Time

	// The object.
	generation int64
	spec       *dbrestv1.DeploymentSpec
	// status is the status as decided so far in this reconcile.
	status    dbrestv1.DeploymentStatus
	deleting  bool
	finalizer bool

	// The Kubernetes side.
	// owner names ("namespace/name") the Deployment that owns the same
	// application on the same server, when it is another one.
	owner string
	// requestedAt is the value of the reconcile-requested-at annotation
	// when it has not been handled yet: this reconcile reads the server
	// at once and retries a Stalled Deployment once.
	requestedAt string
	// blocked is set when the DatabaseAPI cannot be used.
	blocked *outcome
	// namespaceDeleting is set when the namespace is being deleted (read
	// only when a deletion is blocked).
	namespaceDeleting bool
	connKey           string
	// requestTimeout is the DatabaseAPI's: a call whose outcome is unknown
	// is settled no sooner than this after it was sent.
	requestTimeout time.Duration
	// sentBy bounds when the call of a pending intent left (zero when
	// unknown): see sendTracker.
	sentBy  time.Time
	resync  time.Duration
	maxPoll time.Duration
	// inFlight is set while a request that an earlier reconcile started
	// is still on its way: its answer comes as the next reconcile's.
	inFlight bool

	// The server's answers in this reconcile, each set by the action of
	// the same name; an action that may change the server clears them.
	poll *pollResult
	jobs *jobsResult
	app  *appResult
	call *callResult
}

// pollResult is the answer to a GET of status.job.url.
type pollResult struct {
	job *restapi.JobStatus
	err error
}

// listedJob is a job from the server's list, with the URL to poll it.
type listedJob struct {
	restapi.Job
	url string
}

// jobsResult is the answer to a list of the server's jobs.
type jobsResult struct {
	jobs []listedJob
	err  error
}

// appResult is the answer to a GET of the application; a
// *restapi.NotFoundError means it is absent.
type appResult struct {
	app *restapi.Application
	err error
}

// callResult is the answer to the mutating call just sent.
type callResult struct {
	op  dbrestv1.JobOperation
	res *restapi.Result
	err error
}

// action is what the reconciler does next.
type action int

const (
	// actFinish records the outcome (conditions, requeue) and returns.
	actFinish action = iota
	// actAddFinalizer writes the finalizer, before any call.
	actAddFinalizer
	// actPollJob reads status.job.url.
	actPollJob
	// actListJobs reads the server's jobs, to settle a pending call.
	actListJobs
	// actReadApp reads the application.
	actReadApp
	// actSend writes status (which holds the intent) and then sends the
	// mutating call decision.op.
	actSend
	// actRelease removes the finalizer: the object may go.
	actRelease
)

// callsServer says whether the action sends a request to the server.
func (a action) callsServer() bool {
	switch a {
	case actPollJob, actListJobs, actReadApp, actSend:
		return true
	}
	return false
}

// decision is decide's answer: the next action, the status to hold from
// now on, and, when finishing or releasing, the outcome.
type decision struct {
	action action
	op     dbrestv1.JobOperation
	status dbrestv1.DeploymentStatus
	// outcome is recorded by actFinish; its event (or event, for the
	// other actions) is recorded as the action is taken.
	outcome outcome
	event   *event
}

// decider holds one decision in the making: the observation and a copy
// of the status that the decision changes.
type decider struct {
	o  *observation
	st *dbrestv1.DeploymentStatus
	fp string
	// pending is an event of this decision that its final step carries
	// (an adoption, which the next step follows at once).
	pending *event
}

// decide is the whole state machine: it maps what was observed to what to
// do next.
func decide(o *observation) decision {
	if o.inFlight {
		// One request at a time: a second one could race the first (two
		// mutating calls, or a pending intent settled while its call is
		// still on its way). The answer wakes the Deployment, and this
		// decision is taken again with it.
		return decision{action: actFinish, status: *o.status.DeepCopy(),
			outcome: outcome{hold: true, requeue: flightRecheck(o.requestTimeout), behind: true}}
	}
	st := o.status.DeepCopy()
	d := &decider{o: o, st: st, fp: fingerprint(&o.spec.Application)}
	if o.requestedAt != "" {
		st.LastHandledReconcileAt = o.requestedAt
	}
	d.claimLegacy()
	switch {
	case o.deleting:
		return d.deletion()
	case !o.finalizer && !d.observeOnly():
		// The finalizer lands before any call to the server, so no
		// application is deployed for an object that could vanish
		// without undeploying it. An ObserveOnly Deployment never
		// undeploys, so it needs none.
		return d.next(actAddFinalizer)
	case o.owner != "":
		st.Plan = d.blockedPlan(dbrestv1.ReasonConflict)
		return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonConflict, message: fmt.Sprintf(
			"application %q on this DatabaseAPI's server is managed by Deployment %s, created earlier; this one makes no calls "+
				"and never undeploys it, and takes over only when that one is gone",
			o.spec.Application.Name, o.owner)})
	case o.spec.Suspend:
		st.Plan = d.blockedPlan(dbrestv1.ReasonSuspended)
		return d.finish(outcome{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended,
			message: "spec.suspend is true: the operator makes no calls for this Deployment"})
	case o.blocked != nil:
		return d.finish(*o.blocked)
	}
	return d.current()
}

// current continues from the call or job in status, if any.
func (d *decider) current() decision {
	if j := d.st.Job; j != nil {
		switch j.Status {
		case dbrestv1.JobStatusPending:
			if d.o.call != nil {
				return d.answered()
			}
			return d.settle()
		case dbrestv1.JobStatusAccepted:
			return d.settle()
		case dbrestv1.JobStatusInProgress:
			return d.follow()
		}
	}
	if d.o.deleting {
		return d.undeploy()
	}
	return d.converge()
}

// converge brings the server to the spec: it reads the application when
// the spec changed, a resync is due or a job just ended, and sends at most
// one deploy or redeploy.
func (d *decider) converge() decision {
	o, st := d.o, d.st
	name := o.spec.Application.Name
	key := failureKey(d.fp, o.connKey)
	if st.LastFailedFingerprint == key && o.requestedAt != "" {
		// A retry was asked for: the failure is tried once more, and
		// recorded again if it comes back.
		st.LastFailedFingerprint, st.RecheckAt = "", nil
	}
	if st.LastFailedFingerprint == key && (st.RecheckAt == nil || o.now.Before(st.RecheckAt.Time)) {
		// A failure that retrying this spec on this connection cannot
		// fix: the conditions already say so; wait for a change or the
		// recheck.
		out := outcome{phase: conditions.Stalled, keep: true}
		if st.RecheckAt != nil {
			out.requeue = st.RecheckAt.Sub(o.now)
		}
		return d.finish(out)
	}
	if st.LastAppliedFingerprint == d.fp && d.untilResync() > 0 && o.requestedAt == "" {
		return d.ready()
	}
	if o.app == nil {
		return d.next(actReadApp)
	}
	var notFound *restapi.NotFoundError
	switch err := o.app.err; {
	case errors.As(err, &notFound):
		d.setState("")
		st.LastSyncedAt = d.now()
		var ev *event
		if st.LastAppliedFingerprint != "" {
			ev = &event{warning: true, reason: eventDriftDetected,
				message: fmt.Sprintf("application %q was removed from the server out of band; deploying it again", name)}
		}
		return d.send(dbrestv1.JobOperationDeploy, ev)
	case err != nil:
		return d.failed("reading application "+name, err)
	}
	app := o.app.app
	st.LastHTTPStatus, st.LastError = 200, ""
	d.setState(app.State)
	st.LastSyncedAt = d.now()
	if st.ClaimedAt == nil && !d.observeOnly() {
		// Someone else's application: spec.adoption decides whether it
		// is taken over before anything is sent to it.
		if refused, ok := d.adopt(app); !ok {
			return refused
		}
	}
	if app.State == restapi.StateNew {
		// A job is running that we have no record of (another client's):
		// never send a second call over it.
		return d.waitStateNew("")
	}
	fields := differences(app, &o.spec.Application)
	if len(fields) == 0 {
		if app.State == restapi.StateFailed && o.requestedAt != "" {
			// A retry was asked for: the same spec is redeployed once.
			return d.send(dbrestv1.JobOperationRedeploy, nil)
		}
		if app.State == restapi.StateFailed {
			d.recordFailure(0)
			return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed,
				message: fmt.Sprintf("application %q is STATE_FAILED on the server with this spec; change the spec to redeploy it", name)})
		}
		if st.ClaimedAt != nil {
			// Only what this Deployment manages counts as applied, so an
			// observed application is never taken for its own.
			st.LastAppliedFingerprint = d.fp
		}
		st.LastFailedFingerprint, st.RecheckAt = "", nil
		return d.ready()
	}
	diff := describeDifferences(app, &o.spec.Application, fields)
	if j := st.Job; j != nil && j.Status == dbrestv1.JobStatusCompleted && j.Operation != dbrestv1.JobOperationUndeploy &&
		j.Fingerprint == d.fp && st.LastAppliedFingerprint != d.fp && !j.Found && o.requestedAt == "" {
		// Our call for this very spec finished, yet the server shows
		// something else: redeploying would only repeat it.
		d.recordFailure(o.resync)
		msg := fmt.Sprintf("the server finished the %s of %q but does not run the spec (%s); "+
			"the operator reads it again every resync interval and redeploys when the spec, the DatabaseAPI or its Secret changes",
			strings.ToLower(string(j.Operation)), name, diff)
		return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonSpecNotApplied, message: msg,
			requeue: o.resync, event: &event{warning: true, reason: eventSpecNotApplied, message: msg}})
	}
	var ev *event
	if st.LastAppliedFingerprint == d.fp {
		ev = &event{warning: true, reason: eventDriftDetected,
			message: fmt.Sprintf("application %q was changed out of band (%s); redeploying it", name, diff)}
	}
	return d.send(dbrestv1.JobOperationRedeploy, ev)
}

// ready is the outcome of a server seen running the spec.
func (d *decider) ready() decision {
	d.st.Plan = nil
	msg := fmt.Sprintf("application %q runs the spec on the server, every field compared", d.o.spec.Application.Name)
	if d.observeOnly() {
		msg += "; managementPolicy ObserveOnly: the operator only reads"
	}
	return d.finish(outcome{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, message: msg,
		requeue: max(d.untilResync(), time.Second)})
}

// failed records a terminal failure of the current spec, so it is not
// tried again before a change or the class's recheck, and returns its
// outcome.
func (d *decider) failed(op string, err error) decision {
	d.st.LastHTTPStatus = int32(restapi.StatusCode(err))
	out := errorOutcome(op, err)
	d.st.LastError = out.message
	if out.phase == conditions.Stalled {
		d.recordFailure(classify(err).recheck)
	}
	return d.finish(out)
}

// recordFailure marks the current spec on the current connection as
// failed; period > 0 schedules a recheck.
func (d *decider) recordFailure(period time.Duration) {
	d.st.LastFailedFingerprint = failureKey(d.fp, d.o.connKey)
	d.st.RecheckAt = nil
	if period > 0 {
		t := metav1.NewTime(d.o.now.Add(period).Truncate(time.Second))
		d.st.RecheckAt = &t
	}
}

// setState records the application's state as the server shows it, and
// since when.
func (d *decider) setState(state string) {
	if d.st.ApplicationState != state || d.st.ApplicationStateSince == nil {
		d.st.ApplicationStateSince = d.now()
	}
	d.st.ApplicationState = state
	if state == "" {
		d.st.ApplicationStateSince = nil
	}
}

// waitStateNew waits for a job that no record explains (another client's,
// or one whose answer was lost and whose job is not listed): a call now
// would run over it. Like any job it is bounded by spec.timeout, and then
// still watched.
func (d *decider) waitStateNew(hint string) decision {
	o := d.o
	name := o.spec.Application.Name
	reason := dbrestv1.ReasonDeploying
	if o.deleting {
		reason = dbrestv1.ReasonUndeploying
	}
	msg := fmt.Sprintf("application %q is STATE_NEW on the server, with no job on record: waiting for its running job to finish", name)
	since := d.st.ApplicationStateSince
	if ran := o.now.Sub(since.Time); ran > jobTimeout(o.spec) {
		msg = fmt.Sprintf("application %q has been STATE_NEW on the server for %s with no job on record (spec.timeout %s); still watching it%s",
			name, ran.Round(time.Second), jobTimeout(o.spec), hint)
		return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonJobTimedOut, message: msg,
			requeue: max(pollInterval(o.spec), o.maxPoll), event: &event{warning: true, reason: eventJobTimedOut, message: msg}})
	}
	return d.finish(outcome{phase: conditions.Progressing, reason: reason, message: msg + hint, requeue: pollInterval(o.spec)})
}

func (d *decider) untilResync() time.Duration {
	last := d.st.LastSyncedAt
	if last == nil {
		return 0
	}
	return last.Add(d.o.resync).Sub(d.o.now)
}

func (d *decider) now() *metav1.Time {
	t := metav1.NewTime(d.o.now.Truncate(time.Second))
	return &t
}

func (d *decider) next(a action) decision {
	return decision{action: a, status: *d.st}
}

func (d *decider) finish(out outcome) decision {
	return decision{action: actFinish, status: *d.st, outcome: out, event: d.pending}
}

func (d *decider) release(ev event) decision {
	return decision{action: actRelease, status: *d.st, outcome: outcome{event: &ev}}
}

func pollInterval(spec *dbrestv1.DeploymentSpec) time.Duration {
	if spec.PollInterval != nil && spec.PollInterval.Duration > 0 {
		return spec.PollInterval.Duration
	}
	return 5 * time.Second
}

func jobTimeout(spec *dbrestv1.DeploymentSpec) time.Duration {
	if spec.Timeout != nil && spec.Timeout.Duration > 0 {
		return spec.Timeout.Duration
	}
	return 30 * time.Minute
}
