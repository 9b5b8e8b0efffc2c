package controllers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// TestStatusCodes answers the deploy POST with each status code and checks
// the typed condition, that terminal outcomes do not retry, and that the
// Deployment recovers once the server behaves.
func TestStatusCodes(t *testing.T) {
	const jsonType = "application/json"
	cases := []struct {
		name     string
		code     int
		body     string
		ctype    string
		headers  map[string]string
		reason   string
		terminal bool
		message  string
	}{
		{"400 validation", 400, `{"messages":[{"message":"deploymentPath does not exist","severity":"FAILURE"}]}`, jsonType, nil,
			dbrestv1.ReasonInvalidSpec, true, "deploymentPath does not exist"},
		{"401", 401, "", "", nil, dbrestv1.ReasonUnauthorized, true, "HTTP 401"},
		{"403", 403, `{"messages":[{"message":"user may not deploy","severity":"FAILURE"}]}`, jsonType, nil,
			dbrestv1.ReasonForbidden, true, "user may not deploy"},
		{"404 wrong base", 404, "<html><body>Not Found</body></html>", "text/html", nil, dbrestv1.ReasonNotFound, true, "404"},
		{"405", 405, "", "", nil, dbrestv1.ReasonProtocolMismatch, true, "405"},
		{"406", 406, "", "", nil, dbrestv1.ReasonProtocolMismatch, true, "406"},
		{"415", 415, "unsupported media type", "text/plain", nil, dbrestv1.ReasonProtocolMismatch, true, "unsupported media type"},
		{"418 other", 418, "", "", nil, dbrestv1.ReasonUnexpectedStatus, true, "418"},
		{"429 with Retry-After", 429, "", "", map[string]string{"Retry-After": "1"}, dbrestv1.ReasonThrottled, false, "429"},
		{"500 plain text", 500, "database on fire", "text/plain", nil, dbrestv1.ReasonServerError, false, "database on fire"},
		{"502 from a proxy", 502, "<html><head><title>502</title></head><body><h1>Bad Gateway</h1></body></html>", "text/html", nil,
			dbrestv1.ReasonServerError, false, "Bad Gateway"},
		{"503 HTML", 503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", "text/html", nil,
			dbrestv1.ReasonServiceUnavailable, false, "Service Temporarily Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			r := f.inj.add(&rule{method: "POST", path: "deployments/application", code: tc.code, body: tc.body, ctype: tc.ctype, headers: tc.headers})
			f.createDeployment("orders")
			status := "False"
			d := f.waitFor("orders", status, tc.reason)
			msg := findCondition(d, dbrestv1.ReadyCondition).Message
			f.g.Expect(msg).To(ContainSubstring(tc.message))
			f.g.Expect(msg).NotTo(ContainSubstring("<html>"))
			f.g.Expect(d.Status.LastHTTPStatus).To(BeEquivalentTo(tc.code))
			if tc.terminal {
				f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + tc.reason))
				f.g.Consistently(func() int { return f.inj.hitsOf(r) }, 2*time.Second, 250*time.Millisecond).Should(Equal(1))
				f.inj.clear()
				f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = "1.0.1" })
			} else {
				f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("True/" + tc.reason))
				f.g.Eventually(func() int { return f.inj.hitsOf(r) }, timeout, interval).Should(BeNumerically(">=", 2))
				f.inj.clear()
			}
			f.waitReady("orders")
			f.expectNoDuplicates()
		})
	}
}

