package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// GetApplication reads one application. A 404 is a *NotFoundError: the
// application does not exist (or the base URL is wrong).
func (c *Client) GetApplication(ctx context.Context, name string) (*Application, error) {
	r := c.newRequest(OpGetApplication, http.MethodGet, c.cfg.Paths.Application, name, false)
	if name == "" {
		return nil, emptyName(r)
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	app, ok, err := parseApplicationBody(resp.body)
	if err != nil || !ok {
		return nil, c.protocolError(r, resp, "200 without an application item")
	}
	return &app, nil
}

// ListApplications reads every application. The list is read from
// {"items":[…]} or a bare JSON array.
func (c *Client) ListApplications(ctx context.Context) ([]Application, error) {
	r := c.newRequest(OpListApplications, http.MethodGet, c.cfg.Paths.Applications, "", false)
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	items, err := itemsOf(resp.body)
	if err != nil {
		return nil, c.protocolError(r, resp, err.Error())
	}
	apps := make([]Application, 0, len(items))
	for _, raw := range items {
		var app Application
		if !isObject(raw) || json.Unmarshal(raw, &app) != nil {
			return nil, c.protocolError(r, resp, "application list holds an entry that is not an application")
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// Deploy creates an application. The answer is OutcomeDone (200 or 201) or
// OutcomeAccepted (202) with Result.JobURL to poll. On a *TransportError
// with OutcomeUnknown the deploy may have happened: read the application
// before deploying again.
func (c *Client) Deploy(ctx context.Context, spec ApplicationSpec) (*Result, error) {
	r := c.newRequest(OpDeploy, http.MethodPost, c.cfg.Paths.Applications, "", true)
	return c.mutate(ctx, r, &spec)
}

// Redeploy replaces an application's fields with spec. Every field is
// sent, the empty ones as "" and {}: the contract keeps a field that is
// absent from a redeploy, so leaving an emptied field out would never
// clear it on the server.
func (c *Client) Redeploy(ctx context.Context, spec ApplicationSpec) (*Result, error) {
	r := c.newRequest(OpRedeploy, http.MethodPost, c.cfg.Paths.Redeploy, spec.Name, true)
	return c.mutate(ctx, r, &spec)
}

// redeployBody is a redeploy's wire form: no field is omitted.
type redeployBody struct {
	Name           string            `json:"name"`
	DeploymentPath string            `json:"deploymentPath"`
	Targets        []string          `json:"targets"`
	PlanPath       string            `json:"planPath"`
	Version        string            `json:"version"`
	Properties     map[string]string `json:"properties"`
}

// encodeSpec writes the body of a deploy (empty optional fields left
// out) or of a redeploy (every field present).
func encodeSpec(op Operation, spec *ApplicationSpec) ([]byte, error) {
	if op != OpRedeploy {
		return json.Marshal(spec)
	}
	props := spec.Properties
	if props == nil {
		props = map[string]string{}
	}
	return json.Marshal(redeployBody{Name: spec.Name, DeploymentPath: spec.DeploymentPath, Targets: spec.Targets,
		PlanPath: spec.PlanPath, Version: spec.Version, Properties: props})
}

// Undeploy removes an application; it may answer 200, 202 (a job) or 204.
// A 404 is a *NotFoundError, which the caller treats as already gone.
func (c *Client) Undeploy(ctx context.Context, name string) (*Result, error) {
	r := c.newRequest(OpUndeploy, http.MethodDelete, c.cfg.Paths.Application, name, true)
	if name == "" {
		return nil, emptyName(r)
	}
	return c.mutate(ctx, r, nil)
}

// GetJob reads a job through its absolute URL, as returned in
// Result.JobURL. A URL on another origin than the BaseURL is refused with
// an *OriginError and no request is sent. A 404 is a *NotFoundError: the
// job is unknown or expired, and the caller re-reads the application.
func (c *Client) GetJob(ctx context.Context, jobURL string) (*JobStatus, error) {
	u, err := url.Parse(strings.TrimSpace(jobURL))
	if err != nil || !u.IsAbs() || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		r := request{op: OpGetJob, method: http.MethodGet, url: &url.URL{Path: "[invalid job URL]"}}
		if err == nil {
			r.url = &url.URL{Path: u.EscapedPath()}
		}
		return nil, &InvalidRequestError{StatusError: r.status()}
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	r := request{op: OpGetJob, method: http.MethodGet, url: u}
	if got := origin(u); got != c.baseOrigin {
		return nil, &OriginError{StatusError: r.status(), Want: c.baseOrigin, Got: got}
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	job, err := parseJobBody(resp.body)
	if err != nil {
		return nil, c.protocolError(r, resp, err.Error())
	}
	return &JobStatus{
		Job:        job,
		RetryAfter: parseRetryAfter(resp.header.Get("Retry-After"), time.Now()),
		StatusCode: resp.code,
	}, nil
}

// JobURL builds the absolute URL of a job from its id with the Job path
// template, for servers that name a job only by id.
func (c *Client) JobURL(id string) string {
	return c.resolve(strings.ReplaceAll(c.cfg.Paths.Job, "{id}", url.PathEscape(id))).String()
}

// ListJobs reads every job. Unlike GetJob it keeps a job whose status it
// does not know (Status holds the server's spelling), so that one odd job
// does not hide the others.
func (c *Client) ListJobs(ctx context.Context) ([]Job, error) {
	r := c.newRequest(OpListJobs, http.MethodGet, c.cfg.Paths.Jobs, "", false)
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	items, err := itemsOf(resp.body)
	if err != nil {
		return nil, c.protocolError(r, resp, err.Error())
	}
	jobs := make([]Job, 0, len(items))
	for _, raw := range items {
		job, err := decodeJob(raw)
		if errors.Is(err, errInvalidBody) {
			return nil, c.protocolError(r, resp, "job list holds an entry that is not a job")
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// Probe checks the endpoint with a GET of the application list: it answers
// nil when the server speaks JSON there, else the same typed errors as the
// other calls (a wrong base URL is usually a *NotFoundError, a login page
// a *ProtocolError).
func (c *Client) Probe(ctx context.Context) error {
	r := c.newRequest(OpProbe, http.MethodGet, c.cfg.Paths.Applications, "", false)
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	if resp.code != http.StatusOK {
		return c.errorFor(r, resp)
	}
	body := bytes.TrimSpace(resp.body)
	// A truncated list cannot be validated whole; its first byte says JSON.
	if resp.truncated && len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		return nil
	}
	if !json.Valid(body) {
		return &ProtocolError{StatusError: c.statusFrom(r, resp, true), Reason: "200 body is not JSON"}
	}
	return nil
}

// send performs a read and returns the answer when its status is 200 OK,
// else the error class of the status; a body over the cap is a
// *ProtocolError.
func (c *Client) send(ctx context.Context, r request) (*response, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.code != http.StatusOK {
		return nil, c.errorFor(r, resp)
	}
	if resp.truncated {
		return nil, c.protocolError(r, resp, fmt.Sprintf("body exceeds %d bytes", c.cfg.MaxBodyBytes))
	}
	return resp, nil
}

// mutate sends a deploy, redeploy or undeploy and reads its outcome.
func (c *Client) mutate(ctx context.Context, r request, spec *ApplicationSpec) (*Result, error) {
	if spec != nil {
		if spec.Name == "" {
			return nil, emptyName(r)
		}
		body, err := encodeSpec(r.op, spec)
		if err != nil {
			return nil, c.protocolError(r, nil, "cannot encode the spec: "+err.Error())
		}
		r.body = body
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	switch resp.code {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		return c.done(r, resp)
	case http.StatusAccepted:
		return c.accepted(r, resp)
	default:
		return nil, c.errorFor(r, resp)
	}
}

// done reads a finished call: 204 has no body; 200 and 201 may carry the
// application ({"messages","item"} or a bare object). A body that is not
// JSON is refused: a 200 HTML page on a POST means something other than
// the API answered, and calling that "done" would hide it.
func (c *Client) done(r request, resp *response) (*Result, error) {
	res := &Result{Outcome: OutcomeDone, StatusCode: resp.code}
	if loc := resp.header.Get("Location"); loc != "" && resp.code == http.StatusCreated {
		// The new application's URL, kept only on the BaseURL's origin.
		if u, err := resolveRef(r.url, loc); err == nil && origin(u) == c.baseOrigin {
			u.User = nil
			res.ApplicationURL = u.String()
		}
	}
	body := bytes.TrimSpace(resp.body)
	if resp.code == http.StatusNoContent || len(body) == 0 {
		return res, nil
	}
	if resp.truncated || !json.Valid(body) {
		return nil, c.protocolError(r, resp, fmt.Sprintf("%d body is not JSON", resp.code))
	}
	res.Messages = c.scrub(parseMessages(c.scrubBody(body), false))
	if app, ok, err := parseApplicationBody(body); err == nil && ok {
		res.Application = &app
	}
	return res, nil
}

// accepted reads a 202: the job link (Location, else links[rel=job]),
// resolved against the request URL and kept only on the BaseURL's origin,
// and the job's state when the body carries one.
func (c *Client) accepted(r request, resp *response) (*Result, error) {
	ref := jobLinkRef(resp.header.Get("Location"), resp.body)
	if ref == "" {
		return nil, c.protocolError(r, resp, "202 without a job link (no Location, no links[rel=job])")
	}
	u, err := resolveRef(r.url, ref)
	if err != nil {
		return nil, c.protocolError(r, resp, err.Error())
	}
	ignored := ""
	if got := origin(u); got != c.baseOrigin {
		// A proxy that leaks its backend's address, or a job service
		// behind a gateway: when the link's path is the contract's job
		// path, the same job is on our own origin. Credentials never go
		// to the other one.
		id, ok := c.jobIDFromPath(u.EscapedPath())
		if !ok {
			return nil, &OriginError{StatusError: c.statusFrom(r, resp, false), Want: c.baseOrigin, Got: got}
		}
		ignored, u = got, c.resolve(strings.ReplaceAll(c.cfg.Paths.Job, "{id}", url.PathEscape(id)))
	}
	res := &Result{
		Outcome:       OutcomeAccepted,
		StatusCode:    resp.code,
		IgnoredOrigin: ignored,
		JobURL:        u.String(),
		RetryAfter:    parseRetryAfter(resp.header.Get("Retry-After"), time.Now()),
		Messages:      c.scrub(parseMessages(c.scrubBody(resp.body), false)),
	}
	// The job link settles the outcome; a body we cannot read only means
	// the first poll tells the job's state instead.
	if !resp.truncated {
		if job, err := parseJobBody(resp.body); err == nil {
			res.Job = &job
		}
	}
	return res, nil
}

// newRequest builds a request from a path template; name fills "{name}".
func (c *Client) newRequest(op Operation, method, tmpl, name string, mutating bool) request {
	u := c.resolve(strings.ReplaceAll(tmpl, "{name}", url.PathEscape(name)))
	if mutating {
		q := u.Query()
		q.Set("__detached", c.detached)
		u.RawQuery = q.Encode()
	}
	return request{op: op, method: method, url: u, mutating: mutating}
}

// resolve resolves a filled path template against the base URL. A relative
// template is anchored with "./" so that a name with a colon cannot be read
// as a URL scheme.
func (c *Client) resolve(rel string) *url.URL {
	if !strings.HasPrefix(rel, "/") {
		rel = "./" + rel
	}
	ref, err := url.Parse(rel)
	if err != nil {
		// Templates are validated in New and values are escaped, so this
		// cannot happen; fall back to the base rather than panic.
		return c.BaseURL()
	}
	return c.base.ResolveReference(ref)
}

func emptyName(r request) error {
	se := r.status()
	se.Messages = []string{"application name must not be empty"}
	return &InvalidRequestError{StatusError: se}
}

// jobIDMarker stands for a job id while the Job template's path is split
// around it.
const jobIDMarker = "dbrest-job-id-marker"

// jobIDFromPath returns the job id when path is the Job template's path
// on the BaseURL for some id.
func (c *Client) jobIDFromPath(path string) (string, bool) {
	tmpl := c.resolve(strings.ReplaceAll(c.cfg.Paths.Job, "{id}", jobIDMarker)).EscapedPath()
	prefix, suffix, ok := strings.Cut(tmpl, jobIDMarker)
	if !ok || !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) || len(path) <= len(prefix)+len(suffix) {
		return "", false
	}
	raw := path[len(prefix) : len(path)-len(suffix)]
	id, err := url.PathUnescape(raw)
	if err != nil || strings.Contains(raw, "/") || id == "" {
		return "", false
	}
	return id, true
}
