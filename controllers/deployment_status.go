package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// outcome is what a reconcile ends with: the kstatus phase with its reason
// and message, when to come back, and the event the outcome deserves.
// Conditions are computed from it and nothing else.
type outcome struct {
	phase   conditions.Phase
	reason  string
	message string
	// requeue is when to reconcile again; zero waits for a watch event.
	requeue time.Duration
	// retry marks a retryable failure: the requeue grows with backoff.
	retry bool
	// retryAfter is the server's Retry-After, honoured by the backoff.
	retryAfter time.Duration
	// event, when set, is recorded once for this outcome.
	event *event
	// eventPerMessage records the event again whenever the message
	// changes, not only when the reason does (a drift that moves).
	eventPerMessage bool
	// keep leaves the conditions as they are: nothing new was learnt.
	keep bool
	// hold leaves the whole status as it is, observedGeneration included:
	// the reconcile could not look (its DatabaseAPI's breaker refused), so
	// a new generation is not observed yet.
	hold bool
	// behind puts the requeue behind other work in the queue: the
	// Deployment waits on a refusing or slow server, and the Deployments
	// of healthy servers go first.
	behind bool
}

// event is a Kubernetes event to record about the Deployment.
type event struct {
	warning bool
	reason  string
	message string
}

// Event reasons. They name transitions, so each is recorded once per
// transition, never on every poll. A call that goes well is one Normal
// event when it ends (Deployed, Redeployed, Undeployed, with how long it
// took): Events are writes to the kube-apiserver, and an "accepted" event
// before it would say nothing that the Reconciling condition does not.
// The Accepted reasons are Warnings, for an accepted call whose job link
// named a foreign origin.
const (
	eventDeployAccepted   = "DeployAccepted"
	eventRedeployAccepted = "RedeployAccepted"
	eventUndeployAccepted = "UndeployAccepted"
	eventDeployed         = "Deployed"
	eventRedeployed       = "Redeployed"
	eventJobFailed        = "JobFailed"
	eventJobTimedOut      = "JobTimedOut"
	eventDriftDetected    = "DriftDetected"
	eventSpecNotApplied   = "SpecNotApplied"
	eventOutcomeUnknown   = "OutcomeUnknown"
	eventJobFound         = "JobFound"
	eventUndeployed       = "Undeployed"
	eventOrphaned         = "Orphaned"
	eventRequestFailed    = "RequestFailed"
	eventAdopted          = "Adopted"
	eventDrifted          = "Drifted"
)

// Slow rechecks for failures that need a change from the user but may
// also heal on the server's side (credentials fixed there, a proxy
// reconfigured). They are far apart, so they never make a hot loop.
const (
	credentialsRecheck = 5 * time.Minute
	protocolRecheck    = 15 * time.Minute
)

// errorClass is what the operator makes of a REST error.
type errorClass struct {
	reason string
	// terminal: retrying cannot help until something changes.
	terminal bool
	// recheck is the slow retry of a terminal class that may also heal
	// on the server's side (0: wait for a change).
	recheck time.Duration
	// hint tells the user what to do.
	hint string
}

