package simulator

import "maps"

// Application states (PROTOCOL.md, "Bodies").
const (
	// StateNew: the deploy or redeploy was accepted and its job is running.
	StateNew = "STATE_NEW"
	// StateActive: the last job completed.
	StateActive = "STATE_ACTIVE"
	// StateFailed: the last job failed.
	StateFailed = "STATE_FAILED"
)

// Job statuses.
const (
	JobInProgress = "in progress"
	JobCompleted  = "completed"
	JobFailed     = "failed"
)

// Job operations.
const (
	OpDeploy   = "deploy"
	OpRedeploy = "redeploy"
	OpRemove   = "remove"
)

// Application is a deployed application as the API shows it.
type Application struct {
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	State          string            `json:"state"`
	DeploymentPath string            `json:"deploymentPath"`
	Targets        []string          `json:"targets"`
	PlanPath       string            `json:"planPath"`
	Version        string            `json:"version"`
	Properties     map[string]string `json:"properties"`
}

// clone deep-copies a so the copy can leave the lock.
func (a Application) clone() Application {
	a.Targets = append([]string(nil), a.Targets...)
	a.Properties = maps.Clone(a.Properties)
	if a.Properties == nil {
		a.Properties = map[string]string{}
	}
	return a
}

// Job is a deployment job as the API shows it. Times are epoch milliseconds;
// EndTime is 0 while the job runs.
type Job struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Operation      string      `json:"operation"`
	DeploymentName string      `json:"deploymentName"`
	Status         string      `json:"status"`
	BeginTime      int64       `json:"beginTime"`
	EndTime        int64       `json:"endTime"`
	Description    string      `json:"description"`
	Targets        []JobTarget `json:"targets"`
}

// JobTarget is the progress of a job on one target. Errors lists why it
// failed and is empty (never null) otherwise.
type JobTarget struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Status string   `json:"status"`
	Errors []string `json:"errors"`
}

// Link names a related resource in a response body.
type Link struct {
	Rel string `json:"rel"`
	URI string `json:"uri"`
}

// Message is one entry of a messages body.
type Message struct {
	Message  string `json:"message"`
	Severity string `json:"severity"`
}

const (
	severityFailure = "FAILURE"
	severitySuccess = "SUCCESS"
)

// itemBody is the envelope of single-resource answers: GET, 200, 201, 202.
type itemBody[T any] struct {
	Messages []Message `json:"messages,omitempty"`
	Item     T         `json:"item"`
	Links    []Link    `json:"links,omitempty"`
}

// itemsBody is the envelope of list answers.
type itemsBody[T any] struct {
	Items []T    `json:"items"`
	Links []Link `json:"links,omitempty"`
}

// messagesBody is the envelope of errors and of bodies that carry no item.
type messagesBody struct {
	Messages []Message `json:"messages"`
}
