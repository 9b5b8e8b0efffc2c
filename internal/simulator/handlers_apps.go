package simulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxBodyBytes caps request bodies; a deploy request is a few hundred bytes.
const maxBodyBytes = 1 << 20

// appRequest is the body of deploy and redeploy. Pointers tell an absent
// field (keep the stored value on redeploy) from an empty one (invalid).
type appRequest struct {
	Name           string            `json:"name"`
	DeploymentPath *string           `json:"deploymentPath"`
	Targets        *[]string         `json:"targets"`
	PlanPath       *string           `json:"planPath"`
	Version        *string           `json:"version"`
	Properties     map[string]string `json:"properties"`
}

func decodeAppRequest(r *http.Request) (appRequest, error) {
	var req appRequest
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	switch {
	case err != nil:
		return req, err
	case len(b) > maxBodyBytes:
		return req, errors.New("body larger than 1 MiB")
	case len(b) == 0:
		return req, errors.New("empty body")
	}
	return req, json.Unmarshal(b, &req)
}

// checkFields validates what deploy requires and what redeploy may change.
func (req appRequest) checkFields(deploy bool) string {
	switch {
	case deploy && req.DeploymentPath == nil:
		return "deploymentPath is required"
	case req.DeploymentPath != nil && *req.DeploymentPath == "":
		return "deploymentPath must not be empty"
	case deploy && req.Targets == nil:
		return "targets is required"
	case req.Targets != nil && len(*req.Targets) == 0:
		return "targets must list at least one target"
	case req.Targets != nil && slices.Contains(*req.Targets, ""):
		return "targets must not contain an empty name"
	}
	return ""
}

// apply copies the fields present in req onto app.
func (req appRequest) apply(app *Application) {
	if req.DeploymentPath != nil {
		app.DeploymentPath = *req.DeploymentPath
	}
	if req.Targets != nil {
		app.Targets = slices.Clone(*req.Targets)
	}
	if req.PlanPath != nil {
		app.PlanPath = *req.PlanPath
	}
	if req.Version != nil {
		app.Version = *req.Version
	}
	if req.Properties != nil {
		app.Properties = req.Properties
	}
}

// checkName rejects names no client could address or read back intact.
func checkName(name string) string {
	switch {
	case name == "":
		return "name is required"
	case len(name) > 255:
		return "name must be at most 255 bytes"
	case strings.TrimSpace(name) != name:
		return "name must not start or end with white space"
	case strings.ContainsFunc(name, unicode.IsControl):
		return "name must not contain control characters"
	}
	return ""
}

// detachedParam reads __detached; absent means false.
func detachedParam(r *http.Request) (bool, error) {
	if r.URL.RawQuery == "" {
		return false, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false, err
	}
	v := q.Get("__detached")
	if v == "" {
		return false, nil
	}
	return strconv.ParseBool(v)
}

func appPath(base, name string) string {
	return base + "deployments/application/id/" + url.PathEscape(name)
}

func notFound(name string) response {
	return failure(http.StatusNotFound, "application "+name+" not found")
}

func (s *Server) getApp(r *http.Request, name string) response {
	self := absoluteURL(r, appPath(s.base, name))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	rec, ok := s.store.apps[name]
	if !ok {
		return notFound(name)
	}
	return jsonResponse(http.StatusOK, itemBody[*Application]{Item: &rec.app, Links: []Link{{Rel: "self", URI: self}}})
}

func (s *Server) listApps(r *http.Request) response {
	self := absoluteURL(r, s.base+"deployments/application")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	items := make([]*Application, 0, len(s.store.apps))
	for _, rec := range s.store.apps {
		items = append(items, &rec.app)
	}
	slices.SortFunc(items, func(a, b *Application) int { return strings.Compare(a.Name, b.Name) })
	return jsonResponse(http.StatusOK, itemsBody[*Application]{Items: items, Links: []Link{{Rel: "self", URI: self}}})
}

// mutation is a mutating operation's work, run under the lock. It reports
// whether it handed its in-flight slot to a job.
type mutation func(now time.Time) (resp response, handedToJob bool)

// mutate runs a mutating operation on name: it marks the operation in
// flight, runs fn under the lock, writes the answer, and ends the operation
// unless fn handed it to a job. A slow server (Options.MutationDelay,
// ProxyTimeout) takes the detour in slow.go.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request, name string, fn mutation) {
	if s.slow() {
		s.mutateSlow(w, r, name, fn)
		return
	}
	now := s.now()
	s.mu.Lock()
	s.advance(now)
	s.beginMutating(name)
	resp, handed := fn(now)
	s.mu.Unlock()
	resp.write(w)
	if !handed {
		s.mu.Lock()
		s.endMutating(name)
		s.mu.Unlock()
	}
}

// async reports whether an operation becomes a job.
func (s *Server) async(detached bool) bool { return detached || s.opts.AlwaysAccept }

// syncState is the state a synchronous operation ends in.
func (s *Server) syncState(name string) string {
	if s.shouldFail(name) {
		return StateFailed
	}
	return StateActive
}

