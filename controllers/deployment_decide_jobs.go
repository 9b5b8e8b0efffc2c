package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// follow polls the job in status and acts on its state.
func (d *decider) follow() decision {
	o, st, j := d.o, d.st, d.st.Job
	if o.poll == nil {
		return d.next(actPollJob)
	}
	verb := strings.ToLower(string(j.Operation))
	var notFound *restapi.NotFoundError
	var origin *restapi.OriginError
	switch err := o.poll.err; {
	case errors.As(err, &notFound):
		// The server forgot the job before we read its outcome: the
		// application settles it.
		j.Status = dbrestv1.JobStatusExpired
		st.LastHTTPStatus = 404
		return d.current()
	case errors.As(err, &origin):
		// The DatabaseAPI's url changed since the job was recorded: the
		// old URL would never get the credentials again. The job is
		// found anew in the job list of the new origin.
		j.URL, j.Status = "", dbrestv1.JobStatusAccepted
		return d.current()
	case err != nil:
		st.LastHTTPStatus = int32(restapi.StatusCode(err))
		out := errorOutcome(fmt.Sprintf("polling %s job %s", verb, j.URL), err)
		st.LastError = out.message
		if out.phase == conditions.Stalled && out.requeue == 0 {
			out.requeue = o.maxPoll // the job is still ours to follow
		}
		return d.finish(out)
	}
	return d.jobSeen(o.poll.job)
}

// jobSeen acts on the job's state as the server showed it, in a poll or
// in the body of its 202.
func (d *decider) jobSeen(js *restapi.JobStatus) decision {
	o, st, j := d.o, d.st, d.st.Job
	verb := strings.ToLower(string(j.Operation))
	switch {
	case js.Job.Failed():
		st.LastHTTPStatus, st.LastError = int32(js.StatusCode), ""
		return d.jobFailed(js.Job)
	case js.Job.Done():
		st.LastHTTPStatus, st.LastError = int32(js.StatusCode), ""
		j.Status = dbrestv1.JobStatusCompleted
		ev := &event{reason: doneEvent(j.Operation), message: fmt.Sprintf("%s of %q completed in %s (job %s)",
			verb, o.spec.Application.Name, o.now.Sub(j.StartedAt.Time).Round(time.Second), j.URL)}
		if j.Operation == dbrestv1.JobOperationUndeploy && o.deleting {
			return d.release(*ev)
		}
		// Read the application back before anything is called Ready.
		next := d.current()
		if next.event == nil {
			next.event = ev
		}
		return next
	}
	// A job still running changes nothing in status (the HTTP status of
	// the 202 stays): such a poll writes nothing to the kube-apiserver.
	if st.LastError != "" {
		st.LastHTTPStatus, st.LastError = int32(js.StatusCode), ""
	}
	ran := o.now.Sub(j.StartedAt.Time)
	delay := pollDelay(pollInterval(o.spec), o.maxPoll, js.RetryAfter, ran)
	if timeout := jobTimeout(o.spec); ran > timeout {
		msg := fmt.Sprintf("%s job %s is still in progress after %s (spec.timeout %s); still polling it", verb, j.URL,
			ran.Round(time.Second), timeout)
		return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonJobTimedOut, message: msg,
			requeue: max(delay, o.maxPoll), event: &event{warning: true, reason: eventJobTimedOut, message: msg}})
	}
	return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation),
		message: fmt.Sprintf("%s of %q in progress: job %s", verb, o.spec.Application.Name, j.URL), requeue: delay})
}

// jobFailed records the failure of the job in status.
func (d *decider) jobFailed(job restapi.Job) decision {
	o, j := d.o, d.st.Job
	j.Status = dbrestv1.JobStatusFailed
	msg := fmt.Sprintf("%s job %s failed: %s", strings.ToLower(string(j.Operation)), j.URL, jobErrors(&job))
	ev := &event{warning: true, reason: eventJobFailed, message: msg}
	switch {
	case j.Operation == dbrestv1.JobOperationUndeploy:
		return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed,
			message: msg + "; the undeploy will be retried", requeue: o.maxPoll, event: ev})
	case o.deleting || j.Fingerprint != d.fp:
		// Deleting, or the spec changed while the job ran: the failure
		// is history, and the next step is taken now.
		next := d.current()
		if next.event == nil {
			next.event = ev
		}
		return next
	}
	d.setState(restapi.StateFailed)
	d.recordFailure(0)
	return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed,
		message: msg + "; fix the spec to redeploy", event: ev})
}

