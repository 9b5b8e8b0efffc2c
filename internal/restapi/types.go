package restapi

import (
	"fmt"
	"time"
)

// Operation names one kind of call. It labels errors and Observer metrics, so
// the values are short and stable.
type Operation string

// The operations of the contract (PROTOCOL.md, "Requests"), plus the probe.
const (
	OpGetApplication   Operation = "getApp"
	OpListApplications Operation = "listApps"
	OpDeploy           Operation = "deploy"
	OpRedeploy         Operation = "redeploy"
	OpUndeploy         Operation = "undeploy"
	OpGetJob           Operation = "getJob"
	OpListJobs         Operation = "listJobs"
	// OpProbe is the readiness probe of an endpoint; it reads the
	// application list but is counted apart so metrics show real traffic.
	OpProbe Operation = "probe"
)

// Observer receives one call per HTTP request that was sent, with the status
// code (0 when no answer arrived) and the time until the body was read. It is
// the metrics hook; implementations must be safe for concurrent use and fast.
type Observer interface {
	ObserveRequest(op Operation, code int, d time.Duration)
}

// ApplicationSpec is the body of a deploy or redeploy. A deploy omits the
// empty optional fields; a redeploy sends every field, an empty one as ""
// or {}, because on a redeploy an absent field keeps the server's value and
// only an empty one clears it.
type ApplicationSpec struct {
	// Name identifies the application; required by every call.
	Name string `json:"name"`
	// DeploymentPath is the archive on the server; required by deploy.
	DeploymentPath string `json:"deploymentPath,omitempty"`
	// Targets are the servers or clusters; required by deploy.
	Targets []string `json:"targets,omitempty"`
	// PlanPath is the optional deployment plan.
	PlanPath string `json:"planPath,omitempty"`
	// Version is the optional application version.
	Version string `json:"version,omitempty"`
	// Properties are optional application properties.
	Properties map[string]string `json:"properties,omitempty"`
}

// Application is an application as the server reports it.
type Application struct {
	Name string `json:"name"`
	// Type is "application" on the default server.
	Type string `json:"type,omitempty"`
	// State is one of the State* constants.
	State          string            `json:"state,omitempty"`
	DeploymentPath string            `json:"deploymentPath,omitempty"`
	Targets        []string          `json:"targets,omitempty"`
	PlanPath       string            `json:"planPath,omitempty"`
	Version        string            `json:"version,omitempty"`
	Properties     map[string]string `json:"properties,omitempty"`
}

// Application states. An application exists from the moment its deploy is
// accepted, in StateNew while its job runs.
const (
	StateNew    = "STATE_NEW"
	StateActive = "STATE_ACTIVE"
	StateFailed = "STATE_FAILED"
)

// Job is a deployment job. Status is normalised to one of the Job* constants
// (a job with any other status is refused with a *ProtocolError, so a caller
// never polls a status it cannot interpret forever).
type Job struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Operation is "deploy", "redeploy" or "remove".
	Operation string `json:"operation,omitempty"`
	// DeploymentName is the application the job acts on.
	DeploymentName string `json:"deploymentName,omitempty"`
	// Status is one of the Job* constants (see the type comment).
	Status      string      `json:"status"`
	BeginTime   int64       `json:"beginTime,omitempty"` // epoch milliseconds
	EndTime     int64       `json:"endTime,omitempty"`   // epoch milliseconds, 0 while running
	Description string      `json:"description,omitempty"`
	Targets     []JobTarget `json:"targets,omitempty"`
}

// JobTarget is the state of a job on one target; a failed job lists its
// reasons in Errors.
type JobTarget struct {
	Name string `json:"name"`
	// Type is "cluster" or "server".
	Type string `json:"type,omitempty"`
	// Status is normalised like Job.Status when known, else kept as sent.
	Status string `json:"status,omitempty"`
	// Errors are the target's failure reasons, as sent.
	Errors []string `json:"errors,omitempty"`
}

// Job statuses.
const (
	JobInProgress = "in progress"
	JobCompleted  = "completed"
	JobFailed     = "failed"
)

// maxJobErrors caps ErrorMessages, because the result lands in a status
// condition whose size must stay small whatever the server sends.
const maxJobErrors = 10

// Done reports whether the job has finished, successfully or not.
func (j *Job) Done() bool {
	return j.Status == JobCompleted || j.Status == JobFailed
}

// Failed reports whether the job finished with a failure.
func (j *Job) Failed() bool {
	return j.Status == JobFailed
}

// ErrorMessages lists "target: error" for every target error, cleaned and
// capped like server messages. Beyond maxJobErrors entries the last one says
// how many were left out, because the result lands in a status condition.
func (j *Job) ErrorMessages() []string {
	var out []string
	total := 0
	for _, t := range j.Targets {
		for _, e := range t.Errors {
			total++
			if len(out) < maxJobErrors {
				out = append(out, targetError(t.Name, e))
			}
		}
	}
	if total > maxJobErrors {
		out = append(out[:maxJobErrors-1], fmt.Sprintf("and %d more errors", total-maxJobErrors+1))
	}
	return out
}

func targetError(target, msg string) string {
	msg = cleanText(msg)
	if target == "" {
		return msg
	}
	return cleanText(target) + ": " + msg
}

// Outcome says whether a mutating call finished or was accepted as a job.
type Outcome int

// Outcomes of a mutating call.
const (
	// OutcomeDone: the server finished the call (200, 201 or 204).
	OutcomeDone Outcome = iota
	// OutcomeAccepted: the server accepted a job (202); poll Result.JobURL.
	OutcomeAccepted
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case OutcomeDone:
		return "Done"
	case OutcomeAccepted:
		return "Accepted"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// Result is the answer to a deploy, redeploy or undeploy.
type Result struct {
	Outcome    Outcome
	StatusCode int
	// Application is set when the answer carried the application (a 200
	// with an item, or a 201 with a body).
	Application *Application
	// ApplicationURL is the new application's absolute URL from a 201's
	// Location, when it is on the BaseURL's origin.
	ApplicationURL string
	// IgnoredOrigin is the origin of a job link that was not followed
	// because it is not the BaseURL's; its path is the contract's job
	// path, so JobURL is that path on the BaseURL's origin.
	IgnoredOrigin string
	// JobURL is the absolute URL of the job when Outcome is OutcomeAccepted.
	// It is always on the BaseURL's origin and carries no user info.
	JobURL string
	// Job is the job's state from the 202 body; nil when the body had none.
	Job *Job
	// RetryAfter is the server's Retry-After, 0 when absent or invalid.
	RetryAfter time.Duration
	// Messages are the server's messages, cleaned and capped.
	Messages []string
}

// JobStatus is the answer to GetJob.
type JobStatus struct {
	Job        Job
	RetryAfter time.Duration
	StatusCode int
}
