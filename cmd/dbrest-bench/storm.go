package main

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// storm stands in front of the simulator. While a storm is on it answers
// every REST API request with 503 and Retry-After: 1, as a server that is
// down behind its proxy would, and counts the requests per second of the
// storm: the load a failing server gets from the operator.
type storm struct {
	next http.Handler
	// prefix is the API's base path; other paths (the simulator's admin
	// endpoints) always pass.
	prefix string
	now    func() time.Time

	mu        sync.Mutex
	start     time.Time
	end       time.Time
	perSecond []int
}

// stormResult is what the server received during a storm.
type stormResult struct {
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	// PerDeployment is Requests divided by N.
	PerDeployment float64 `json:"requestsPerDeployment"`
	// PerSecond is the mean over the storm; SecondHalfPerSecond the mean
	// over its second half, once every client has met it and backed off;
	// PeakPerSecond the busiest second.
	PerSecond           float64 `json:"requestsPerSecond"`
	SecondHalfPerSecond float64 `json:"secondHalfRequestsPerSecond"`
	PeakPerSecond       int     `json:"peakRequestsPerSecond"`
	// EachSecond is the requests received in each second of the storm.
	EachSecond []int `json:"eachSecond"`
}

func newStorm(next http.Handler, prefix string) *storm {
	return &storm{next: next, prefix: prefix, now: time.Now}
}

// begin starts a storm of duration d now.
func (s *storm) begin(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = s.now()
	s.end = s.start.Add(d)
	s.perSecond = make([]int, int((d+time.Second-1)/time.Second))
}

func (s *storm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, s.prefix) && s.refuse() {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("503 Service Unavailable (dbrest-bench storm)\n"))
		return
	}
	s.next.ServeHTTP(w, r)
}

// refuse counts a request and says whether a storm is on.
func (s *storm) refuse() bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.start) || !now.Before(s.end) {
		return false
	}
	s.perSecond[int(now.Sub(s.start)/time.Second)]++
	return true
}

// result ends the storm, if it still runs, and sums it up for n
// Deployments.
func (s *storm) result(n int) stormResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Before(s.end) {
		s.end = now
		s.perSecond = s.perSecond[:min(int(now.Sub(s.start)/time.Second)+1, len(s.perSecond))]
	}
	r := stormResult{Seconds: s.end.Sub(s.start).Seconds(), EachSecond: append([]int(nil), s.perSecond...)}
	half := len(s.perSecond) / 2
	for i, c := range s.perSecond {
		r.Requests += c
		r.PeakPerSecond = max(r.PeakPerSecond, c)
		if i >= half {
			r.SecondHalfPerSecond += float64(c)
		}
	}
	if r.Seconds > 0 {
		r.PerSecond = float64(r.Requests) / r.Seconds
	}
	if secs := len(s.perSecond) - half; secs > 0 {
		r.SecondHalfPerSecond /= float64(secs)
	}
	r.PerDeployment = float64(r.Requests) / float64(n)
	return r
}