// settle finds out what became of a call whose outcome is unknown: a
// crash between the intent and the answer, a lost answer, a time-out or a
// 5xx. The server may still be acting on it, so nothing happens before
// the DatabaseAPI's request timeout has passed since it was sent; then the
// server's job for it is looked for, and only when there is none does the
// application decide.
func (d *decider) settle() decision {
	o, st, j := d.o, d.st, d.st.Job
	name := o.spec.Application.Name
	verb := strings.ToLower(string(j.Operation))
	accepted := j.Status == dbrestv1.JobStatusAccepted
	// An accepted call's job is listed at once; a pending one may still
	// be under way in the server, behind a proxy that gave up. The call
	// left by o.sentBy (see sendTracker), and no sooner than StartedAt,
	// which is kept to the second: the server may act on it until the
	// request timeout after that.
	sent := j.StartedAt.Add(time.Second)
	if o.sentBy.After(sent) {
		sent = o.sentBy
	}
	if due := sent.Add(o.requestTimeout); !accepted && o.now.Before(due) {
		return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation), requeue: due.Sub(o.now),
			message: fmt.Sprintf("the outcome of the %s of %q begun at %s is unknown; the operator looks for its job once the "+
				"DatabaseAPI's request timeout has passed since the call left, at %s, before sending anything else",
				verb, name, j.StartedAt.UTC().Format(time.RFC3339), due.UTC().Truncate(time.Second).Format(time.RFC3339))})
	}
	if o.jobs == nil {
		return d.next(actListJobs)
	}
	if err := o.jobs.err; err != nil {
		st.LastHTTPStatus = int32(restapi.StatusCode(err))
		out := errorOutcome(fmt.Sprintf("listing jobs to settle the %s of %q whose outcome is unknown", verb, name), err)
		st.LastError = out.message
		return d.finish(out)
	}
	want := serverOperation(j.Operation)
	for _, job := range o.jobs.jobs {
		if job.DeploymentName != name || job.Done() {
			continue
		}
		if job.Operation == want && (job.BeginTime == 0 || job.BeginTime >= j.StartedAt.UnixMilli()) {
			j.URL, j.Status, j.Found = job.url, dbrestv1.JobStatusInProgress, true
			msg := fmt.Sprintf("found job %s of the %s of %q whose answer was lost; polling it", job.url, verb, name)
			return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation), message: msg,
				requeue: pollInterval(o.spec), event: &event{reason: eventJobFound, message: msg}})
		}
		// Someone else's job: a call now would run over it.
		return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation), requeue: pollInterval(o.spec),
			message: fmt.Sprintf("job %s (%s) runs on the server for %q; waiting for it before settling the %s whose outcome is unknown",
				job.url, job.Operation, name, verb)})
	}
	for _, job := range o.jobs.jobs {
		if job.DeploymentName == name && job.Operation == want && job.BeginTime >= j.StartedAt.UnixMilli() {
			j.URL = job.url
			if job.Failed() {
				return d.jobFailed(job.Job)
			}
			// It completed: the application decides, as when no job is
			// listed, since a job matched by time may not be this call's.
			st.Job = nil
			return d.current()
		}
	}
	if accepted {
		return d.acceptedWithoutJob()
	}
	// No job: the call never happened, or finished with no job to show.
	// The application decides, as in any reconcile: if it runs the spec
	// nothing is sent, otherwise the call is sent again.
	st.Job = nil
	return d.current()
}

