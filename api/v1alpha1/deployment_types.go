package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the application on the server when
// its Deployment is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete undeploys the application, then lets the object go.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the application on the server.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// AdoptionPolicy says what a Deployment does when its application already
// exists on the server before the Deployment's first call (deployed by hand
// or by another tool).
// +kubebuilder:validation:Enum=Refuse;Adopt;AdoptIfMatching
type AdoptionPolicy string

const (
	// AdoptionRefuse leaves an existing application alone: the Deployment
	// is Stalled with reason AdoptionRefused and makes no mutating call.
	AdoptionRefuse AdoptionPolicy = "Refuse"
	// AdoptionAdopt takes the existing application over and brings it to
	// the spec (a redeploy when it differs).
	AdoptionAdopt AdoptionPolicy = "Adopt"
	// AdoptionAdoptIfMatching takes it over only when the server already
	// runs exactly the spec, every field compared; otherwise the
	// Deployment is Stalled with reason AdoptionMismatch.
	AdoptionAdoptIfMatching AdoptionPolicy = "AdoptIfMatching"
)

// ManagementPolicy says whether the operator may change the server.
// +kubebuilder:validation:Enum=Full;ObserveOnly
type ManagementPolicy string

const (
	// ManagementFull deploys, redeploys and undeploys.
	ManagementFull ManagementPolicy = "Full"
	// ManagementObserveOnly only reads: Ready when the server runs the
	// spec, Drifted when it does not; no deploy, redeploy or undeploy is
	// ever sent, and deleting the Deployment leaves the server alone.
	ManagementObserveOnly ManagementPolicy = "ObserveOnly"
)

// ReconcileRequestedAnnotation asks for a reconcile now: any new value
// makes the next reconcile read the server at once and retry a Stalled
// Deployment once; status.lastHandledReconcileAt echoes the value once it
// was handled.
const ReconcileRequestedAnnotation = "dbrest.io/reconcile-requested-at"

// JobOperation is the mutating call a job carries out.
// +kubebuilder:validation:Enum=Deploy;Redeploy;Undeploy
type JobOperation string

const (
	// JobOperationDeploy creates the application.
	JobOperationDeploy JobOperation = "Deploy"
	// JobOperationRedeploy updates the application.
	JobOperationRedeploy JobOperation = "Redeploy"
	// JobOperationUndeploy removes the application.
	JobOperationUndeploy JobOperation = "Undeploy"
)

// Job statuses as the server reports them.
const (
	// JobStatusInProgress: the job is running; the operator polls it.
	JobStatusInProgress = "in progress"
	// JobStatusCompleted: the job finished successfully.
	JobStatusCompleted = "completed"
	// JobStatusFailed: the job finished with errors.
	JobStatusFailed = "failed"
	// JobStatusPending: the intent of a mutating call. It is written
	// before the call is sent, and stays while the call's outcome is
	// unknown (no answer, a time-out or a 5xx: a proxy may give up while
	// the server still acts). The operator settles it before it sends
	// anything else: it looks for the server's job, and reads the
	// application only when there is none.
	JobStatusPending = "pending"
	// JobStatusAccepted: the server accepted the call (a 2xx) but named
	// no job the operator may follow (no link, or a link on another
	// origin, which never gets the credentials). The job is looked for in
	// the server's job list on the DatabaseAPI's own origin.
	JobStatusAccepted = "accepted"
	// JobStatusExpired: the server forgot the job before its outcome was
	// read; the operator settled it by reading the application.
	JobStatusExpired = "expired"
)

// FinalizerName guards the undeploy of an application when its Deployment is deleted.
const FinalizerName = "apps.dbrest.io/undeploy"

