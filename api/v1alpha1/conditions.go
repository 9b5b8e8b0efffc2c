package v1alpha1

// Condition types. Both kinds follow the kstatus convention, so kubectl wait,
// Flux health checks and Argo CD read them without custom code.
const (
	// ReadyCondition is True when the observed state matches the spec.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the operator is working towards the spec.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when the operator cannot make progress
	// without a change of the spec, the DatabaseAPI or its Secret.
	StalledCondition = "Stalled"
)

// Reasons of a Deployment's conditions, one per outcome. docs/conditions.md
// says, for each, what triggers it, what the operator does next and what
// the user should do.
const (
	// ReasonDeployed: the application is active on the server with the current spec.
	ReasonDeployed = "Deployed"
	// ReasonDeploying: a deploy was accepted and its job is being polled.
	ReasonDeploying = "Deploying"
	// ReasonRedeploying: a redeploy (spec change or drift repair) is under way.
	ReasonRedeploying = "Redeploying"
	// ReasonUndeploying: the Deployment is being deleted and the undeploy is under way.
	ReasonUndeploying = "Undeploying"
	// ReasonConflict: another Deployment, created earlier, manages the same
	// application on the same server (its DatabaseAPI's url, normalised,
	// in any namespace); this one makes no calls.
	ReasonConflict = "Conflict"
	// ReasonAdoptionRefused: the application existed on the server before
	// this Deployment's first call and spec.adoption is Refuse; no
	// mutating call is made. The message shows the server's fields.
	ReasonAdoptionRefused = "AdoptionRefused"
	// ReasonAdoptionMismatch: the application existed on the server,
	// spec.adoption is AdoptIfMatching and the server does not run exactly
	// the spec; the message names the fields.
	ReasonAdoptionMismatch = "AdoptionMismatch"
	// ReasonDrifted: spec.managementPolicy is ObserveOnly and the server
	// does not run the spec (the message names each field with both
	// values, or says the application is absent); nothing is sent.
	ReasonDrifted = "Drifted"
	// ReasonObserveOnly names what blocks a plan (status.plan.blockedBy)
	// of an ObserveOnly Deployment.
	ReasonObserveOnly = "ObserveOnly"
	// ReasonJobFailed: the server's job failed; the message has its target errors.
	ReasonJobFailed = "JobFailed"
	// ReasonSpecNotApplied: the server finished the job (or answered
	// synchronously) but the application it shows differs from the spec;
	// the message names the fields.
	ReasonSpecNotApplied = "SpecNotApplied"
	// ReasonJobTimedOut: the job ran longer than spec.timeout.
	ReasonJobTimedOut = "JobTimedOut"
	// ReasonInvalidSpec: the server rejected the request (HTTP 400).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUnauthorized: the server rejected the credentials (HTTP 401).
	ReasonUnauthorized = "Unauthorized"
	// ReasonForbidden: the credentials may not do this (HTTP 403).
	ReasonForbidden = "Forbidden"
	// ReasonNotFound: the base URL or a path template is wrong (HTTP 404 on a collection).
	ReasonNotFound = "NotFound"
	// ReasonProtocolMismatch: the server does not speak the expected protocol
	// (HTTP 405, 406, 415, or an answer that cannot be used).
	ReasonProtocolMismatch = "ProtocolMismatch"
	// ReasonThrottled: the server asked to slow down (HTTP 429).
	ReasonThrottled = "Throttled"
	// ReasonServerError: the server failed (HTTP 500 or another 5xx).
	ReasonServerError = "ServerError"
	// ReasonServiceUnavailable: the server is overloaded or down (HTTP 503).
	ReasonServiceUnavailable = "ServiceUnavailable"
	// ReasonUnreachable: no answer (connection refused, reset, time-out).
	ReasonUnreachable = "Unreachable"
	// ReasonTLSError: the server's certificate does not verify.
	ReasonTLSError = "TLSError"
	// ReasonUnexpectedStatus: the server answered a status code the protocol does not define.
	ReasonUnexpectedStatus = "UnexpectedStatus"
	// ReasonDatabaseAPINotReady: the referenced DatabaseAPI is missing or not Ready.
	ReasonDatabaseAPINotReady = "DatabaseAPINotReady"
	// ReasonCredentialsNotFound: the credentials Secret (or its keys) is missing.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonSuspended: spec.suspend is true; the operator makes no calls.
	ReasonSuspended = "Suspended"
	// ReasonCircuitOpen: the DatabaseAPI's server is in trouble (5xx, 429,
	// no answer), so no Deployment calls it; the operator probes it and
	// resumes when it answers. On a DatabaseAPI and on its Deployments.
	ReasonCircuitOpen = "CircuitOpen"
)

// Reasons of a DatabaseAPI's Ready condition, besides the shared ones above
// (Unauthorized, Forbidden, NotFound, ProtocolMismatch, ServerError,
// ServiceUnavailable, Unreachable, TLSError, CredentialsNotFound).
const (
	// ReasonReachable: the probe succeeded with the configured credentials.
	ReasonReachable = "Reachable"
	// ReasonInvalidConfig: the spec or a referenced CA cannot be used (for
	// example a CA bundle that is not PEM).
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonCANotFound: the referenced CA ConfigMap or Secret (or its key) is missing.
	ReasonCANotFound = "CANotFound"
)