// TestProtocolVariations runs the whole life cycle against each variation
// of PROTOCOL.md that a server may show.
func TestProtocolVariations(t *testing.T) {
	cases := []struct {
		name     string
		sim      func(*simulator.Options)
		detached bool
	}{
		{"absolute Location", func(o *simulator.Options) { o.Location = simulator.LocationAbsolute }, true},
		{"relative Location", func(o *simulator.Options) { o.Location = simulator.LocationRelative }, true},
		{"body-only job link", func(o *simulator.Options) { o.Location = simulator.LocationBodyOnly }, true},
		{"Retry-After seconds", func(o *simulator.Options) {
			o.RetryAfter, o.RetryAfterValue = simulator.RetryAfterSeconds, time.Second
		}, true},
		{"Retry-After HTTP-date", func(o *simulator.Options) {
			o.RetryAfter, o.RetryAfterValue = simulator.RetryAfterDate, 2*time.Second
		}, true},
		{"sync 201 and DELETE 200", func(o *simulator.Options) { o.SyncCreateCode, o.DeleteCode = 201, 200 }, false},
		{"sync 200 with item and DELETE 204", func(o *simulator.Options) { o.SyncCreateCode, o.DeleteCode = 200, 204 }, false},
		{"202 although not detached", func(o *simulator.Options) { o.AlwaysAccept = true }, false},
		{"202 without a job link", func(o *simulator.Options) { o.NoJobLink = true }, true},
		{"jobs over at acceptance", func(o *simulator.Options) { o.JobDoneAtAcceptance = true }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withSim(tc.sim))
			f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.Detached = ptr.To(tc.detached) })
			d := f.waitReady("orders")
			if !tc.detached && f.sim.Stats().Requests["POST 201"] > 0 {
				// A 201 names the new application: its URL is recorded.
				f.g.Expect(d.Status.ApplicationURL).To(Equal(f.baseURL() + "deployments/application/id/orders"))
			}
			if d.Status.Job != nil && d.Status.Job.URL != "" {
				f.g.Expect(d.Status.Job.URL).To(HavePrefix(f.srv.URL), "job URLs are stored absolute")
				f.g.Expect(strings.Contains(d.Status.Job.URL, "/jobs/deployment/id/")).To(BeTrue())
			}
			f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/apps/orders-2.war" })
			f.g.Eventually(func() string { app, _ := f.sim.Application("orders"); return app.DeploymentPath }, timeout, interval).
				Should(Equal("/apps/orders-2.war"))
			f.waitReady("orders")
			f.delete("orders")
			f.waitGone("orders")
			_, onServer := f.sim.Application("orders")
			f.g.Expect(onServer).To(BeFalse())
			f.expectNoDuplicates()
			f.g.Expect(f.sim.Stats().DeploysAccepted["orders"]).To(Equal(1))
		})
	}
}

// TestExpiredJobIsSettledByReadingTheApplication lets the job expire
// before it is polled: the application's state settles it.
func TestExpiredJobIsSettledByReadingTheApplication(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) {
		o.JobDuration, o.JobTTL = 100*time.Millisecond, 100*time.Millisecond
	}))
	// The DatabaseAPI's first probe wakes its Deployments; wait for it so
	// that wake-up cannot poll the job before it expires.
	f.waitAPI("db", "True", dbrestv1.ReasonReachable)
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.PollInterval.Duration = 3 * time.Second })
	d := f.waitReady("orders")
	f.g.Expect(d.Status.Job.Status).To(Equal(dbrestv1.JobStatusExpired))
	f.g.Expect(f.sim.Stats().Requests["GET 404"]).To(BeNumerically(">=", 1))
	f.expectNoDuplicates()
}

// TestAcceptedWithoutJobLink answers every mutating call 202 with no job
// link (or with one on another origin) while the server carries it out:
// the operator must find each job in the server's list and follow it on
// the DatabaseAPI's own origin, through a deploy, a redeploy and an
// undeploy, sending each call once.
func TestAcceptedWithoutJobLink(t *testing.T) {
	for _, link := range []string{"", "http://jobs.invalid:9/jobs/deployment/id/1"} {
		t.Run(map[string]string{"": "no link", link: "a link on another origin"}[link], func(t *testing.T) {
			// Jobs outlast the poll interval (1s), so the job list that
			// follows each accepted call finds its job still running
			// (JobFound) even on a loaded machine.
			f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 3 * time.Second }))
			f.inj.setHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
				if r.Method != http.MethodPost && r.Method != http.MethodDelete {
					return false
				}
				next.ServeHTTP(httptest.NewRecorder(), r) // the server takes the call
				if link != "" {
					w.Header().Set("Location", link)
				}
				w.WriteHeader(http.StatusAccepted)
				_, _ = w.Write([]byte(`{"messages":[{"message":"accepted"}]}`))
				return true
			})
			f.createDeployment("orders")
			f.expectServerRunsSpec("orders")
			f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = "2.0" })
			f.expectServerRunsSpec("orders")
			f.delete("orders")
			f.waitGone("orders")
			_, onServer := f.sim.Application("orders")
			f.g.Expect(onServer).To(BeFalse())
			st := f.sim.Stats()
			f.g.Expect([]int{st.RequestsByOp["deploy"], st.RequestsByOp["redeploy"], st.RequestsByOp["undeploy"]}).To(Equal([]int{1, 1, 1}))
			f.g.Expect(st.RequestsByOp["listJobs"]).To(BeNumerically(">=", 3))
			f.expectNoDuplicates()
			f.g.Expect(f.eventReasons("orders")).To(ContainElement("JobFound"))
		})
	}
}

