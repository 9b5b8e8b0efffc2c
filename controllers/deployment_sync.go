package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// connected is a Deployment's client with the key of its connection.
type connected struct {
	client ApplicationClient
	key    string
}

// sync does one step of the state machine, driven by what is observed:
// a job in status is polled first; then, when the spec changed, a retry
// is due or a drift check is due, the application is read and at most one
// mutating call is sent.
func (r *DeploymentReconciler) sync(ctx context.Context, obj *dbrestv1.Deployment) step {
	conn, blocked := r.connect(ctx, obj)
	if blocked != nil {
		return *blocked
	}
	s := r.syncConnected(ctx, obj, conn)
	if s.terminal {
		obj.Status.LastFailedFingerprint = failureKey(fingerprint(&obj.Spec), conn.key)
		if s.requeue > 0 {
			r.retries.scheduleRecheck(obj.UID, s.requeue)
		}
	}
	return s
}

func (r *DeploymentReconciler) syncConnected(ctx context.Context, obj *dbrestv1.Deployment, conn connected) step {
	if job := obj.Status.Job; job != nil && job.Status == dbrestv1.JobStatusInProgress {
		polled, settled := r.pollJob(ctx, obj, conn)
		if !settled {
			return polled
		}
		next := r.afterJob(ctx, obj, conn)
		if next.event == nil {
			next.event = polled.event
		}
		return next
	}
	return r.afterJob(ctx, obj, conn)
}

// afterJob is the part of the state machine that runs when no job is in progress.
func (r *DeploymentReconciler) afterJob(ctx context.Context, obj *dbrestv1.Deployment, conn connected) step {
	fp := fingerprint(&obj.Spec)
	if obj.Status.LastFailedFingerprint == failureKey(fp, conn.key) {
		// A terminal failure of this very spec on this very connection:
		// wait for a change, or for the slow recheck of its class.
		s := r.stalledAsBefore(obj)
		due, left := r.retries.recheckDue(obj.UID, recheckPeriod(s.reason))
		if !due {
			s.requeue = left
			return s
		}
	}
	if obj.Status.LastAppliedFingerprint == fp && !r.resyncDue(obj) {
		return r.readyStep(obj)
	}
	return r.observeAndAct(ctx, obj, conn, fp)
}

// observeAndAct reads the application and acts on what it sees.
func (r *DeploymentReconciler) observeAndAct(ctx context.Context, obj *dbrestv1.Deployment, conn connected, fp string) step {
	name := obj.Spec.Application.Name
	app, err := conn.client.GetApplication(ctx, name)
	var notFound *restapi.NotFoundError
	switch {
	case errors.As(err, &notFound):
		obj.Status.ApplicationState = ""
		obj.Status.LastSyncedAt = now()
		s := r.mutate(ctx, obj, conn, dbrestv1.JobOperationDeploy, fp)
		if obj.Status.LastAppliedFingerprint != "" && s.phase != conditions.Stalled && !s.retry {
			s.event = &event{warning: true, reason: eventDriftDetected,
				message: fmt.Sprintf("application %q was removed from the server out of band; deploying it again", name)}
		}
		return s
	case err != nil:
		obj.Status.LastHTTPStatus = int32(restapi.StatusCode(err))
		return errorStep("reading application "+name, err)
	}
	obj.Status.LastHTTPStatus = 200
	obj.Status.LastError = ""
	obj.Status.ApplicationState = app.State
	obj.Status.LastSyncedAt = now()

	if app.State == restapi.StateNew {
		// A job we have no record of (its answer was lost, or another
		// client started it) is running: never send a second call.
		return step{phase: conditions.Progressing, reason: operationReason(dbrestv1.JobOperationDeploy),
			message: fmt.Sprintf("application %q is STATE_NEW on the server: waiting for its running job to finish", name),
			requeue: pollInterval(obj)}
	}
	if fields := drift(app, &obj.Spec.Application); len(fields) > 0 {
		s := r.mutate(ctx, obj, conn, dbrestv1.JobOperationRedeploy, fp)
		if obj.Status.LastAppliedFingerprint == fp && s.phase != conditions.Stalled && !s.retry {
			s.event = &event{warning: true, reason: eventDriftDetected,
				message: fmt.Sprintf("application %q was changed out of band (%s); redeploying it", name, strings.Join(fields, ", "))}
		}
		return s
	}
	if app.State == restapi.StateFailed {
		obj.Status.LastFailedFingerprint = failureKey(fp, conn.key)
		return step{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed,
			message: fmt.Sprintf("application %q is STATE_FAILED on the server; change the spec to redeploy it", name)}
	}
	obj.Status.LastAppliedFingerprint = fp
	obj.Status.LastFailedFingerprint = ""
	return r.readyStep(obj)
}