func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	detached, err := detachedParam(r)
	if err != nil {
		failure(http.StatusBadRequest, "invalid __detached parameter: "+err.Error()).write(w)
		return
	}
	req, err := decodeAppRequest(r)
	if err != nil {
		failure(http.StatusBadRequest, "invalid JSON body: "+err.Error()).write(w)
		return
	}
	if msg := checkName(req.Name); msg != "" {
		failure(http.StatusBadRequest, msg).write(w)
		return
	}
	s.mutate(w, r, req.Name, func(now time.Time) (response, bool) {
		if msg := req.checkFields(true); msg != "" {
			return failure(http.StatusBadRequest, msg), false
		}
		name := req.Name
		if _, exists := s.store.apps[name]; exists {
			s.stats.duplicates++
			s.stats.duplicatesByApp[name]++
			return failure(http.StatusBadRequest, "application "+name+" is already deployed"), false
		}
		rec := &appRecord{app: Application{Name: name, Type: "application", State: StateNew, Properties: map[string]string{}}}
		req.apply(&rec.app)
		s.store.apps[name] = rec
		s.stats.deploysAccepted[name]++
		if s.async(detached) {
			return s.accepted(r, s.newJob(OpDeploy, rec, now, nil), now), true
		}
		rec.app.State = s.syncState(name)
		return s.deployedSync(r, &rec.app), false
	})
}

// deployedSync answers a deploy that finished at once.
func (s *Server) deployedSync(r *http.Request, app *Application) response {
	if s.opts.SyncCreateCode == http.StatusOK {
		msg := Message{Message: "Deployed the application '" + app.Name + "'.", Severity: severitySuccess}
		if app.State == StateFailed {
			msg = Message{Message: "Failed to deploy the application '" + app.Name + "'.", Severity: severityFailure}
		}
		return jsonResponse(http.StatusOK, itemBody[*Application]{Messages: []Message{msg}, Item: app})
	}
	loc, uri := s.linkTo(r, appPath(s.base, app.Name))
	resp := jsonResponse(http.StatusCreated, itemBody[*Application]{Item: app, Links: []Link{{Rel: "self", URI: uri}}})
	resp.location = loc
	return resp
}

// accepted answers 202 for a new job, naming it in Location (per style)
// and in links[].
func (s *Server) accepted(r *http.Request, j *jobRecord, now time.Time) response {
	if s.opts.JobDoneAtAcceptance {
		s.advance(now) // the job is over before the answer is written
	}
	path := s.base + "jobs/deployment/id/" + j.job.ID
	loc, uri := s.linkTo(r, path)
	if s.opts.JobLinkOrigin != "" {
		loc = strings.TrimSuffix(s.opts.JobLinkOrigin, "/") + path
		uri = loc
	}
	links := []Link{{Rel: "job", URI: uri}}
	if s.opts.NoJobLink {
		loc, links = "", nil
	}
	resp := jsonResponse(http.StatusAccepted, itemBody[*Job]{Item: &j.job, Links: links})
	resp.location = loc
	resp.retryAfter = retryAfterValue(s.opts.RetryAfter, s.opts.RetryAfterValue, now)
	return resp
}

func (s *Server) redeploy(w http.ResponseWriter, r *http.Request, name string) {
	detached, err := detachedParam(r)
	if err != nil {
		failure(http.StatusBadRequest, "invalid __detached parameter: "+err.Error()).write(w)
		return
	}
	req, err := decodeAppRequest(r)
	if err != nil {
		failure(http.StatusBadRequest, "invalid JSON body: "+err.Error()).write(w)
		return
	}
	s.mutate(w, r, name, func(now time.Time) (response, bool) {
		switch {
		case req.Name == "":
			return failure(http.StatusBadRequest, "name is required"), false
		case req.Name != name:
			return failure(http.StatusBadRequest, "name "+strconv.Quote(req.Name)+" in the body does not match "+strconv.Quote(name)+" in the path"), false
		}
		if msg := req.checkFields(false); msg != "" {
			return failure(http.StatusBadRequest, msg), false
		}
		rec, ok := s.store.apps[name]
		if !ok {
			return notFound(name), false
		}
		if s.async(detached) && s.opts.RedeployInPlace {
			// An in-place swap: the old fields and state stay until the
			// job completes.
			return s.accepted(r, s.newJob(OpRedeploy, rec, now, &req), now), true
		}
		req.apply(&rec.app)
		rec.app.State = StateNew
		if s.async(detached) {
			return s.accepted(r, s.newJob(OpRedeploy, rec, now, nil), now), true
		}
		// A synchronous redeploy settles the application itself; no older
		// job may overwrite its outcome.
		rec.lastJob = ""
		rec.app.State = s.syncState(name)
		msg := Message{Message: "Redeployed the application '" + name + "'.", Severity: severitySuccess}
		if rec.app.State == StateFailed {
			msg = Message{Message: "Failed to redeploy the application '" + name + "'.", Severity: severityFailure}
		}
		return jsonResponse(http.StatusOK, itemBody[*Application]{Messages: []Message{msg}, Item: &rec.app}), false
	})
}

func (s *Server) undeploy(w http.ResponseWriter, r *http.Request, name string) {
	detached, err := detachedParam(r)
	if err != nil {
		failure(http.StatusBadRequest, "invalid __detached parameter: "+err.Error()).write(w)
		return
	}
	s.mutate(w, r, name, func(now time.Time) (response, bool) {
		rec, ok := s.store.apps[name]
		if !ok {
			return notFound(name), false
		}
		if s.async(detached) {
			return s.accepted(r, s.newJob(OpRemove, rec, now, nil), now), true
		}
		delete(s.store.apps, name)
		if s.opts.DeleteCode == http.StatusNoContent {
			return response{code: http.StatusNoContent}, false
		}
		return messageResponse(http.StatusOK, severitySuccess, "Undeployed the application '"+name+"'."), false
	})
}
