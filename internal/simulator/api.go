package simulator

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows the answer of a request whose connection is about
// to be reset.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = make(http.Header)
	}
	return w.h
}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// serveAPI handles every request outside /_sim/: faults first, then
// authentication, then protocol checks, then the operation.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt := s.route(r)
	if !rt.inAPI {
		// Outside BasePath: a wrong base URL, which no fault or
		// credential check should hide.
		sw := &statusWriter{ResponseWriter: w}
		writeFailure(sw, http.StatusNotFound, "no such path: "+r.URL.Path)
		s.finish(r, rt, codeLabel(sw.code), faultNone, start)
		return
	}
	d := s.decideFault(s.now())
	if !sleep(r.Context(), d.faults.Latency) {
		s.finish(r, rt, outcomeCanceled, d.kind, start)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	switch d.kind {
	case faultDown, faultError:
		s.writeFault(sw, d, s.now())
	case faultReset:
		s.serveChecked(&discardWriter{}, r, rt)
		// Count before dropping the connection: the client learns of the
		// reset at once and may read the stats next.
		s.finish(r, rt, outcomeReset, d.kind, start)
		resetConnection(w)
		return
	default:
		s.serveChecked(sw, r, rt)
	}
	outcome := codeLabel(sw.code)
	if sw.code == 0 && r.Context().Err() != nil {
		// Nothing written because the client left (a slow mutation).
		outcome = outcomeCanceled
	}
	s.finish(r, rt, outcome, d.kind, start)
}

// finish counts and logs one API request.
func (s *Server) finish(r *http.Request, rt route, outcome string, fault faultKind, start time.Time) {
	s.countRequest(r.Method, rt.op, outcome, fault)
	if l := s.opts.RequestLogger; l != nil {
		l.Printf("%s %s %s %s", r.Method, r.URL.RequestURI(), outcome, time.Since(start).Round(time.Microsecond))
	}
}

// serveChecked authenticates and checks the protocol, then runs the
// operation.
func (s *Server) serveChecked(w http.ResponseWriter, r *http.Request, rt route) {
	user, ok := s.authenticate(r)
	if !ok {
		h := w.Header()
		h.Add("WWW-Authenticate", `Basic realm="dbrest-sim"`)
		h.Add("WWW-Authenticate", `Bearer realm="dbrest-sim"`)
		writeFailure(w, http.StatusUnauthorized, "authentication required: missing or invalid credentials")
		return
	}
	if user.ReadOnly && isWrite(r.Method) {
		writeFailure(w, http.StatusForbidden, "user is not allowed to "+r.Method+": read-only account")
		return
	}
	if resp, bad := s.checkProtocol(r, rt); bad {
		resp.write(w)
		return
	}
	var resp response
	switch rt.op {
	case opGetApp:
		resp = s.getApp(r, rt.name)
	case opListApps:
		resp = s.listApps(r)
	case opDeploy:
		s.deploy(w, r)
		return
	case opRedeploy:
		s.redeploy(w, r, rt.name)
		return
	case opUndeploy:
		s.undeploy(w, r, rt.name)
		return
	case opGetJob:
		resp = s.getJob(r, rt.name)
	case opListJobs:
		resp = s.listJobs()
	}
	resp.write(w)
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return true
	}
	return false
}

// authenticate accepts HTTP Basic or a Bearer token.
func (s *Server) authenticate(r *http.Request) (User, bool) {
	if name, pw, ok := r.BasicAuth(); ok {
		u, found := s.opts.Users[name]
		// Compare in constant time, as a real server would; an unknown user
		// still costs a comparison.
		match := subtle.ConstantTimeCompare([]byte(pw), []byte(u.Password)) == 1
		return u, found && u.Password != "" && match
	}
	h := r.Header.Get("Authorization")
	if len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		if name, ok := s.tokens[strings.TrimSpace(h[len("Bearer "):])]; ok {
			return s.opts.Users[name], true
		}
	}
	return User{}, false
}

// checkProtocol answers 404, 405, 406, 415 or 400 (missing X-Requested-By)
// in that order, or reports the request fit to serve.
func (s *Server) checkProtocol(r *http.Request, rt route) (response, bool) {
	switch {
	case rt.allowed != "":
		resp := failure(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
		resp.allow = rt.allowed
		return resp, true
	case rt.op == opOther:
		return failure(http.StatusNotFound, "no such resource: "+r.URL.Path), true
	case !acceptsJSON(r.Header.Get("Accept")):
		return failure(http.StatusNotAcceptable, "only application/json can be produced, Accept was "+strconv.Quote(r.Header.Get("Accept"))), true
	case hasBody(r) && !isJSON(r.Header.Get("Content-Type")):
		return failure(http.StatusUnsupportedMediaType, "the request body must be application/json, Content-Type was "+strconv.Quote(r.Header.Get("Content-Type"))), true
	case isWrite(r.Method) && r.Header.Get("X-Requested-By") == "":
		return failure(http.StatusBadRequest, "the X-Requested-By header is required on "+r.Method+" requests"), true
	}
	return response{}, false
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// acceptsJSON reports whether an Accept header allows application/json.
// An absent header accepts anything.
func acceptsJSON(accept string) bool {
	if accept == "" || accept == "application/json" || accept == "*/*" {
		return true
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			return true
		}
	}
	return false
}