// classify maps a REST error to its class. The classes come from the
// error types (errors.As), never from the text.
func classify(err error) errorClass {
	var (
		invalid   *restapi.InvalidRequestError
		unauth    *restapi.UnauthorizedError
		forbidden *restapi.ForbiddenError
		notFound  *restapi.NotFoundError
		mismatch  *restapi.ProtocolMismatchError
		throttled *restapi.ThrottledError
		server    *restapi.ServerError
		unavail   *restapi.UnavailableError
		unexpect  *restapi.UnexpectedStatusError
		transport *restapi.TransportError
		protocol  *restapi.ProtocolError
		origin    *restapi.OriginError
	)
	switch {
	case errors.As(err, &invalid):
		return errorClass{reason: dbrestv1.ReasonInvalidSpec, terminal: true, hint: "fix spec.application"}
	case errors.As(err, &unauth):
		return errorClass{reason: dbrestv1.ReasonUnauthorized, terminal: true, recheck: credentialsRecheck,
			hint: "fix the credentials Secret of the DatabaseAPI"}
	case errors.As(err, &forbidden):
		return errorClass{reason: dbrestv1.ReasonForbidden, terminal: true, recheck: credentialsRecheck,
			hint: "give the DatabaseAPI's user the rights it needs"}
	case errors.As(err, &notFound):
		return errorClass{reason: dbrestv1.ReasonNotFound, terminal: true, recheck: protocolRecheck,
			hint: "check the DatabaseAPI's url and paths"}
	case errors.As(err, &mismatch), errors.As(err, &protocol), errors.As(err, &origin):
		return errorClass{reason: dbrestv1.ReasonProtocolMismatch, terminal: true, recheck: protocolRecheck,
			hint: "check that the DatabaseAPI points at a server that speaks this protocol"}
	case errors.As(err, &throttled):
		return errorClass{reason: dbrestv1.ReasonThrottled}
	case errors.As(err, &server):
		return errorClass{reason: dbrestv1.ReasonServerError}
	case errors.As(err, &unavail):
		return errorClass{reason: dbrestv1.ReasonServiceUnavailable}
	case errors.As(err, &unexpect):
		if unexpect.Retryable() {
			return errorClass{reason: dbrestv1.ReasonServerError}
		}
		return errorClass{reason: dbrestv1.ReasonUnexpectedStatus, terminal: true, recheck: protocolRecheck,
			hint: "check the DatabaseAPI's url: the server answered a status the protocol does not define"}
	case errors.As(err, &transport) && transport.TLS:
		return errorClass{reason: dbrestv1.ReasonTLSError, terminal: true, recheck: protocolRecheck,
			hint: "check the DatabaseAPI's caBundle"}
	default:
		return errorClass{reason: dbrestv1.ReasonUnreachable}
	}
}

// errorOutcome turns a failed call into an outcome: Progressing with
// backoff for a retryable class, Stalled with the class's slow recheck
// for a terminal one.
func errorOutcome(op string, err error) outcome {
	c := classify(err)
	msg := fmt.Sprintf("%s failed: %v", op, err)
	if !c.terminal {
		return outcome{phase: conditions.Progressing, reason: c.reason, message: msg, retry: true, retryAfter: restapi.RetryAfter(err)}
	}
	return outcome{phase: conditions.Stalled, reason: c.reason, message: msg + "; " + c.hint, requeue: c.recheck,
		event: &event{warning: true, reason: eventRequestFailed, message: msg}}
}

// outcomeUnknown says whether a mutating call that returned err may still
// have been carried out by the server. Only a 4xx, or a request that
// surely never left, is a refusal: a 5xx may come from a proxy that gave
// up while the server went on, and a 2xx whose body could not be used
// (no job link, a link to another origin) was accepted.
func outcomeUnknown(err error) bool {
	var transport *restapi.TransportError
	if errors.As(err, &transport) {
		return !transport.NotSent
	}
	code := restapi.StatusCode(err)
	return code >= 500 || (code >= 200 && code < 300)
}

// fingerprint identifies an application as the server should run it.
// Targets are a set, so they are sorted; absent and empty properties are
// the same. The server's copy (serverFingerprint) is computed the same
// way, so the two compare.
func fingerprint(app *dbrestv1.ApplicationSpec) string {
	return hashApplication(app.Name, app.DeploymentPath, app.Targets, app.PlanPath, app.Version, app.Properties)
}

// serverFingerprint is fingerprint of the application the server shows.
func serverFingerprint(app *restapi.Application) string {
	return hashApplication(app.Name, app.DeploymentPath, app.Targets, app.PlanPath, app.Version, app.Properties)
}