// TestJobFollowedAcrossURLChange edits the DatabaseAPI's url while a job
// runs (127.0.0.1 → localhost, the same server): the recorded job URL is
// then on an origin the client no longer sends credentials to, so the job
// is found again in the job list of the new origin and followed to Ready.
func TestJobFollowedAcrossURLChange(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 4 * time.Second }))
	f.createDeployment("orders")
	f.g.Eventually(func() string {
		if j := f.get("orders").Status.Job; j != nil {
			return j.URL
		}
		return ""
	}, timeout, interval).ShouldNot(BeEmpty())
	api := &dbrestv1.DatabaseAPI{}
	f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "db"}, api)).To(Succeed())
	api.Spec.URL = strings.Replace(api.Spec.URL, "127.0.0.1", "localhost", 1)
	f.g.Expect(k8s.Update(f.ctx, api)).To(Succeed())
	d := f.expectServerRunsSpec("orders")
	f.g.Expect(d.Status.Job.URL).To(HavePrefix(strings.Replace(f.srv.URL, "127.0.0.1", "localhost", 1)))
	st := f.sim.Stats()
	f.g.Expect(st.RequestsByOp["deploy"]).To(Equal(1))
	f.expectNoDuplicates()
}

// TestRedeployOfVanishedApplication removes the application between the
// operator's read and its redeploy, so the redeploy is answered 404: the
// application is deployed again at once, not reported as a wrong URL.
func TestRedeployOfVanishedApplication(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("orders")
	f.expectServerRunsSpec("orders")
	var once sync.Once
	f.inj.setHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/redeploy") {
			once.Do(func() { f.sim.DeleteApplication("orders") })
		}
		return false
	})
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = "2.0" })
	f.expectServerRunsSpec("orders")
	st := f.sim.Stats()
	f.g.Expect(st.Requests["POST 404"]).To(Equal(1), "the redeploy met the vanished application")
	f.g.Expect(st.DeploysAccepted["orders"]).To(Equal(2))
	f.expectNoDuplicates()
}

// TestStuckStateNew shows an application STATE_NEW that no recorded job
// explains: it is waited on (never called over), bounded by spec.timeout
// (JobTimedOut, still watched), and Ready once the server settles it. A
// delete while it lasts says how to leave without undeploying.
func TestStuckStateNew(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("orders", func(d *dbrestv1.Deployment) {
		d.Spec.Timeout = &metav1.Duration{Duration: 10 * time.Second}
		d.Spec.ResyncInterval = &metav1.Duration{Duration: 30 * time.Second}
	})
	f.expectServerRunsSpec("orders")
	f.g.Expect(f.sim.ChangeApplication("orders", func(a *simulator.Application) { a.State = "STATE_NEW" })).To(BeTrue())
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = "2.0" })
	f.waitFor("orders", "False", dbrestv1.ReasonDeploying)
	d := f.waitFor("orders", "False", dbrestv1.ReasonJobTimedOut)
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring("no job on record"))
	f.g.Expect(f.sim.Stats().RequestsByOp["redeploy"]).To(BeZero(), "nothing is sent over a running job")

	f.g.Expect(f.sim.ChangeApplication("orders", func(a *simulator.Application) { a.State = "STATE_ACTIVE" })).To(BeTrue())
	f.expectServerRunsSpec("orders")

	// Deleting while the server shows STATE_NEW: the delete waits, and
	// says how to leave.
	f.g.Expect(f.sim.ChangeApplication("orders", func(a *simulator.Application) { a.State = "STATE_NEW" })).To(BeTrue())
	f.delete("orders")
	f.g.Eventually(func() string { return findCondition(f.get("orders"), dbrestv1.ReadyCondition).Message }, timeout, interval).
		Should(ContainSubstring("deletionPolicy to Orphan"))
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.DeletionPolicy = dbrestv1.DeletionPolicyOrphan })
	f.waitGone("orders")
	_, onServer := f.sim.Application("orders")
	f.g.Expect(onServer).To(BeTrue(), "Orphan leaves the application")
	f.g.Expect(f.sim.Stats().RequestsByOp["undeploy"]).To(BeZero())
	f.expectNoDuplicates()
}

// TestJobLinksOnAnotherOrigin plays a proxy that writes its backend's
// address into job links: the path is the contract's job path, so the job
// is polled at that path on the DatabaseAPI's own origin, with a Warning
// that names the ignored origin, and the other origin never sees a
// request.
func TestJobLinksOnAnotherOrigin(t *testing.T) {
	var asked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(other.Close)
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobLinkOrigin = other.URL }))
	f.createDeployment("orders")
	d := f.expectServerRunsSpec("orders")
	f.g.Expect(d.Status.Job.URL).To(HavePrefix(f.srv.URL))
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = "2.0" })
	f.expectServerRunsSpec("orders")
	f.delete("orders")
	f.waitGone("orders")
	f.g.Expect(asked.Load()).To(BeZero(), "the other origin was asked")
	f.g.Expect(f.sim.Stats().RequestsByOp["listJobs"]).To(BeZero(), "the job path was enough, no list needed")
	f.g.Expect(f.warningReasons("orders")).To(ContainElement("DeployAccepted"))
	f.expectNoDuplicates()
}
