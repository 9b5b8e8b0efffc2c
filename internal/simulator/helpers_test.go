package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand, so job progress needs no sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness drives a simulator through its handler with a fake clock.
type harness struct {
	t     *testing.T
	sim   *Server
	clock *fakeClock
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	clock := newFakeClock()
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	if opts.JobDuration == 0 {
		opts.JobDuration = time.Second
	}
	sim := New(opts)
	t.Cleanup(sim.Close)
	return &harness{t: t, sim: sim, clock: clock}
}

// reqOption changes a request before it is sent.
type reqOption func(*http.Request)

func withHeader(k, v string) reqOption { return func(r *http.Request) { r.Header.Set(k, v) } }
func withoutHeader(k string) reqOption { return func(r *http.Request) { r.Header.Del(k) } }
func withBasic(u, p string) reqOption  { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
func withBearer(tok string) reqOption {
	return withHeader("Authorization", "Bearer "+tok)
}

// newRequest builds a well-formed API request: path is relative to the
// base path unless it starts with "/"; body is JSON-encoded unless it is a
// string, which is sent as is.
func (h *harness) newRequest(method, path string, body any, opts ...reqOption) *http.Request {
	h.t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = h.sim.BasePath() + path
	}
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	var r *http.Request
	if rd != nil {
		r = httptest.NewRequest(method, path, rd)
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Requested-By", "test")
	r.SetBasicAuth("admin", "admin")
	for _, o := range opts {
		o(r)
	}
	return r
}

func (h *harness) do(method, path string, body any, opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.sim.Handler().ServeHTTP(rec, h.newRequest(method, path, body, opts...))
	return rec
}

// deployBody is a valid deploy request for name.
func deployBody(name string) map[string]any {
	return map[string]any{
		"name": name, "deploymentPath": "/apps/" + name + ".war",
		"targets": []string{"cluster1"}, "version": "1.0",
		"properties": map[string]string{"poolSize": "20"},
	}
}

// deployDetached deploys name as a job and returns the job.
func (h *harness) deployDetached(name string) Job {
	h.t.Helper()
	rec := h.do("POST", "deployments/application?__detached=true", deployBody(name))
	expectCode(h.t, rec, http.StatusAccepted)
	return decodeItem[Job](h.t, rec)
}

// getJob reads a job; the caller checks the code.
func (h *harness) getJob(id string) *httptest.ResponseRecorder {
	return h.do("GET", "jobs/deployment/id/"+id, nil)
}

func expectCode(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status %d, want %d; body %s", rec.Code, want, rec.Body.String())
	}
}

type envelope[T any] struct {
	Messages []Message `json:"messages"`
	Item     T         `json:"item"`
	Links    []Link    `json:"links"`
}

func decodeEnvelope[T any](t *testing.T, rec *httptest.ResponseRecorder) envelope[T] {
	t.Helper()
	var e envelope[T]
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("decoding %q: %v", rec.Body.String(), err)
	}
	return e
}

func decodeItem[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	return decodeEnvelope[T](t, rec).Item
}

// firstMessage returns the first message of a JSON messages body.
func firstMessage(t *testing.T, rec *httptest.ResponseRecorder) Message {
	t.Helper()
	var b messagesBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || len(b.Messages) == 0 {
		t.Fatalf("want a messages body, got %q (%v)", rec.Body.String(), err)
	}
	return b.Messages[0]
}

func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decoding %q: %v", rec.Body.String(), err)
	}
}