// acceptedWithoutJob settles a call the server accepted, when its job list
// shows no job for it: the application must show the call's effect, or
// the server does not keep the contract, and sending the call again would
// only repeat the same answer.
func (d *decider) acceptedWithoutJob() decision {
	o, st, j := d.o, d.st, d.st.Job
	if o.app == nil {
		return d.next(actReadApp)
	}
	var notFound *restapi.NotFoundError
	absent := errors.As(o.app.err, &notFound)
	if o.app.err != nil && !absent {
		st.LastHTTPStatus = int32(restapi.StatusCode(o.app.err))
		return d.finish(errorOutcome("reading application "+o.spec.Application.Name, o.app.err))
	}
	// The call shows when an undeployed application is gone, or a
	// deployed one runs the fields the call sent.
	visible := absent
	if j.Operation != dbrestv1.JobOperationUndeploy {
		visible = !absent && serverFingerprint(o.app.app) == j.Fingerprint
	}
	if visible {
		st.Job = nil
		return d.current()
	}
	verb := strings.ToLower(string(j.Operation))
	if j.Operation != dbrestv1.JobOperationDeploy && o.now.Sub(j.StartedAt.Time) < jobTimeout(o.spec) {
		// A redeploy (on an in-place server) or an undeploy shows only
		// when it is over: follow it through the application, bounded by
		// spec.timeout like any job. A deploy must show at once: an
		// application exists from the moment its deploy is accepted.
		return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation), requeue: pollInterval(o.spec),
			message: fmt.Sprintf("the server accepted the %s of %q but lists no job for it; following it through the "+
				"application until it shows the change (at most spec.timeout, %s)", verb, o.spec.Application.Name, jobTimeout(o.spec))})
	}
	st.Job = nil
	msg := fmt.Sprintf("the server accepted the %s of %q but lists no job for it, and the application does not show it: "+
		"the server does not keep the protocol (a 202 must name its job, or list it); retried when the DatabaseAPI changes "+
		"and every %s", verb, o.spec.Application.Name, protocolRecheck)
	if !o.deleting {
		d.recordFailure(protocolRecheck)
	}
	return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonProtocolMismatch, message: msg,
		requeue: protocolRecheck, event: &event{warning: true, reason: eventRequestFailed, message: msg}})
}

// deletion undeploys the application (deletionPolicy Delete) or leaves it
// (Orphan), then lets the object go. It runs even when the Deployment is
// suspended: deleting the object is an explicit request.
func (d *decider) deletion() decision {
	o := d.o
	name := o.spec.Application.Name
	switch {
	case !o.finalizer:
		return d.finish(outcome{keep: true})
	case o.owner != "":
		return d.release(event{reason: eventOrphaned, message: fmt.Sprintf(
			"application %q is managed by Deployment %s; released without undeploying", name, o.owner)})
	case d.observeOnly():
		return d.release(event{reason: eventOrphaned, message: fmt.Sprintf(
			"managementPolicy ObserveOnly: application %q left on the server", name)})
	case d.st.ClaimedAt == nil:
		// Nothing was ever deployed or adopted by this Deployment: what
		// the server runs under that name is someone else's.
		return d.release(event{reason: eventOrphaned, message: fmt.Sprintf(
			"this Deployment never deployed nor adopted application %q; released without any call", name)})
	case effectiveDeletionPolicy(o.spec, d.st) == dbrestv1.DeletionPolicyOrphan:
		msg := fmt.Sprintf("deletionPolicy Orphan: application %q left on the server", name)
		if o.spec.DeletionPolicy == "" {
			msg = fmt.Sprintf("application %q was adopted (status.adopted) and spec.deletionPolicy is unset, which leaves an "+
				"adopted application on the server; set deletionPolicy Delete to undeploy it", name)
		}
		return d.release(event{reason: eventOrphaned, message: msg})
	case o.blocked != nil && o.namespaceDeleting:
		// In a namespace being deleted the DatabaseAPI and its Secret are
		// going too and will not come back: waiting would block the
		// namespace forever.
		return d.release(event{warning: true, reason: eventOrphaned, message: fmt.Sprintf(
			"namespace is being deleted and the DatabaseAPI cannot be used (%s): application %q left on the server",
			o.blocked.message, name)})
	case o.blocked != nil:
		out := *o.blocked
		out.message += "; to delete this Deployment without undeploying, set spec.deletionPolicy to Orphan"
		return d.finish(out)
	}
	return d.current()
}

// undeploy reads the application and sends the undeploy, unless it is gone
// or a job we have no record of still runs on it.
func (d *decider) undeploy() decision {
	o, st := d.o, d.st
	name := o.spec.Application.Name
	if o.app == nil {
		return d.next(actReadApp)
	}
	var notFound *restapi.NotFoundError
	switch err := o.app.err; {
	case errors.As(err, &notFound):
		return d.release(event{reason: eventUndeployed, message: fmt.Sprintf("application %q is not on the server", name)})
	case err != nil:
		st.LastHTTPStatus = int32(restapi.StatusCode(err))
		out := errorOutcome("reading application "+name+" before undeploy", err)
		st.LastError = out.message
		return d.finish(out)
	case o.app.app.State == restapi.StateNew:
		d.setState(o.app.app.State)
		return d.waitStateNew("; it is undeployed when the job ends. To delete this Deployment without undeploying, set spec.deletionPolicy to Orphan")
	}
	d.setState(o.app.app.State)
	return d.send(dbrestv1.JobOperationUndeploy, nil)
}