// mutate sends one deploy or redeploy and records its outcome.
func (r *DeploymentReconciler) mutate(ctx context.Context, obj *dbrestv1.Deployment, conn connected, op dbrestv1.JobOperation, fp string) step {
	app := applicationSpec(&obj.Spec.Application)
	var res *restapi.Result
	var err error
	if op == dbrestv1.JobOperationDeploy {
		res, err = conn.client.Deploy(ctx, app)
	} else {
		res, err = conn.client.Redeploy(ctx, app)
	}
	verb := strings.ToLower(string(op))
	if err != nil {
		obj.Status.LastHTTPStatus = int32(restapi.StatusCode(err))
		s := errorStep(verb+" of "+app.Name, err)
		var transport *restapi.TransportError
		if errors.As(err, &transport) && transport.OutcomeUnknown() {
			// The call may have happened: the next step reads the
			// application before anything is sent again.
			s.message += "; the outcome is unknown, so the application will be read before any retry"
		}
		return s
	}
	obj.Status.LastHTTPStatus = int32(res.StatusCode)
	obj.Status.LastError = ""
	if res.Outcome == restapi.OutcomeAccepted {
		status := dbrestv1.JobStatusInProgress
		obj.Status.Job = &dbrestv1.JobRecord{URL: res.JobURL, Operation: op, Status: status, Fingerprint: fp, StartedAt: *now()}
		return step{phase: conditions.Progressing, reason: operationReason(op),
			message: fmt.Sprintf("%s of %q accepted by the server; polling job %s", verb, app.Name, res.JobURL),
			requeue: pollDelay(pollInterval(obj), r.maxPoll(), res.RetryAfter, 0),
			event:   &event{reason: acceptedEvent(op), message: fmt.Sprintf("%s of %q accepted as job %s", verb, app.Name, res.JobURL)}}
	}
	// A synchronous answer: the change is done.
	obj.Status.LastAppliedFingerprint = fp
	obj.Status.LastFailedFingerprint = ""
	obj.Status.ApplicationState = restapi.StateActive
	if res.Application != nil && res.Application.State != "" {
		obj.Status.ApplicationState = res.Application.State
	}
	s := r.readyStep(obj)
	s.event = &event{reason: eventDeployed, message: fmt.Sprintf("%s of %q done (HTTP %d)", verb, app.Name, res.StatusCode)}
	return s
}

func acceptedEvent(op dbrestv1.JobOperation) string {
	switch op {
	case dbrestv1.JobOperationRedeploy:
		return eventRedeployAccepted
	case dbrestv1.JobOperationUndeploy:
		return eventUndeployAccepted
	default:
		return eventDeployAccepted
	}
}

// connect resolves the DatabaseAPI and its client. A DatabaseAPI that is
// missing or misconfigured in a way no call can fix blocks the Deployment
// with a condition that points at it.
func (r *DeploymentReconciler) connect(ctx context.Context, obj *dbrestv1.Deployment) (connected, *step) {
	ref := obj.Spec.DatabaseAPIRef.Name
	api := &dbrestv1.DatabaseAPI{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref}, api); err != nil {
		if apierrors.IsNotFound(err) {
			return connected{}, &step{phase: conditions.Progressing, reason: dbrestv1.ReasonDatabaseAPINotReady,
				message: fmt.Sprintf("DatabaseAPI %q not found in namespace %q; create it", ref, obj.Namespace)}
		}
		return connected{}, &step{phase: conditions.Progressing, reason: dbrestv1.ReasonDatabaseAPINotReady,
			message: fmt.Sprintf("reading DatabaseAPI %q: %v", ref, err), retry: true}
	}
	if ready := meta.FindStatusCondition(api.Status.Conditions, dbrestv1.ReadyCondition); ready != nil &&
		ready.Status != "True" && ready.ObservedGeneration == api.Generation && blocksDeployments(ready.Reason) {
		reason := dbrestv1.ReasonDatabaseAPINotReady
		if ready.Reason == dbrestv1.ReasonCredentialsNotFound {
			reason = dbrestv1.ReasonCredentialsNotFound
		}
		msg := fmt.Sprintf("DatabaseAPI %q is not ready (%s): %s", ref, ready.Reason, ready.Message)
		return connected{}, &step{phase: conditions.Stalled, reason: reason, message: msg,
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
			return connected{}, &step{phase: conditions.Stalled, reason: reason, message: msg,
				event: &event{warning: true, reason: reason, message: msg}}
		}
		return connected{}, &step{phase: conditions.Progressing, reason: reason, message: err.Error(), retry: true}
	}
	return connected{client: c, key: key}, nil
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

func (r *DeploymentReconciler) readyStep(obj *dbrestv1.Deployment) step {
	return step{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed,
		message: fmt.Sprintf("application %q is deployed and active on the server", obj.Spec.Application.Name),
		requeue: max(r.untilResync(obj), time.Second)}
}

// stalledAsBefore keeps the terminal condition that was set when the
// failure was seen.
func (r *DeploymentReconciler) stalledAsBefore(obj *dbrestv1.Deployment) step {
	s := step{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed,
		message: "the last attempt with this spec failed; change the spec to try again"}
	if c := meta.FindStatusCondition(obj.Status.Conditions, dbrestv1.StalledCondition); c != nil && c.Status == "True" {
		s.reason, s.message = c.Reason, c.Message
	}
	return s
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

func (r *DeploymentReconciler) resyncDue(obj *dbrestv1.Deployment) bool {
	return r.untilResync(obj) <= 0
}

// untilResync is the time left before the next drift check.
func (r *DeploymentReconciler) untilResync(obj *dbrestv1.Deployment) time.Duration {
	last := obj.Status.LastSyncedAt
	if last == nil {
		return 0
	}
	return time.Until(last.Add(r.resyncInterval(obj)))
}

func (r *DeploymentReconciler) maxPoll() time.Duration {
	if r.Options.MaxPollInterval > 0 {
		return r.Options.MaxPollInterval
	}
	return time.Minute
}

func pollInterval(obj *dbrestv1.Deployment) time.Duration {
	if obj.Spec.PollInterval != nil && obj.Spec.PollInterval.Duration > 0 {
		return obj.Spec.PollInterval.Duration
	}
	return 5 * time.Second
}
