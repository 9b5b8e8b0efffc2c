package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeyNames are the keys read from a credentials Secret.
const (
	// CredentialsUsernameKey holds the user name for HTTP Basic authentication.
	CredentialsUsernameKey = "username"
	// CredentialsPasswordKey holds the password for HTTP Basic authentication.
	CredentialsPasswordKey = "password"
	// CredentialsTokenKey holds a Bearer token; it wins over username/password.
	CredentialsTokenKey = "token"
	// DefaultCAKey is the key read from a CA ConfigMap or Secret when none is given.
	DefaultCAKey = "ca.crt"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object, in the namespace of the referring object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// CABundleSource names a ConfigMap or Secret key that holds a PEM CA bundle.
type CABundleSource struct {
	// Kind of the object holding the bundle.
	// +kubebuilder:validation:Enum=ConfigMap;Secret
	// +kubebuilder:default=ConfigMap
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the ConfigMap or Secret, in the DatabaseAPI's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// Key holding the PEM bundle.
	// +kubebuilder:default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// APIPaths overrides the request path templates, relative to spec.url.
// Empty fields take the defaults of the REST contract.
// +kubebuilder:validation:XValidation:rule="!has(self.application) || self.application.contains('{name}')",message="paths.application must contain the {name} placeholder"
// +kubebuilder:validation:XValidation:rule="!has(self.redeploy) || self.redeploy.contains('{name}')",message="paths.redeploy must contain the {name} placeholder"
// +kubebuilder:validation:XValidation:rule="!has(self.job) || self.job.contains('{id}')",message="paths.job must contain the {id} placeholder"
type APIPaths struct {
	// Applications is the collection of applications (list, deploy).
	// Default "deployments/application".
	// +kubebuilder:validation:Pattern=`^[^/:?#][^:?#]*$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Applications string `json:"applications,omitempty"`
	// Application is one application (read, undeploy); must contain {name}.
	// Default "deployments/application/id/{name}".
	// +kubebuilder:validation:Pattern=`^[^/:?#][^:?#]*$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Application string `json:"application,omitempty"`
	// Redeploy is the redeploy action of one application; must contain {name}.
	// Default "deployments/application/id/{name}/redeploy".
	// +kubebuilder:validation:Pattern=`^[^/:?#][^:?#]*$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Redeploy string `json:"redeploy,omitempty"`
	// Jobs is the collection of deployment jobs. Default "jobs/deployment".
	// +kubebuilder:validation:Pattern=`^[^/:?#][^:?#]*$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Jobs string `json:"jobs,omitempty"`
	// Job is one job; must contain {id}. Default "jobs/deployment/id/{id}".
	// +kubebuilder:validation:Pattern=`^[^/:?#][^:?#]*$`
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Job string `json:"job,omitempty"`
}

// DatabaseAPISpec says how to reach a database or application-server REST API.
// +kubebuilder:validation:XValidation:rule="!(has(self.caBundle) && has(self.caBundleRef))",message="set either caBundle or caBundleRef, not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.insecureSkipTLSVerify) && self.insecureSkipTLSVerify && (has(self.caBundle) || has(self.caBundleRef)))",message="insecureSkipTLSVerify disables the CA check: remove caBundle/caBundleRef or set insecureSkipTLSVerify to false"
// +kubebuilder:validation:XValidation:rule="!(has(self.insecureSkipTLSVerify) && self.insecureSkipTLSVerify) || self.url.lowerAscii().startsWith('https://')",message="insecureSkipTLSVerify only applies to an https:// url"
type DatabaseAPISpec struct {
	// URL is the base URL of the REST API; every path is relative to it,
	// for example https://db.example.com:7002/management/wls/latest/.
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.lowerAscii().startsWith('https://') || self.lowerAscii().startsWith('http://')",message="url must start with https:// or http:// (the scheme in any case)"
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != ''",message="url must be an absolute URL with a host, such as https://db.example.com:7002/management/wls/latest/"
	// +kubebuilder:validation:XValidation:rule="!self.contains('@')",message="url must not carry credentials; put them in the Secret named by credentialsSecretRef"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="url must not have a query or fragment"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[A-Za-z]+://[^/]*:0*([7-9][0-9]{4}|6[6-9][0-9]{3}|65[6-9][0-9]{2}|655[4-9][0-9]|6553[6-9]|[0-9]{6,}|0)(/|$)')",message="url port must be a number between 1 and 65535"
	// +required
	URL string `json:"url"`

	// CredentialsSecretRef names a Secret in this namespace with either
	// "username" and "password" (HTTP Basic) or "token" (Bearer).
	// +required
	CredentialsSecretRef LocalObjectReference `json:"credentialsSecretRef"`

	// CABundle is a PEM bundle of CA certificates that sign the server's
	// certificate. When set, only these CAs are trusted.
	// +kubebuilder:validation:MaxLength=262144
	// +optional
	CABundle string `json:"caBundle,omitempty"`

	// CABundleRef names a ConfigMap or Secret key holding the PEM CA bundle,
	// as an alternative to caBundle.
	// +optional
	CABundleRef *CABundleSource `json:"caBundleRef,omitempty"`

	// InsecureSkipTLSVerify turns off verification of the server's
	// certificate. Only for tests: the Ready condition says it is on.
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`

	// RequestTimeout bounds each HTTP request (between 1s and 10m).
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('10m')",message="requestTimeout must be a duration such as 30s or 1m30s, between 1s and 10m"
	// +optional
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`

	// MaxConcurrentRequests caps the requests in flight to this API from
	// the whole operator.
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	// +optional
	MaxConcurrentRequests int32 `json:"maxConcurrentRequests,omitempty"`
	// MaxRequestsPerSecond caps the rate of requests to this API from the
	// whole operator (a token bucket shared by all its Deployments, with a
	// burst of twice the rate). A Deployment that finds no token waits
	// without holding a worker.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxRequestsPerSecond int32 `json:"maxRequestsPerSecond,omitempty"`

	// ProbeInterval is how often the API is probed with a cheap GET to
	// keep the Ready condition true to the server (between 10s and 24h).
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="probeInterval must be a duration such as 30s or 1m30s, between 10s and 24h"
	// +optional
	ProbeInterval *metav1.Duration `json:"probeInterval,omitempty"`

	// Headers are sent with every request. X-Requested-By is sent on
	// mutating calls by default ("dbrest-operator"); set it here to change
	// it. Authorization, Accept and Content-Type are set by the operator.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k.lowerAscii() in ['authorization', 'accept', 'content-type', 'content-length', 'host', 'cookie']))",message="headers must not set Authorization, Accept, Content-Type, Content-Length, Host or Cookie: credentials belong in the Secret, the rest is set by the operator"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z0-9!#$%&*+.^_`|~-]+$'))",message="header names must be HTTP tokens (letters, digits and !#$%&*+.^_`|~-)"
	// +optional
	Headers map[string]string `json:"headers,omitempty"`

	// Paths overrides the request path templates of the REST contract.
	// +optional
	Paths *APIPaths `json:"paths,omitempty"`
}

// DatabaseAPIStatus is the observed state of a DatabaseAPI.
type DatabaseAPIStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready says whether the API answered the last probe with
	// the configured credentials; its reason names the outcome.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastHTTPStatus is the HTTP code of the last probe (0: no answer).
	// +optional
	LastHTTPStatus int32 `json:"lastHTTPStatus,omitempty"`

	// LastHandledReconcileAt is the value of the
	// dbrest.io/reconcile-requested-at annotation whose probe has run.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// Circuit is the circuit breaker shared by this API's Deployments,
	// while it is open: the server answered with trouble (5xx, 429, no
	// answer) several times in a row, or asked to wait with Retry-After.
	// No Deployment calls the server until a probe succeeds. Kept in
	// status so that a restarted operator probes first instead of sending
	// one request per Deployment. Absent when closed.
	// +optional
	Circuit *CircuitStatus `json:"circuit,omitempty"`
}

// CircuitStatus is an open circuit.
type CircuitStatus struct {
	// OpenedAt is when the circuit opened.
	// +required
	OpenedAt metav1.Time `json:"openedAt"`
	// NextProbeAt is when the operator probes the server next: its
	// Retry-After when it sent one, else a backoff that doubles per failed
	// probe, up to a minute.
	// +required
	NextProbeAt metav1.Time `json:"nextProbeAt"`
	// FailedProbes counts the probes that failed since it opened.
	// +optional
	FailedProbes int32 `json:"failedProbes,omitempty"`
	// Reason names the last trouble answer (ServiceUnavailable, Throttled,
	// ServerError, Unreachable).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message describes it.
	// +optional
	Message string `json:"message,omitempty"`
}

// DatabaseAPI is the connection to a database or application-server REST
// API: base URL, credentials, trust and limits. Deployments in the same
// namespace refer to it by name.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dbapi,categories=dbrest
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="HTTP",type=integer,JSONPath=`.status.lastHTTPStatus`,priority=1
// +kubebuilder:printcolumn:name="Next-Probe",type=string,JSONPath=`.status.circuit.nextProbeAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DatabaseAPI struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired connection.
	// +required
	Spec DatabaseAPISpec `json:"spec"`
	// Status is the observed reachability.
	// +optional
	Status DatabaseAPIStatus `json:"status,omitempty"`
}

// DatabaseAPIList is a list of DatabaseAPIs.
// +kubebuilder:object:root=true
type DatabaseAPIList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the DatabaseAPIs.
	Items []DatabaseAPI `json:"items"`
}