// ApplicationSpec is the application as the REST API deploys it.
type ApplicationSpec struct {
	// Name of the application on the server: a DNS label, immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="application.name is immutable: create a new Deployment to deploy under another name"
	// +required
	Name string `json:"name"`

	// DeploymentPath is the archive or exploded directory the server deploys
	// from, as the server sees it (for example /apps/orders-1.4.2.war).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +required
	DeploymentPath string `json:"deploymentPath"`

	// Targets are the servers or clusters to deploy to; at least one.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +required
	Targets []string `json:"targets"`

	// PlanPath is an optional deployment plan on the server.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	PlanPath string `json:"planPath,omitempty"`

	// Version is an optional application version label.
	// +kubebuilder:validation:MaxLength=215
	// +optional
	Version string `json:"version,omitempty"`

	// Properties are optional key/value settings passed to the server.
	// +kubebuilder:validation:MaxProperties=128
	// +optional
	Properties map[string]string `json:"properties,omitempty"`
}

// DeploymentSpec says which application to deploy, from what source, to
// which targets, through which DatabaseAPI.
// +kubebuilder:validation:XValidation:rule="!(has(self.managementPolicy) && self.managementPolicy == 'ObserveOnly' && has(self.deletionPolicy) && self.deletionPolicy == 'Delete')",message="spec.deletionPolicy Delete cannot be combined with spec.managementPolicy ObserveOnly: an ObserveOnly Deployment never undeploys; leave deletionPolicy unset or set it to Orphan"
type DeploymentSpec struct {
	// DatabaseAPIRef names the DatabaseAPI, in this namespace, to deploy
	// through. Immutable: the application lives on that server.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="databaseAPIRef is immutable: the application lives on that server; create a new Deployment for another one"
	// +required
	DatabaseAPIRef LocalObjectReference `json:"databaseAPIRef"`

	// Application is the application to deploy.
	// +required
	Application ApplicationSpec `json:"application"`

	// Detached asks the server to run deploy, redeploy and undeploy as
	// jobs (?__detached=true). Either way a 202 is polled as a job.
	// +kubebuilder:default=true
	// +optional
	Detached *bool `json:"detached,omitempty"`

	// PollInterval is the first interval between polls of a job when the
	// server sends no Retry-After; it grows with backoff (between 1s and 10m).
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="pollInterval must be a duration such as 30s or 1m30s, between 1s and 10m"
	// +optional
	PollInterval *metav1.Duration `json:"pollInterval,omitempty"`

	// Timeout bounds how long a job may run before the Deployment is
	// Stalled with reason JobTimedOut (between 10s and 24h). The operator
	// keeps polling, slowly, so a late outcome is not lost.
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="timeout must be a duration such as 30s or 1m30s, between 10s and 24h"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// ResyncInterval is how often the application is read back from the
	// server to detect and repair drift (between 30s and 24h). Unset: the
	// manager's --resync-interval (10m by default).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="resyncInterval must be a duration such as 30s or 1m30s, between 30s and 24h"
	// +optional
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`

	// DeletionPolicy says whether deleting this object undeploys the
	// application (Delete) or leaves it on the server (Orphan). Unset, it
	// resolves to Delete for an application this Deployment deployed and
	// to Orphan for one it adopted (status.adopted); set Delete explicitly
	// to undeploy an adopted application too. An ObserveOnly Deployment
	// never undeploys.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Adoption says what to do when the application already exists on
	// the server before this Deployment's first call: Refuse (the
	// default: no call, reason AdoptionRefused), Adopt (take it over and
	// bring it to the spec) or AdoptIfMatching (take it over only when it
	// already runs exactly the spec). It does not apply to an application
	// this Deployment deployed, nor once it has been adopted.
	// +kubebuilder:default=Refuse
	// +optional
	Adoption AdoptionPolicy `json:"adoption,omitempty"`

	// ManagementPolicy is Full (the default: deploy, redeploy, undeploy)
	// or ObserveOnly (read and report only: Ready when the server runs the
	// spec, Drifted naming the fields when it does not, status.plan showing
	// the call Full would make; deleting the Deployment leaves the server
	// alone). Switching to Full takes the application over under
	// spec.adoption.
	// +kubebuilder:default=Full
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// Suspend stops every call to the server for this Deployment; a job
	// already started runs on the server, and is polled when resumed.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// PlanOperation is the next step a plan would take on the server.
// +kubebuilder:validation:Enum=Deploy;Redeploy;Undeploy;Adopt
type PlanOperation string

const (
	// PlanDeploy creates the application.
	PlanDeploy PlanOperation = "Deploy"
	// PlanRedeploy updates the application.
	PlanRedeploy PlanOperation = "Redeploy"
	// PlanUndeploy removes the application.
	PlanUndeploy PlanOperation = "Undeploy"
	// PlanAdopt takes over an application that already runs the spec: no
	// call is needed.
	PlanAdopt PlanOperation = "Adopt"
)

// FieldChange is one field a planned call changes on the server.
type FieldChange struct {
	// Field is the application field: deploymentPath, targets, planPath,
	// version or properties.
	// +required
	Field string `json:"field"`
	// From is the server's value as last read ("" when the application
	// is absent).
	// +optional
	From string `json:"from,omitempty"`
	// To is the spec's value.
	// +optional
	To string `json:"to,omitempty"`
}

// Plan is the next mutating call the operator would make, what it changes
// and why, while one is pending or blocked. It is what a reviewer reads
// before switching a Deployment to Full or lifting what blocks it.
type Plan struct {
	// Operation is the next step: Deploy, Redeploy, Undeploy, or Adopt (a
	// takeover that needs no call).
	// +required
	Operation PlanOperation `json:"operation"`
	// Adopts is true when the step takes over an application this
	// Deployment did not deploy.
	// +optional
	Adopts bool `json:"adopts,omitempty"`
	// Changes are the fields the call changes, from the server's value to
	// the spec's; empty for an undeploy, or when the server has not been
	// read since the spec changed.
	// +listType=atomic
	// +optional
	Changes []FieldChange `json:"changes,omitempty"`
	// Reason says why the step is due.
	// +required
	Reason string `json:"reason"`
	// BlockedBy is the condition reason that holds the step back
	// (ObserveOnly, AdoptionRefused, AdoptionMismatch, Conflict,
	// CircuitOpen, Suspended); empty when it is merely next.
	// +optional
	BlockedBy string `json:"blockedBy,omitempty"`
	// ReadAt is when the server's state the changes compare with was read.
	// +optional
	ReadAt *metav1.Time `json:"readAt,omitempty"`
	// Fingerprint is the fingerprint of the spec.application the plan
	// was computed for; a plan for an older spec is replaced.
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
}

// JobRecord is the last mutating call the operator made and its job, as
// last seen on the server. Its intent (operation, fingerprint, time) is
// written to status before the call is sent, and the job URL before the
// operator waits on it, so a restarted operator resumes polling, or finds
// the job it lost, instead of calling again.
type JobRecord struct {
	// URL is the absolute URL of the job resource; empty while the call
	// is pending and for calls the server finished synchronously.
	// +optional
	URL string `json:"url,omitempty"`
	// Operation is the mutating call the job carries out.
	// +required
	Operation JobOperation `json:"operation"`
	// Status is the job's status as last seen: "pending" from the intent
	// until the call's outcome is known, "accepted" when the server
	// accepted it without a usable job link, "in progress", "completed",
	// "failed", or "expired" when the server forgot it before it was read.
	// +optional
	Status string `json:"status,omitempty"`
	// Fingerprint is the fingerprint of spec.application the call applies
	// (empty for an undeploy).
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// StartedAt is when the call was sent: the intent is recorded with
	// this time just before the call, so the server's job for it began
	// at or after it.
	// +required
	StartedAt metav1.Time `json:"startedAt"`
	// Found is true when the job was found in the server's job list (its
	// call's answer was lost), matched by application, operation and
	// start time rather than named by the server in that answer.
	// +optional
	Found bool `json:"found,omitempty"`
}

// DeploymentStatus is the observed state of a Deployment.
type DeploymentStatus struct {
	// ObservedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions follow kstatus: Ready, Reconciling and Stalled, each with
	// a reason per outcome (docs/conditions.md).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ApplicationURL is the URL of the application resource on the
	// server, from the Location of a synchronous deploy's 201.
	// +optional
	ApplicationURL string `json:"applicationURL,omitempty"`

	// ApplicationState is the state the server last reported
	// (STATE_NEW, STATE_ACTIVE, STATE_FAILED), empty when absent.
	// +optional
	ApplicationState string `json:"applicationState,omitempty"`

	// ApplicationStateSince is when the server was first seen showing
	// applicationState; it bounds a STATE_NEW that no recorded job
	// explains by spec.timeout.
	// +optional
	ApplicationStateSince *metav1.Time `json:"applicationStateSince,omitempty"`

	// Job is the last job the operator started; it is polled while its
	// status is "in progress".
	// +optional
	Job *JobRecord `json:"job,omitempty"`

	// LastAppliedFingerprint is the fingerprint of the spec.application
	// that the server was last seen running, every field compared.
	// +optional
	LastAppliedFingerprint string `json:"lastAppliedFingerprint,omitempty"`

	// LastFailedFingerprint is the fingerprint (and connection) whose last
	// attempt failed in a way retrying cannot fix; the operator does not
	// try it again until the spec, the DatabaseAPI or its Secret changes,
	// or until recheckAt.
	// +optional
	LastFailedFingerprint string `json:"lastFailedFingerprint,omitempty"`

	// RecheckAt is when a failure recorded in lastFailedFingerprint is
	// tried once more without a change, for failures that may heal on
	// the server's side (credentials, a proxy, a server that did not
	// apply a field); unset: only a change retries it.
	// +optional
	RecheckAt *metav1.Time `json:"recheckAt,omitempty"`

	// LastSyncedAt is when the application was last read from the server;
	// the next drift check is due resyncInterval later.
	// +optional
	LastSyncedAt *metav1.Time `json:"lastSyncedAt,omitempty"`

	// ClaimedAt is when this Deployment took charge of its application on
	// the server: the intent of its first deploy, or its adoption. Until
	// then the Deployment has changed nothing there, and an application
	// found on the server is someone else's (spec.adoption decides).
	// +optional
	ClaimedAt *metav1.Time `json:"claimedAt,omitempty"`

	// Adopted is true when the application existed on the server before
	// this Deployment's first call and was taken over (spec.adoption).
	// Deleting an adopted application's Deployment leaves it on the server
	// unless spec.deletionPolicy is Delete.
	// +optional
	Adopted bool `json:"adopted,omitempty"`

	// Plan is the next mutating call the operator would make, while one is
	// pending or blocked (ObserveOnly, an adoption refused, a Conflict, an
	// open circuit, suspend); absent when the server runs the spec.
	// +optional
	Plan *Plan `json:"plan,omitempty"`

	// LastHandledReconcileAt is the value of the
	// dbrest.io/reconcile-requested-at annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// LastHTTPStatus is the HTTP code of the last call (0: no answer).
	// +optional
	LastHTTPStatus int32 `json:"lastHTTPStatus,omitempty"`

	// LastError is the message of the last failed call, with the server's
	// messages; empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// Deployment is an application deployed through a database or
// application-server REST API. The operator deploys it, redeploys it on
// change and undeploys it on delete, polling the server's jobs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dbdeploy,categories=dbrest
// +kubebuilder:printcolumn:name="Application",type=string,JSONPath=`.spec.application.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Job",type=string,JSONPath=`.status.job.status`
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.status.plan.operation`,priority=1
// +kubebuilder:printcolumn:name="Blocked",type=string,JSONPath=`.status.plan.blockedBy`,priority=1
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.managementPolicy`,priority=1
// +kubebuilder:printcolumn:name="DatabaseAPI",type=string,JSONPath=`.spec.databaseAPIRef.name`,priority=1
// +kubebuilder:printcolumn:name="HTTP",type=integer,JSONPath=`.status.lastHTTPStatus`,priority=1
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.applicationState`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Deployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired deployment.
	// +required
	Spec DeploymentSpec `json:"spec"`
	// Status is the observed deployment.
	// +optional
	Status DeploymentStatus `json:"status,omitempty"`
}

// DeploymentList is a list of Deployments.
// +kubebuilder:object:root=true
type DeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Deployments.
	Items []Deployment `json:"items"`
}
