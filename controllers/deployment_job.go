package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// pollJob reads the job in status once. It returns settled=true when the
// job is over and the caller may take the next step in the same
// reconcile; otherwise the step says when to poll again.
func (r *DeploymentReconciler) pollJob(ctx context.Context, obj *dbrestv1.Deployment, conn connected) (step, bool) {
	job := obj.Status.Job
	verb := strings.ToLower(string(job.Operation))
	js, err := conn.client.GetJob(ctx, job.URL)
	job.LastPolledAt = now()
	job.Polls++
	var notFound *restapi.NotFoundError
	switch {
	case errors.As(err, &notFound):
		// The server forgot the job before we read its outcome: the
		// application's state settles it, so force a read.
		job.Status = dbrestv1.JobStatusExpired
		r.observeJob(job)
		obj.Status.LastSyncedAt = nil
		obj.Status.LastHTTPStatus = 404
		return step{}, true
	case err != nil:
		obj.Status.LastHTTPStatus = int32(restapi.StatusCode(err))
		s := errorStep(fmt.Sprintf("polling %s job %s", verb, job.URL), err)
		if s.phase == conditions.Stalled && s.requeue == 0 {
			s.requeue = r.maxPoll() // the job is still ours to follow
		}
		return s, false
	}
	obj.Status.LastHTTPStatus = int32(js.StatusCode)
	obj.Status.LastError = ""
	r.retries.reset(obj.UID)
	switch {
	case js.Job.Failed():
		job.Status = dbrestv1.JobStatusFailed
		r.observeJob(job)
		msg := fmt.Sprintf("%s job %s failed: %s", verb, job.URL, jobErrors(&js.Job))
		if job.Operation == dbrestv1.JobOperationUndeploy {
			return step{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, message: msg + "; the undeploy will be retried",
				requeue: r.maxPoll(), event: &event{warning: true, reason: eventJobFailed, message: msg}}, false
		}
		obj.Status.ApplicationState = restapi.StateFailed
		obj.Status.LastFailedFingerprint = failureKey(job.Fingerprint, conn.key)
		s := step{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, message: msg + "; fix the spec to redeploy",
			event: &event{warning: true, reason: eventJobFailed, message: msg}}
		return s, job.Fingerprint != fingerprint(&obj.Spec)
	case js.Job.Done():
		job.Status = dbrestv1.JobStatusCompleted
		r.observeJob(job)
		obj.Status.LastSyncedAt = now()
		ev := &event{reason: eventJobCompleted, message: fmt.Sprintf("%s job %s completed in %s",
			verb, job.URL, time.Since(job.StartedAt.Time).Round(time.Second))}
		if job.Operation == dbrestv1.JobOperationUndeploy {
			obj.Status.ApplicationState = ""
			return step{event: ev}, true
		}
		obj.Status.ApplicationState = restapi.StateActive
		obj.Status.LastAppliedFingerprint = job.Fingerprint
		obj.Status.LastFailedFingerprint = ""
		return step{event: ev}, true
	}
	job.Status = dbrestv1.JobStatusInProgress
	delay := pollDelay(pollInterval(obj), r.maxPoll(), js.RetryAfter, job.Polls)
	if timeout := jobTimeout(obj); time.Since(job.StartedAt.Time) > timeout {
		msg := fmt.Sprintf("%s job %s is still in progress after %s (spec.timeout %s); still polling it", verb, job.URL,
			time.Since(job.StartedAt.Time).Round(time.Second), timeout)
		s := step{phase: conditions.Stalled, reason: dbrestv1.ReasonJobTimedOut, message: msg, requeue: max(delay, r.maxPoll())}
		if conditions.Reason(obj.Status.Conditions) != dbrestv1.ReasonJobTimedOut {
			s.event = &event{warning: true, reason: eventJobTimedOut, message: msg}
		}
		return s, false
	}
	return step{phase: conditions.Progressing, reason: operationReason(job.Operation),
		message: fmt.Sprintf("%s of %q in progress: job %s", verb, obj.Spec.Application.Name, job.URL),
		requeue: delay}, false
}

func jobTimeout(obj *dbrestv1.Deployment) time.Duration {
	if obj.Spec.Timeout != nil && obj.Spec.Timeout.Duration > 0 {
		return obj.Spec.Timeout.Duration
	}
	return 30 * time.Minute
}

func (r *DeploymentReconciler) observeJob(job *dbrestv1.JobRecord) {
	if r.Jobs != nil {
		r.Jobs.ObserveJob(job.Operation, job.Status, time.Since(job.StartedAt.Time))
	}
}
