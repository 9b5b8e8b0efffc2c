package controllers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// TestRestartBetweenAcceptAndStatus stops the manager after the server
// accepted the deploy but before the 202 reached the operator, so the job
// is in no status. A new manager must settle it by reading the
// application, never by deploying again.
func TestRestartBetweenAcceptAndStatus(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 2 * time.Second }))
	var once sync.Once
	stopped := make(chan struct{})
	f.inj.setHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "deployments/application") {
			return false
		}
		handled := false
		once.Do(func() {
			handled = true
			next.ServeHTTP(httptest.NewRecorder(), r) // the server accepts the deploy
			go func() { f.stopManager(); close(stopped) }()
			<-r.Context().Done() // the answer never reaches the stopping operator
		})
		return handled
	})
	f.createDeployment("orders")
	<-stopped
	f.inj.setHook(nil)

	d := f.get("orders")
	f.g.Expect(d.Status.Job).To(BeNil(), "the 202 never reached the operator")
	_, onServer := f.sim.Application("orders")
	f.g.Expect(onServer).To(BeTrue())

	f.startManager()
	f.waitReady("orders")
	st := f.sim.Stats()
	f.g.Expect(st.DeploysAccepted["orders"]).To(Equal(1))
	f.g.Expect(st.RequestsByOp["deploy"]).To(Equal(1), "no second deploy was even attempted")
	f.expectNoDuplicates()
}

// TestRestartAfterJobInStatus stops the manager once the job URL is in
// status; a new manager resumes polling that job.
func TestRestartAfterJobInStatus(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 3 * time.Second }))
	f.createDeployment("orders")
	var jobURL string
	f.g.Eventually(func() string {
		if j := f.get("orders").Status.Job; j != nil {
			jobURL = j.URL
		}
		return jobURL
	}, timeout, interval).ShouldNot(BeEmpty())
	f.stopManager()
	polls := f.sim.Stats().RequestsByOp["getJob"]

	f.startManager()
	d := f.waitReady("orders")
	f.g.Expect(d.Status.Job.URL).To(Equal(jobURL))
	st := f.sim.Stats()
	f.g.Expect(st.RequestsByOp["getJob"]).To(BeNumerically(">", polls), "the new manager polled the recorded job")
	f.g.Expect(st.RequestsByOp["deploy"]).To(Equal(1))
	f.expectNoDuplicates()
}

// TestLostDeployAnswerIsNotRetriedBlindly drops the connection after the
// server applied the deploy: the outcome is unknown to the operator,
// which must read the application instead of deploying again.
func TestLostDeployAnswerIsNotRetriedBlindly(t *testing.T) {
	f := newFixture(t)
	var once sync.Once
	f.inj.setHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodPost {
			return false
		}
		handled := false
		once.Do(func() {
			handled = true
			next.ServeHTTP(httptest.NewRecorder(), r)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
				}
			}
		})
		return handled
	})
	f.createDeployment("orders")
	f.waitReady("orders")
	st := f.sim.Stats()
	f.g.Expect(st.RequestsByOp["deploy"]).To(Equal(1))
	f.expectNoDuplicates()
}
