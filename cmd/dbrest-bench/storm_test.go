package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestStorm(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s := newStorm(next, "/api/")
	s.now = func() time.Time { return now }
	get := func(path string) *http.Response {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Result()
	}
	g.Expect(get("/api/jobs").StatusCode).To(Equal(http.StatusOK), "no storm yet")

	s.begin(4 * time.Second)
	// 3 requests in second 0, 1 in second 1, none in 2, 2 in second 3.
	for _, at := range []time.Duration{0, 100 * time.Millisecond, 999 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 3900 * time.Millisecond} {
		now = s.start.Add(at)
		resp := get("/api/applications")
		g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
		g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"))
	}
	g.Expect(get("/_sim/stats").StatusCode).To(Equal(http.StatusOK), "only the API is down")
	now = s.start.Add(4 * time.Second)
	g.Expect(get("/api/jobs").StatusCode).To(Equal(http.StatusOK), "the storm is over")

	r := s.result(3)
	g.Expect(r.EachSecond).To(Equal([]int{3, 1, 0, 2}))
	g.Expect(r.Requests).To(Equal(6))
	g.Expect(r.Seconds).To(Equal(4.0))
	g.Expect(r.PerDeployment).To(Equal(2.0))
	g.Expect(r.PerSecond).To(Equal(1.5))
	g.Expect(r.SecondHalfPerSecond).To(Equal(1.0))
	g.Expect(r.PeakPerSecond).To(Equal(3))
}

func TestStormEndedEarly(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStorm(http.NotFoundHandler(), "/")
	s.now = func() time.Time { return now }
	s.begin(10 * time.Second)
	now = now.Add(2500 * time.Millisecond)
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	r := s.result(1)
	g.Expect(r.Seconds).To(Equal(2.5))
	g.Expect(r.EachSecond).To(Equal([]int{0, 0, 1}))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
	g.Expect(w.Code).To(Equal(http.StatusNotFound), "a result ends the storm")
}
