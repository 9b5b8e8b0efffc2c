package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Defaults for zero Config fields.
const (
	DefaultRequestTimeout        = 30 * time.Second
	DefaultMaxConcurrentRequests = 8
	DefaultMaxBodyBytes          = 1 << 20
	DefaultUserAgent             = "dbrest-operator"
	// DefaultRequestedBy is the X-Requested-By value of mutating calls; the
	// server answers 400 without the header, whatever its value.
	DefaultRequestedBy = "dbrest-operator"
)

// Default path templates (PROTOCOL.md, "Requests").
const (
	DefaultApplicationsPath = "deployments/application"
	DefaultApplicationPath  = "deployments/application/id/{name}"
	DefaultRedeployPath     = "deployments/application/id/{name}/redeploy"
	DefaultJobsPath         = "jobs/deployment"
	DefaultJobPath          = "jobs/deployment/id/{id}"
)

const redacted = "[redacted]"

// Credentials are handed in by the caller, usually from a Secret. A Token
// selects Bearer authentication; otherwise a Username selects Basic; with
// neither no Authorization header is sent. Every fmt verb prints them
// redacted, so a Config or Credentials can be logged safely.
type Credentials struct {
	Username string
	Password string
	Token    string
}

// String prints the credentials with secrets redacted.
func (c Credentials) String() string {
	var b strings.Builder
	b.WriteString("{Username:")
	b.WriteString(c.Username)
	if c.Password != "" {
		b.WriteString(" Password:" + redacted)
	}
	if c.Token != "" {
		b.WriteString(" Token:" + redacted)
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return "restapi.Credentials" + c.String() }

// Format implements fmt.Formatter so that no verb (%x, %q, %+v …) can print
// a secret.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, c.GoString())
		return
	}
	_, _ = fmt.Fprint(f, c.String())
}

// Paths are path templates relative to BaseURL. "{name}" is replaced by the
// path-escaped application name and "{id}" by the job id. A template that
// starts with "/" is taken from the root of the BaseURL's origin. Zero fields
// take the Default*Path values.
type Paths struct {
	Applications string
	Application  string
	Redeploy     string
	Jobs         string
	Job          string
}

func (p Paths) withDefaults() Paths {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&p.Applications, DefaultApplicationsPath)
	def(&p.Application, DefaultApplicationPath)
	def(&p.Redeploy, DefaultRedeployPath)
	def(&p.Jobs, DefaultJobsPath)
	def(&p.Job, DefaultJobPath)
	return p
}

func (p Paths) validate() error {
	checks := []struct {
		field, tmpl, placeholder string
	}{
		{"Applications", p.Applications, ""},
		{"Application", p.Application, "{name}"},
		{"Redeploy", p.Redeploy, "{name}"},
		{"Jobs", p.Jobs, ""},
		{"Job", p.Job, "{id}"},
	}
	for _, c := range checks {
		if c.placeholder != "" && !strings.Contains(c.tmpl, c.placeholder) {
			return fmt.Errorf("restapi: Paths.%s %q must contain %s", c.field, c.tmpl, c.placeholder)
		}
		// Check the template with a harmless value in place of the
		// placeholders: it must stay a path on the BaseURL's origin.
		probe := strings.NewReplacer("{name}", "x", "{id}", "x").Replace(c.tmpl)
		u, err := url.Parse(probe)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Fragment != "" || strings.HasPrefix(probe, "//") {
			return fmt.Errorf("restapi: Paths.%s %q must be a path relative to BaseURL", c.field, c.tmpl)
		}
	}
	return nil
}

