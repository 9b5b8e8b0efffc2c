package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// step is the outcome of one reconcile: the kstatus phase with its reason
// and message, when to come back, and the event the outcome deserves.
// Conditions are computed from it and nothing else.
type step struct {
	phase   conditions.Phase
	reason  string
	message string
	// requeue is when to reconcile again; zero waits for a watch event.
	requeue time.Duration
	// retry marks a retryable failure: the requeue grows with backoff.
	retry bool
	// retryAfter is the server's Retry-After, honoured by the backoff.
	retryAfter time.Duration
	// terminal marks a failure that retrying the same spec cannot fix:
	// it is recorded in status.lastFailedFingerprint and not tried again
	// before a change (or the slow recheck of its class).
	terminal bool
	// event, when set, is recorded once for this outcome.
	event *event
}

// event is a Kubernetes event to record about the Deployment.
type event struct {
	warning bool
	reason  string
	message string
}

// Event reasons. They name transitions, so each is recorded once per
// transition, never on every poll.
const (
	eventDeployAccepted   = "DeployAccepted"
	eventRedeployAccepted = "RedeployAccepted"
	eventUndeployAccepted = "UndeployAccepted"
	eventDeployed         = "Deployed"
	eventJobCompleted     = "JobCompleted"
	eventJobFailed        = "JobFailed"
	eventJobTimedOut      = "JobTimedOut"
	eventDriftDetected    = "DriftDetected"
	eventUndeployed       = "Undeployed"
	eventOrphaned         = "Orphaned"
	eventRequestFailed    = "RequestFailed"
)

// Slow requeues for outcomes that need a change from the user but may
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
	// recheck is the slow requeue of a terminal class that may also heal
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

// errorStep turns a failed call into the Deployment's step.
func errorStep(op string, err error) step {
	c := classify(err)
	msg := fmt.Sprintf("%s failed: %v", op, err)
	if !c.terminal {
		return step{phase: conditions.Progressing, reason: c.reason, message: msg, retry: true, retryAfter: restapi.RetryAfter(err)}
	}
	return step{phase: conditions.Stalled, reason: c.reason, message: msg + "; " + c.hint, requeue: c.recheck, terminal: true,
		event: &event{warning: true, reason: eventRequestFailed, message: msg}}
}

// recheckPeriod is how often a terminal failure with this reason is tried
// again without a change; 0 means only a change retries it.
func recheckPeriod(reason string) time.Duration {
	switch reason {
	case dbrestv1.ReasonUnauthorized, dbrestv1.ReasonForbidden:
		return credentialsRecheck
	case dbrestv1.ReasonNotFound, dbrestv1.ReasonProtocolMismatch, dbrestv1.ReasonUnexpectedStatus, dbrestv1.ReasonTLSError:
		return protocolRecheck
	}
	return 0
}

// fingerprint identifies what the server is asked to apply: the
// application and the detached setting. Targets are a set, so they are
// sorted first; a reordering is not a change.
func fingerprint(spec *dbrestv1.DeploymentSpec) string {
	app := spec.Application
	app.Targets = slices.Sorted(slices.Values(app.Targets))
	b, _ := json.Marshal(struct {
		App      dbrestv1.ApplicationSpec `json:"app"`
		Detached bool                     `json:"detached"`
	}{app, detached(spec)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// failureKey ties a terminal failure to the spec and to the connection it
// was seen with, so that a change of either (spec, DatabaseAPI, Secret)
// allows one more attempt and nothing else does.
func failureKey(fp, connKey string) string { return fp + "@" + connKey }

func detached(spec *dbrestv1.DeploymentSpec) bool { return spec.Detached == nil || *spec.Detached }

// drift lists the fields where the server's copy differs from the spec.
// A field the server does not report (empty) is not compared: servers may
// leave optional fields out, and that is not drift.
func drift(app *restapi.Application, want *dbrestv1.ApplicationSpec) []string {
	var fields []string
	if app.DeploymentPath != "" && app.DeploymentPath != want.DeploymentPath {
		fields = append(fields, "deploymentPath")
	}
	if len(app.Targets) > 0 && !sameSet(app.Targets, want.Targets) {
		fields = append(fields, "targets")
	}
	if app.PlanPath != "" && app.PlanPath != want.PlanPath {
		fields = append(fields, "planPath")
	}
	if app.Version != "" && app.Version != want.Version {
		fields = append(fields, "version")
	}
	if len(app.Properties) > 0 && !mapsEqual(app.Properties, want.Properties) {
		fields = append(fields, "properties")
	}
	return fields
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
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

// operationVerb names the reason of a job in progress by its operation.
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
