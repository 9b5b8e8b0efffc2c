package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

const benchApps = 10000

// benchServer returns a simulator holding benchApps applications, each
// deployed synchronously so no jobs are kept.
func benchServer(b *testing.B, opts Options) (*Server, *fakeClock) {
	b.Helper()
	clock := newFakeClock()
	opts.Clock = clock.Now
	sim := New(opts)
	b.Cleanup(sim.Close)
	h := sim.Handler()
	for i := range benchApps {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, benchRequest(b, "POST", sim.BasePath()+"deployments/application", deployBody("app-"+strconv.Itoa(i))))
		if rec.Code != http.StatusCreated {
			b.Fatalf("setup deploy: %d %s", rec.Code, rec.Body)
		}
	}
	return sim, clock
}

func benchRequest(b *testing.B, method, path string, body any) *http.Request {
	var r *http.Request
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		r = httptest.NewRequest(method, path, bytes.NewReader(raw))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Requested-By", "bench")
	r.SetBasicAuth("admin", "admin")
	return r
}

// BenchmarkGetApplication reads applications from a store of 10,000.
func BenchmarkGetApplication(b *testing.B) {
	sim, _ := benchServer(b, Options{})
	h := sim.Handler()
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		reqs[i] = benchRequest(b, "GET", sim.BasePath()+"deployments/application/id/app-"+strconv.Itoa(i*9%benchApps), nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, reqs[i%len(reqs)])
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkDeployAndPoll deploys a new application as a job and polls the
// job once, on top of 10,000 stored applications, with jobs finishing and
// expiring as the clock moves.
func BenchmarkDeployAndPoll(b *testing.B) {
	sim, clock := benchServer(b, Options{JobDuration: time.Second, JobTTL: time.Minute})
	h := sim.Handler()
	base := sim.BasePath()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		req := benchRequest(b, "POST", base+"deployments/application?__detached=true", deployBody("new-"+strconv.Itoa(i)))
		b.StartTimer()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("deploy: %d %s", rec.Code, rec.Body)
		}
		var body envelope[Job]
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			b.Fatal(err)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, benchRequest(b, "GET", base+"jobs/deployment/id/"+body.Item.ID, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("poll: %d", rec.Code)
		}
		clock.Advance(10 * time.Millisecond)
	}
}