// Config configures a Client. Only BaseURL is required.
type Config struct {
	// BaseURL is the http or https URL the paths are relative to, for
	// example https://db:7002/management/wls/latest/. A missing trailing
	// slash is added. It must not carry user info, a query or a fragment:
	// credentials belong in Credentials.
	BaseURL string
	// Credentials authenticate every request sent to the BaseURL's origin,
	// and only those.
	Credentials Credentials
	// CABundle is a PEM bundle of CA certificates. When set it is the ONLY
	// set of roots trusted (the system roots are not added), so a private
	// CA cannot be bypassed by any public certificate for the same name.
	CABundle []byte
	// InsecureSkipTLSVerify disables certificate verification. Opt-in only,
	// for test endpoints.
	InsecureSkipTLSVerify bool
	// RequestTimeout bounds each HTTP request, body included. Default 30s.
	RequestTimeout time.Duration
	// MaxConcurrentRequests bounds requests in flight for this client (one
	// client per endpoint). Waiting for a slot honours the context.
	// Default 8.
	MaxConcurrentRequests int
	// Headers are sent on every request. An X-Requested-By here replaces
	// the default one of mutating calls. Authorization is always set from
	// Credentials when they are not empty.
	Headers map[string]string
	// Paths override the path templates.
	Paths Paths
	// Detached selects ?__detached=true (default) or false on deploy,
	// redeploy and undeploy. Even with false a server may answer 202.
	Detached *bool
	// UserAgent defaults to DefaultUserAgent.
	UserAgent string
	// Observer is the metrics hook; nil disables it.
	Observer Observer
	// MaxBodyBytes caps each response body read. Default 1 MiB.
	MaxBodyBytes int64
	// Transport replaces the transport the client builds. When set,
	// CABundle and InsecureSkipTLSVerify are not applied: the transport
	// owns TLS. Meant for tests and for wrapping (tracing, proxies).
	Transport http.RoundTripper
}

// String prints the configuration with credentials and header values
// redacted.
func (c Config) String() string {
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	detached := "default"
	if c.Detached != nil {
		detached = fmt.Sprint(*c.Detached)
	}
	return fmt.Sprintf("{BaseURL:%s Credentials:%s CABundle:%d bytes InsecureSkipTLSVerify:%t RequestTimeout:%s "+
		"MaxConcurrentRequests:%d Headers:%v Paths:%+v Detached:%s UserAgent:%q MaxBodyBytes:%d Transport:%t Observer:%t}",
		redactURL(c.BaseURL), c.Credentials, len(c.CABundle), c.InsecureSkipTLSVerify, c.RequestTimeout,
		c.MaxConcurrentRequests, keys, c.Paths, detached, c.UserAgent, c.MaxBodyBytes, c.Transport != nil, c.Observer != nil)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return "restapi.Config" + c.String() }

// Format implements fmt.Formatter so that no verb can print a secret, a
// header value (they may hold API keys) or user info in BaseURL.
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, c.GoString())
		return
	}
	_, _ = fmt.Fprint(f, c.String())
}

// normalise applies defaults and validates everything but TLS.
func (c Config) normalise() (Config, *url.URL, error) {
	base, err := parseBaseURL(c.BaseURL)
	if err != nil {
		return c, nil, err
	}
	if c.RequestTimeout < 0 || c.MaxConcurrentRequests < 0 || c.MaxBodyBytes < 0 {
		return c, nil, errors.New("restapi: RequestTimeout, MaxConcurrentRequests and MaxBodyBytes must not be negative")
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxConcurrentRequests == 0 {
		c.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	c.Paths = c.Paths.withDefaults()
	if err := c.Paths.validate(); err != nil {
		return c, nil, err
	}
	for k, v := range c.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			// The value is not printed: it may be a secret.
			return c, nil, fmt.Errorf("restapi: invalid header %q", k)
		}
	}
	if c.Credentials.Token == "" && c.Credentials.Username == "" && c.Credentials.Password != "" {
		return c, nil, errors.New("restapi: Credentials have a password but no username")
	}
	return c, base, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("restapi: BaseURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, which may hold user info.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("restapi: BaseURL is not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("restapi: BaseURL scheme %q is not http or https", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("restapi: BaseURL has no host")
	case u.User != nil:
		return nil, errors.New("restapi: BaseURL must not carry user info; use Credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("restapi: BaseURL must not have a query or fragment")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
