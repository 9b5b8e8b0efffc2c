package controllers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
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
	f.g.Expect(d.Status.Job).NotTo(BeNil(), "the intent is in status before the call")
	f.g.Expect(d.Status.Job.Status).To(Equal(dbrestv1.JobStatusPending))
	f.g.Expect(d.Status.Job.URL).To(BeEmpty(), "the 202 never reached the operator")
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

// TestLostAnswers loses the answer to a deploy or a redeploy that the
// server carried out: a connection reset after the server acted, or a
// proxy's 504 while a slow server still acts, against a server that shows
// a redeploy's fields at once and against an in-place swap server. The
// operator must settle each call through the server's job list, never
// send it twice, and end with the server running the spec.
func TestLostAnswers(t *testing.T) {
	resetAfter := func(suffix string) func(*fixture) {
		return func(f *fixture) {
			var once sync.Once
			f.inj.setHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, suffix) {
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
		}
	}
	behindProxy := func(o *simulator.Options) {
		o.MutationDelay, o.ProxyTimeout = 600*time.Millisecond, 200*time.Millisecond
	}
	cases := []struct {
		name  string
		op    string
		sim   func(*simulator.Options)
		setup func(*fixture)
	}{
		{"deploy, connection reset", "deploy", func(*simulator.Options) {}, resetAfter("/deployments/application")},
		{"redeploy, connection reset", "redeploy", func(*simulator.Options) {}, resetAfter("/redeploy")},
		{"redeploy on an in-place server, connection reset", "redeploy",
			func(o *simulator.Options) { o.RedeployInPlace = true }, resetAfter("/redeploy")},
		{"deploy behind a proxy that answers 504", "deploy", behindProxy, func(*fixture) {}},
		{"redeploy on an in-place server behind a proxy that answers 504", "redeploy",
			func(o *simulator.Options) { behindProxy(o); o.RedeployInPlace = true }, func(*fixture) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = time.Second; tc.sim(o) }))
			if tc.op == "deploy" {
				tc.setup(f)
			}
			f.createDeployment("orders")
			f.expectServerRunsSpec("orders")
			if tc.op == "redeploy" {
				tc.setup(f)
				f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/apps/orders-2.0.war" })
				f.expectServerRunsSpec("orders")
			}
			st := f.sim.Stats()
			f.g.Expect(st.RequestsByOp[tc.op]).To(Equal(1), "the %s was sent once", tc.op)
			f.g.Expect(st.RequestsByOp["listJobs"]).To(BeNumerically(">=", 1), "the lost call was settled through the job list")
			f.g.Expect(st.OverlappingMutating).To(BeZero())
			f.expectNoDuplicates()
		})
	}
}