func hashApplication(name, path string, targets []string, plan, version string, props map[string]string) string {
	if props == nil {
		props = map[string]string{}
	}
	b, _ := json.Marshal(struct {
		Name       string            `json:"name"`
		Path       string            `json:"deploymentPath"`
		Targets    []string          `json:"targets"`
		Plan       string            `json:"planPath"`
		Version    string            `json:"version"`
		Properties map[string]string `json:"properties"`
	}{name, path, slices.Sorted(slices.Values(targets)), plan, version, props})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// failureKey ties a terminal failure to the spec and to the connection it
// was seen with, so that a change of either (spec, DatabaseAPI, Secret)
// allows one more attempt and nothing else does.
func failureKey(fp, connKey string) string { return fp + "@" + connKey }

func detached(spec *dbrestv1.DeploymentSpec) bool { return spec.Detached == nil || *spec.Detached }

// differences lists the fields where the server's application differs
// from the spec. Every field is compared, empty ones included: a server
// that keeps a plan the spec no longer has does not run the spec.
func differences(app *restapi.Application, want *dbrestv1.ApplicationSpec) []string {
	var fields []string
	if app.DeploymentPath != want.DeploymentPath {
		fields = append(fields, "deploymentPath")
	}
	if !sameSet(app.Targets, want.Targets) {
		fields = append(fields, "targets")
	}
	if app.PlanPath != want.PlanPath {
		fields = append(fields, "planPath")
	}
	if app.Version != want.Version {
		fields = append(fields, "version")
	}
	// maps.Equal holds nil and empty as equal: both mean no properties.
	if !maps.Equal(app.Properties, want.Properties) {
		fields = append(fields, "properties")
	}
	return fields
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}

// describeDifferences names each differing field with both values, for a
// condition message.
func describeDifferences(app *restapi.Application, want *dbrestv1.ApplicationSpec, fields []string) string {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		have, wanted := fieldValues(app, want, f)
		parts = append(parts, fmt.Sprintf("%s: server has %s, spec says %s", f, show(have), show(wanted)))
	}
	return strings.Join(parts, "; ")
}

// applicationFields are the fields compared, in the order they are shown.
var applicationFields = []string{"deploymentPath", "targets", "planPath", "version", "properties"}

// fieldValues returns the server's and the spec's value of one field; a
// nil app (absent from the server) has none.
func fieldValues(app *restapi.Application, want *dbrestv1.ApplicationSpec, field string) (have, wanted any) {
	if app == nil {
		app = &restapi.Application{}
	}
	switch field {
	case "deploymentPath":
		return app.DeploymentPath, want.DeploymentPath
	case "targets":
		return app.Targets, want.Targets
	case "planPath":
		return app.PlanPath, want.PlanPath
	case "version":
		return app.Version, want.Version
	default:
		return app.Properties, want.Properties
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return `""`
	}
	const maxShown = 200
	if len(b) > maxShown {
		return string(b[:maxShown]) + "…"
	}
	return string(b)
}

// applicationSpec converts the API's application to the client's body.
func applicationSpec(a *dbrestv1.ApplicationSpec) restapi.ApplicationSpec {
	return restapi.ApplicationSpec{
		Name: a.Name, DeploymentPath: a.DeploymentPath, Targets: a.Targets,
		PlanPath: a.PlanPath, Version: a.Version, Properties: a.Properties,
	}
}

// jobErrors summarises a failed job's target errors for a condition message.
func jobErrors(j *restapi.Job) string {
	msgs := j.ErrorMessages()
	if len(msgs) == 0 {
		return "the server gave no reason"
	}
	return strings.Join(msgs, "; ")
}

// operationReason names the reason of a call in progress by its operation.
func operationReason(op dbrestv1.JobOperation) string {
	switch op {
	case dbrestv1.JobOperationRedeploy:
		return dbrestv1.ReasonRedeploying
	case dbrestv1.JobOperationUndeploy:
		return dbrestv1.ReasonUndeploying
	default:
		return dbrestv1.ReasonDeploying
	}
}

// acceptedEvent names the event of an accepted call by its operation.
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

// doneEvent names the event of a finished call by its operation.
func doneEvent(op dbrestv1.JobOperation) string {
	switch op {
	case dbrestv1.JobOperationRedeploy:
		return eventRedeployed
	case dbrestv1.JobOperationUndeploy:
		return eventUndeployed
	default:
		return eventDeployed
	}
}

// serverOperation is the job operation a server names for op.
func serverOperation(op dbrestv1.JobOperation) string {
	switch op {
	case dbrestv1.JobOperationRedeploy:
		return "redeploy"
	case dbrestv1.JobOperationUndeploy:
		return "remove"
	default:
		return "deploy"
	}
}

// pollDelay is when to read a job again: the server's Retry-After when it
// sent one, else the poll interval while the job is young, then a third of
// the time it has run, up to maxPoll, so a long job costs a few reads, not
// hundreds. It depends on the clock only, not on a count of polls, so a
// poll that finds the job still running changes nothing in status and
// writes nothing.
func pollDelay(interval, maxPoll, retryAfter, ran time.Duration) time.Duration {
	ceiling := max(maxPoll, interval)
	if retryAfter > 0 {
		return min(retryAfter, ceiling)
	}
	const steadyPolls = 6
	if ran < steadyPolls*interval {
		return interval
	}
	return min(max(ran/3, interval), ceiling)
}
