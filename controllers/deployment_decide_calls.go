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

// The mutating calls: the intent that precedes each, and what its answer
// means. Only a 4xx, or a request that never left, is a refusal.

// send records the intent of a mutating call; the reconciler writes it to
// status before the call leaves.
func (d *decider) send(op dbrestv1.JobOperation, ev *event) decision {
	if d.observeOnly() {
		// The one gate every mutating call passes: an ObserveOnly
		// Deployment reports the call instead of making it.
		return d.drifted(op)
	}
	if c := d.o.call; c != nil {
		if c.op == dbrestv1.JobOperationDeploy && op == dbrestv1.JobOperationDeploy && c.err != nil {
			// Refused, and the application is still absent: the refusal
			// was about the request.
			return d.failed("deploy of "+d.o.spec.Application.Name, c.err)
		}
		var notFound *restapi.NotFoundError
		vanished := c.op == dbrestv1.JobOperationRedeploy && errors.As(c.err, &notFound)
		switch {
		case vanished && op == dbrestv1.JobOperationRedeploy:
			// The application is there, yet its redeploy path answers
			// 404: a path template is wrong, and retrying would loop.
			return d.failed(fmt.Sprintf("redeploy of %s (the application exists, but its redeploy path answered 404)",
				d.o.spec.Application.Name), c.err)
		case !vanished:
			// One mutating call per reconcile: the next one starts afresh.
			d.st.Plan = d.callPlan(op, "")
			return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(op),
				message: fmt.Sprintf("%s of %q is next", strings.ToLower(string(op)), d.o.spec.Application.Name),
				requeue: time.Second, event: ev})
		}
		// The redeploy was refused because the application vanished
		// after it was read: nothing runs, so it is deployed at once.
	}
	rec := &dbrestv1.JobRecord{Operation: op, Status: dbrestv1.JobStatusPending, StartedAt: *d.now()}
	if op == dbrestv1.JobOperationDeploy && d.st.ClaimedAt == nil {
		// The claim travels with the intent: once the deploy may have
		// left, the application is this Deployment's.
		d.st.ClaimedAt = d.now()
	}
	d.st.Plan = nil
	if op != dbrestv1.JobOperationUndeploy {
		rec.Fingerprint = d.fp
		// The server is about to change: nothing is known to be applied
		// until the call is over and the application read back.
		d.st.LastAppliedFingerprint = ""
	}
	d.st.Job = rec
	if ev == nil {
		ev = d.pending
	}
	return decision{action: actSend, op: op, status: *d.st, event: ev}
}

// answered reads the answer to the call just sent.
func (d *decider) answered() decision {
	o, st, j := d.o, d.st, d.st.Job
	name := o.spec.Application.Name
	verb := strings.ToLower(string(j.Operation))
	if err := o.call.err; err != nil {
		st.LastHTTPStatus = int32(restapi.StatusCode(err))
		if code := restapi.StatusCode(err); code >= 200 && code < 300 {
			// Accepted, with no job link we may follow: its job is in
			// the server's list, on the DatabaseAPI's own origin.
			j.Status = dbrestv1.JobStatusAccepted
			msg := fmt.Sprintf("the server accepted the %s of %q (HTTP %d) but its answer names no job the operator may follow (%v); "+
				"looking for the job in the server's job list", verb, name, code, err)
			return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation), message: msg,
				requeue: pollInterval(o.spec), event: &event{warning: true, reason: eventOutcomeUnknown, message: msg}})
		}
		if outcomeUnknown(err) {
			// The intent stays pending: settle it before anything else.
			out := errorOutcome(verb+" of "+name, err)
			out.phase, out.retry = conditions.Progressing, false
			out.requeue = o.requestTimeout + time.Second
			out.message += fmt.Sprintf("; the outcome is unknown, so the operator looks for the server's job after the "+
				"DatabaseAPI's request timeout (%s) before sending anything else", o.requestTimeout)
			out.event = &event{warning: true, reason: eventOutcomeUnknown, message: out.message}
			st.LastError = out.message
			return d.finish(out)
		}
		st.Job = nil // refused: nothing runs on the server
		if j.Operation == dbrestv1.JobOperationDeploy && !st.Adopted {
			// Nothing was created: an application found later under this
			// name is someone else's.
			st.ClaimedAt = nil
		}
		var notFound *restapi.NotFoundError
		if errors.As(err, &notFound) {
			switch j.Operation {
			case dbrestv1.JobOperationUndeploy:
				return d.release(event{reason: eventUndeployed, message: fmt.Sprintf("application %q was already gone", name)})
			case dbrestv1.JobOperationRedeploy:
				// It vanished between the read and the redeploy, or the
				// redeploy path is wrong: a fresh read tells which.
				return d.current()
			}
		}
		var invalid *restapi.InvalidRequestError
		if j.Operation == dbrestv1.JobOperationDeploy && errors.As(err, &invalid) && !o.deleting {
			// A server answers 400 to the deploy of a name that is
			// already deployed: someone else may have deployed it since
			// the read. The application tells, and spec.adoption decides.
			return d.current()
		}
		if o.deleting {
			return d.finish(errorOutcome(verb+" of "+name, err))
		}
		return d.failed(verb+" of "+name, err)
	}
	res := o.call.res
	st.LastHTTPStatus, st.LastError = int32(res.StatusCode), ""
	if res.Outcome == restapi.OutcomeAccepted {
		j.URL, j.Status = res.JobURL, dbrestv1.JobStatusInProgress
		if res.Job != nil && res.Job.Done() {
			// The 202's body shows the job already over: act on it now
			// rather than one poll interval later.
			return d.jobSeen(&restapi.JobStatus{Job: *res.Job, StatusCode: res.StatusCode})
		}
		var ev *event
		if res.IgnoredOrigin != "" {
			ev = &event{warning: true, reason: acceptedEvent(j.Operation), message: fmt.Sprintf(
				"%s of %q accepted as job %s; the server's link named origin %s, which is never sent credentials, so the job "+
					"is polled at the same path on the DatabaseAPI's own origin", verb, name, res.JobURL, res.IgnoredOrigin)}
		}
		return d.finish(outcome{phase: conditions.Progressing, reason: operationReason(j.Operation),
			message: fmt.Sprintf("%s of %q accepted by the server; polling job %s", verb, name, res.JobURL),
			requeue: pollDelay(pollInterval(o.spec), o.maxPoll, res.RetryAfter, 0), event: ev})
	}
	j.Status = dbrestv1.JobStatusCompleted
	if res.ApplicationURL != "" {
		st.ApplicationURL = res.ApplicationURL
	}
	if j.Operation == dbrestv1.JobOperationUndeploy {
		return d.release(event{reason: eventUndeployed, message: fmt.Sprintf("application %q undeployed (HTTP %d)", name, res.StatusCode)})
	}
	// A synchronous answer: read the application back before Ready.
	next := d.current()
	next.event = &event{reason: doneEvent(j.Operation), message: fmt.Sprintf("%s of %q done in %s (HTTP %d)",
		verb, name, o.now.Sub(j.StartedAt.Time).Round(time.Second), res.StatusCode)}
	return next
}
