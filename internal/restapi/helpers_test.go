package restapi

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Secrets used by every test client; assertions check they never show.
const (
	testUser     = "admin"
	testPassword = "s3cret-Pa55word"
	testToken    = "tok-0123456789abcdef"
	testBase     = "/management/wls/latest/"
)

// wire is one canned answer.
type wire struct {
	code   int
	header map[string]string
	body   string
}

func (w wire) write(rw http.ResponseWriter) {
	for k, v := range w.header {
		rw.Header().Set(k, v)
	}
	rw.WriteHeader(w.code)
	_, _ = rw.Write([]byte(w.body))
}

// recorder keeps the requests a test server saw.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func (r *recorder) add(req *http.Request) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(req.Body, 1<<20))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req.Clone(req.Context()))
	r.body = append(r.body, string(body))
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("the server saw no request")
	}
	return r.reqs[len(r.reqs)-1], r.body[len(r.body)-1]
}

// cannedServer answers every request with w and records it.
func cannedServer(t *testing.T, w wire) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.write(rw)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// newTestClient builds a client for srv with Basic credentials, applying
// mutate to the config first.
func newTestClient(t testing.TB, srvURL string, mutate ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL:     srvURL + testBase,
		Credentials: Credentials{Username: testUser, Password: testPassword},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// isA reports whether err matches the error class T.
func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// observation is one Observer call.
type observation struct {
	op   Operation
	code int
}

type fakeObserver struct {
	mu  sync.Mutex
	obs []observation
}

func (f *fakeObserver) ObserveRequest(op Operation, code int, d time.Duration) {
	if d < 0 {
		panic("negative duration")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.obs = append(f.obs, observation{op, code})
}

func (f *fakeObserver) all() []observation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]observation(nil), f.obs...)
}

// noSecrets fails when s shows a test secret.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	for _, secret := range []string{testPassword, testToken, basic} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows a secret: %s", what, s)
		}
	}
}

const jobInProgress = `{"id":"17","name":"ADTR-17","operation":"deploy","deploymentName":"orders",` +
	`"status":"in progress","beginTime":1764012345000,"endTime":0,"description":"deploy orders",` +
	`"targets":[{"name":"cluster1","type":"cluster","status":"in progress","errors":[]}]}`

const appOrders = `{"name":"orders","type":"application","state":"STATE_ACTIVE",` +
	`"deploymentPath":"/apps/orders-1.4.2.war","targets":["cluster1"],"planPath":"","version":"1.4.2",` +
	`"properties":{"poolSize":"20"}}`
