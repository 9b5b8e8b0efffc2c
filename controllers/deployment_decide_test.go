package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func at(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func ordersSpec() *dbrestv1.DeploymentSpec {
	return &dbrestv1.DeploymentSpec{
		DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
		Application: dbrestv1.ApplicationSpec{Name: "orders", DeploymentPath: "/apps/orders-2.war",
			Targets: []string{"cluster1", "cluster2"}, PlanPath: "/plans/orders.xml", Version: "2",
			Properties: map[string]string{"poolSize": "20"}},
	}
}

// serverApp is the application as a server that runs spec shows it.
func serverApp(spec *dbrestv1.DeploymentSpec, state string) *restapi.Application {
	a := spec.Application
	return &restapi.Application{Name: a.Name, State: state, DeploymentPath: a.DeploymentPath,
		Targets: []string{a.Targets[1], a.Targets[0]}, PlanPath: a.PlanPath, Version: a.Version, Properties: a.Properties}
}

func fpOf(spec *dbrestv1.DeploymentSpec) string { return fingerprint(&spec.Application) }

// observed builds an observation of a Deployment that has its finalizer,
// a usable DatabaseAPI and nothing else yet; each option adds a fact.
func observed(opts ...func(*observation)) *observation {
	o := &observation{now: t0, generation: 1, spec: ordersSpec(), finalizer: true, connKey: "conn-1",
		requestTimeout: 30 * time.Second, resync: 10 * time.Minute, maxPoll: time.Minute,
		// The Deployment manages its application; unclaimed undoes it.
		status: dbrestv1.DeploymentStatus{ClaimedAt: at(t0.Add(-2 * time.Hour))}}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// unclaimed: a new Deployment, which has not deployed nor adopted its
// application yet.
func unclaimed(o *observation) { o.status.ClaimedAt = nil }

// applied: the server was seen running the spec, syncedAgo ago.
func applied(syncedAgo time.Duration) func(*observation) {
	return func(o *observation) {
		o.status.LastAppliedFingerprint = fpOf(o.spec)
		o.status.LastSyncedAt = at(t0.Add(-syncedAgo))
		o.status.Job = &dbrestv1.JobRecord{URL: "http://db/jobs/1", Operation: dbrestv1.JobOperationDeploy,
			Status: dbrestv1.JobStatusCompleted, Fingerprint: fpOf(o.spec), StartedAt: *at(t0.Add(-time.Hour))}
	}
}

func withApp(app *restapi.Application) func(*observation) {
	return func(o *observation) { o.app = &appResult{app: app} }
}

func withAppErr(err error) func(*observation) {
	return func(o *observation) { o.app = &appResult{err: err} }
}

func withJob(op dbrestv1.JobOperation, status string, startedAgo time.Duration) func(*observation) {
	return func(o *observation) {
		rec := &dbrestv1.JobRecord{Operation: op, Status: status, StartedAt: *at(t0.Add(-startedAgo))}
		if status != dbrestv1.JobStatusPending {
			rec.URL = "http://db/jobs/7"
		}
		if op != dbrestv1.JobOperationUndeploy {
			rec.Fingerprint = fpOf(o.spec)
		}
		o.status.Job = rec
	}
}

func withPoll(status string, err error) func(*observation) {
	return func(o *observation) {
		if err != nil {
			o.poll = &pollResult{err: err}
			return
		}
		job := restapi.Job{ID: "7", Status: status}
		if status == restapi.JobFailed {
			job.Targets = []restapi.JobTarget{{Name: "cluster1", Errors: []string{"plan not found"}}}
		}
		o.poll = &pollResult{job: &restapi.JobStatus{Job: job, StatusCode: 200}}
	}
}

func withCall(op dbrestv1.JobOperation, res *restapi.Result, err error) func(*observation) {
	return func(o *observation) {
		withJob(op, dbrestv1.JobStatusPending, 0)(o)
		o.call = &callResult{op: op, res: res, err: err}
	}
}

func withJobs(jobs ...listedJob) func(*observation) {
	return func(o *observation) { o.jobs = &jobsResult{jobs: jobs} }
}

func serverJob(id, op, status string, begin time.Time) listedJob {
	j := restapi.Job{ID: id, Operation: op, DeploymentName: "orders", Status: status, BeginTime: begin.UnixMilli()}
	return listedJob{Job: j, url: "http://db/jobs/" + id}
}

func deleting(o *observation) { o.deleting = true }

func changeSpec(mut func(*dbrestv1.ApplicationSpec)) func(*observation) {
	return func(o *observation) { mut(&o.spec.Application) }
}

func statusErr(code int) restapi.StatusError {
	return restapi.StatusError{Code: code, Messages: []string{"server says no"}}
}

var (
	err400 = &restapi.InvalidRequestError{StatusError: statusErr(400)}
	err401 = &restapi.UnauthorizedError{StatusError: statusErr(401)}
	err404 = &restapi.NotFoundError{StatusError: statusErr(404)}
	err429 = &restapi.ThrottledError{StatusError: statusErr(429)}
	err500 = &restapi.ServerError{StatusError: statusErr(500)}
	err503 = &restapi.UnavailableError{StatusError: statusErr(503)}
	err504 = &restapi.UnexpectedStatusError{StatusError: statusErr(504)}
	// errTimeout: the request left and no answer came.
	errTimeout = &restapi.TransportError{Err: context.DeadlineExceeded, Mutating: true, Timeout: true}
	// errRefusedConn: the connection was refused; nothing was sent.
	errRefusedConn = &restapi.TransportError{Err: context.Canceled, Mutating: true, NotSent: true}
	// errNoLink: a 202 without a usable job link.
	errNoLink = &restapi.ProtocolError{StatusError: statusErr(202), Reason: "202 without a job link"}
)

var (
	accepted = &restapi.Result{Outcome: restapi.OutcomeAccepted, StatusCode: 202, JobURL: "http://db/jobs/8"}
	syncDone = &restapi.Result{Outcome: restapi.OutcomeDone, StatusCode: 200}
	deleted  = &restapi.Result{Outcome: restapi.OutcomeDone, StatusCode: 204}
)

// want describes a decision; empty fields are not checked.
type want struct {
	action  action
	op      dbrestv1.JobOperation
	phase   conditions.Phase
	reason  string
	message string
	keep    bool
	requeue time.Duration
	retry   bool
	event   string
	// status checks the status the decision records.
	status func(g Gomega, st *dbrestv1.DeploymentStatus)
}

func TestDecide(t *testing.T) {
	fp := fpOf(ordersSpec())
	pendingJob := func(op dbrestv1.JobOperation) func(g Gomega, st *dbrestv1.DeploymentStatus) {
		return func(g Gomega, st *dbrestv1.DeploymentStatus) {
			g.Expect(st.Job).NotTo(BeNil())
			g.Expect(st.Job.Status).To(Equal(dbrestv1.JobStatusPending))
			g.Expect(st.Job.Operation).To(Equal(op))
			g.Expect(st.Job.URL).To(BeEmpty())
		}
	}
	intent := func(op dbrestv1.JobOperation) func(g Gomega, st *dbrestv1.DeploymentStatus) {
		return func(g Gomega, st *dbrestv1.DeploymentStatus) {
			pendingJob(op)(g, st)
			g.Expect(st.Job.StartedAt.Time).To(Equal(t0))
			if op != dbrestv1.JobOperationUndeploy {
				g.Expect(st.Job.Fingerprint).To(Equal(fp))
				g.Expect(st.LastAppliedFingerprint).To(BeEmpty(), "nothing is applied while a call is out")
			}
		}
	}
	failedKey := func(recheck time.Duration) func(g Gomega, st *dbrestv1.DeploymentStatus) {
		return func(g Gomega, st *dbrestv1.DeploymentStatus) {
			g.Expect(st.LastFailedFingerprint).To(Equal(failureKey(fp, "conn-1")))
			if recheck == 0 {
				g.Expect(st.RecheckAt).To(BeNil())
			} else {
				g.Expect(st.RecheckAt).NotTo(BeNil())
				g.Expect(st.RecheckAt.Time).To(Equal(t0.Add(recheck)))
			}
		}
	}
	noJob := func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.Job).To(BeNil()) }
	appliedNow := func(g Gomega, st *dbrestv1.DeploymentStatus) {
		g.Expect(st.LastAppliedFingerprint).To(Equal(fp))
		g.Expect(st.LastFailedFingerprint).To(BeEmpty())
		g.Expect(st.LastSyncedAt.Time).To(Equal(t0))
	}
	deploy, redeploy, undeploy := dbrestv1.JobOperationDeploy, dbrestv1.JobOperationRedeploy, dbrestv1.JobOperationUndeploy
	pending, running := dbrestv1.JobStatusPending, dbrestv1.JobStatusInProgress
	active := restapi.StateActive

	cases := []struct {
		name string
		obs  *observation
		want want
	}{
		// Before any call.
		{"a new object gets its finalizer first", observed(func(o *observation) { o.finalizer = false }),
			want{action: actAddFinalizer}},
		{"Conflict: another Deployment owns the application", observed(func(o *observation) { o.owner = "orders-old" }),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonConflict, message: `managed by Deployment orders-old`}},
		{"Suspended: no call at all", observed(func(o *observation) { o.spec.Suspend = true }),
			want{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended}},
		{"DatabaseAPINotReady blocks every call", observed(func(o *observation) {
			o.blocked = &outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonDatabaseAPINotReady, message: "not ready"}
		}), want{phase: conditions.Stalled, reason: dbrestv1.ReasonDatabaseAPINotReady}},

		// Converging.
		{"a new spec is read from the server first", observed(), want{action: actReadApp}},
		{"Deploying: an absent application is deployed, intent first", observed(withAppErr(err404)),
			want{action: actSend, op: deploy, status: intent(deploy)}},
		{"Deployed: applied and no resync due, no call", observed(applied(time.Minute)),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, requeue: 9 * time.Minute}},
		{"a due resync reads the application", observed(applied(11 * time.Minute)), want{action: actReadApp}},
		{"Deployed: a resync that finds the spec", observed(applied(11*time.Minute), withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, requeue: 10 * time.Minute, status: appliedNow}},
		{"drift (an out-of-band change) is redeployed with a warning",
			observed(applied(11*time.Minute), withApp(func() *restapi.Application {
				a := serverApp(ordersSpec(), active)
				a.Version = "1"
				return a
			}())),
			want{action: actSend, op: redeploy, event: eventDriftDetected, status: intent(redeploy)}},
		{"an application removed out of band is deployed again with a warning",
			observed(applied(11*time.Minute), withAppErr(err404)),
			want{action: actSend, op: deploy, event: eventDriftDetected}},
		{"an added optional field the server lacks is redeployed (empty fields compared)",
			observed(applied(time.Minute), func(o *observation) { o.status.LastAppliedFingerprint, o.status.Job.Fingerprint = "old", "old" },
				withApp(func() *restapi.Application { a := serverApp(ordersSpec(), active); a.PlanPath = ""; return a }())),
			want{action: actSend, op: redeploy, status: intent(redeploy)}},
		{"a removed optional field the server keeps is redeployed",
			observed(applied(time.Minute), changeSpec(func(a *dbrestv1.ApplicationSpec) { a.Properties = nil }),
				func(o *observation) { o.status.LastAppliedFingerprint, o.status.Job.Fingerprint = "old", "old" },
				withApp(serverApp(ordersSpec(), active))),
			want{action: actSend, op: redeploy}},
		{"a changed spec the server already runs needs no call",
			observed(func(o *observation) { o.status.LastAppliedFingerprint = "old" }, withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, status: appliedNow}},
		{"a reordering of targets is no change", observed(applied(time.Minute),
			changeSpec(func(a *dbrestv1.ApplicationSpec) { a.Targets = []string{"cluster2", "cluster1"} })),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed}},
		{"Deploying: STATE_NEW with no job on record is waited on", observed(withApp(serverApp(ordersSpec(), restapi.StateNew))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, requeue: 5 * time.Second}},
		{"JobTimedOut: STATE_NEW with no job on record for longer than spec.timeout",
			observed(withApp(serverApp(ordersSpec(), restapi.StateNew)), func(o *observation) {
				o.status.ApplicationState = restapi.StateNew
				o.status.ApplicationStateSince = at(t0.Add(-31 * time.Minute))
			}),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobTimedOut, requeue: time.Minute, event: eventJobTimedOut,
				message: "STATE_NEW on the server for 31m0s"}},
		{"JobFailed: STATE_FAILED with this spec", observed(withApp(serverApp(ordersSpec(), restapi.StateFailed))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, status: failedKey(0)}},
		{"STATE_FAILED with another spec is redeployed", observed(withApp(func() *restapi.Application {
			a := serverApp(ordersSpec(), restapi.StateFailed)
			a.DeploymentPath = "/apps/orders-1.war"
			return a
		}())), want{action: actSend, op: redeploy}},
		{"a failure of this spec waits for a change: no read, conditions kept",
			observed(func(o *observation) { o.status.LastFailedFingerprint = failureKey(fp, "conn-1") }),
			want{keep: true, requeue: 0}},
		{"a failure with a recheck waits for it", observed(func(o *observation) {
			o.status.LastFailedFingerprint = failureKey(fp, "conn-1")
			o.status.RecheckAt = at(t0.Add(4 * time.Minute))
		}), want{keep: true, requeue: 4 * time.Minute}},
		{"a due recheck reads again", observed(func(o *observation) {
			o.status.LastFailedFingerprint = failureKey(fp, "conn-1")
			o.status.RecheckAt = at(t0.Add(-time.Second))
		}), want{action: actReadApp}},
		{"a new connection (Secret rotated) gets one more attempt",
			observed(func(o *observation) { o.status.LastFailedFingerprint = failureKey(fp, "conn-0") }),
			want{action: actReadApp}},
		{"Unauthorized on the read is rechecked every 5m", observed(withAppErr(err401)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonUnauthorized, event: eventRequestFailed, requeue: credentialsRecheck,
				status: failedKey(credentialsRecheck)}},
		{"ServiceUnavailable on the read is retried with backoff", observed(withAppErr(err503)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonServiceUnavailable, retry: true}},

		// The answer to the call just sent.
		{"Deploying: a 202 records the job URL, with no event until the call ends", observed(withCall(deploy, accepted, nil)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, requeue: 5 * time.Second,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
					g.Expect(st.Job.URL).To(Equal("http://db/jobs/8"))
					g.Expect(st.Job.Status).To(Equal(running))
					g.Expect(st.LastHTTPStatus).To(BeEquivalentTo(202))
				}}},
		{"a 202 whose body shows the job completed goes straight to the read-back",
			observed(withCall(redeploy, &restapi.Result{Outcome: restapi.OutcomeAccepted, StatusCode: 202, JobURL: "http://db/jobs/8",
				Job: &restapi.Job{ID: "8", Status: restapi.JobCompleted}}, nil)),
			want{action: actReadApp, event: eventRedeployed, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.Job.Status).To(Equal(dbrestv1.JobStatusCompleted))
			}}},
		{"a 202 whose body shows the job failed is JobFailed at once",
			observed(withCall(deploy, &restapi.Result{Outcome: restapi.OutcomeAccepted, StatusCode: 202, JobURL: "http://db/jobs/8",
				Job: &restapi.Job{ID: "8", Status: restapi.JobFailed}}, nil)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, status: failedKey(0)}},
		{"a 201 records the application's URL", observed(withCall(deploy,
			&restapi.Result{Outcome: restapi.OutcomeDone, StatusCode: 201, ApplicationURL: "http://db/apps/orders"}, nil)),
			want{action: actReadApp, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.ApplicationURL).To(Equal("http://db/apps/orders"))
			}}},
		{"a job link rebased from another origin is polled, with a warning naming the origin",
			observed(withCall(deploy, &restapi.Result{Outcome: restapi.OutcomeAccepted, StatusCode: 202, JobURL: "http://db/jobs/8",
				IgnoredOrigin: "http://backend:8001"}, nil)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, event: eventDeployAccepted,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.Job.URL).To(Equal("http://db/jobs/8")) }}},
		{"a synchronous answer is verified by a read before Ready", observed(withCall(deploy, syncDone, nil)),
			want{action: actReadApp, event: eventDeployed, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.Job.Status).To(Equal(dbrestv1.JobStatusCompleted))
			}}},
		{"a deploy answered 400 reads the application first", observed(withCall(deploy, nil, err400)), want{action: actReadApp}},
		{"InvalidSpec: a 400 is a refusal, recorded until the spec changes", observed(withCall(deploy, nil, err400), withAppErr(err404)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonInvalidSpec, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				noJob(g, st)
				failedKey(0)(g, st)
			}}},
		{"Throttled: a 429 is a refusal, retried with backoff", observed(withCall(redeploy, nil, err429)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonThrottled, retry: true, status: noJob}},
		{"Unreachable: a connection never opened is a refusal", observed(withCall(deploy, nil, errRefusedConn)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonUnreachable, retry: true, status: noJob}},
		{"a proxy's 504 leaves the outcome unknown: the intent stays", observed(withCall(deploy, nil, err504)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonServerError, requeue: 31 * time.Second,
				event: eventOutcomeUnknown, status: pendingJob(deploy)}},
		{"a 500 leaves the outcome unknown", observed(withCall(redeploy, nil, err500)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonServerError, status: pendingJob(redeploy)}},
		{"a 503 leaves the outcome unknown", observed(withCall(undeploy, nil, err503), deleting),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonServiceUnavailable, status: pendingJob(undeploy)}},
		{"a time-out leaves the outcome unknown", observed(withCall(redeploy, nil, errTimeout)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonUnreachable, status: pendingJob(redeploy)}},
		{"a 202 without a usable job link was still accepted", observed(withCall(deploy, nil, errNoLink)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, requeue: 5 * time.Second, event: eventOutcomeUnknown,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
					g.Expect(st.Job.Status).To(Equal(dbrestv1.JobStatusAccepted))
				}}},
		{"a 202 with a link on another origin was still accepted", observed(withCall(redeploy, nil,
			&restapi.OriginError{StatusError: statusErr(202), Want: "http://db", Got: "http://jobs"})),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, message: "http://jobs"}},
		{"an accepted call's job is looked for at once", observed(withJob(deploy, dbrestv1.JobStatusAccepted, time.Second)),
			want{action: actListJobs}},
		{"an accepted call's listed job is polled on the API's own origin", observed(withJob(deploy, dbrestv1.JobStatusAccepted, time.Second),
			withJobs(serverJob("6", "deploy", restapi.JobInProgress, t0))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, event: eventJobFound,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.Job.URL).To(Equal("http://db/jobs/6")) }}},
		{"an accepted call with no job reads the application", observed(withJob(deploy, dbrestv1.JobStatusAccepted, time.Second), withJobs()),
			want{action: actReadApp}},
		{"an accepted call whose effect shows is settled", observed(withJob(deploy, dbrestv1.JobStatusAccepted, time.Second), withJobs(),
			withApp(serverApp(ordersSpec(), restapi.StateActive))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, status: appliedNow}},
		{"an accepted undeploy with no job is followed through the application", observed(deleting,
			withJob(undeploy, dbrestv1.JobStatusAccepted, time.Minute), withJobs(), withApp(serverApp(ordersSpec(), restapi.StateActive))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying, requeue: 5 * time.Second, message: "following it"}},
		{"...until it is gone", observed(deleting, withJob(undeploy, dbrestv1.JobStatusAccepted, time.Minute), withJobs(), withAppErr(err404)),
			want{action: actRelease, event: eventUndeployed}},
		{"...bounded by spec.timeout", observed(deleting,
			withJob(undeploy, dbrestv1.JobStatusAccepted, time.Hour), withJobs(), withApp(serverApp(ordersSpec(), restapi.StateActive))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonProtocolMismatch, requeue: protocolRecheck}},
		{"ProtocolMismatch: an accepted deploy with no job and no application is not sent again",
			observed(withJob(deploy, dbrestv1.JobStatusAccepted, time.Second), withJobs(), withAppErr(err404)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonProtocolMismatch, requeue: protocolRecheck, event: eventRequestFailed,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
					noJob(g, st)
					failedKey(protocolRecheck)(g, st)
				}}},
		{"a redeploy answered 404 reads the application again", observed(withCall(redeploy, nil, err404)),
			want{action: actReadApp, status: noJob}},
		{"...and deploys at once when it vanished", observed(withCall(redeploy, nil, err404), func(o *observation) {
			o.status.Job = nil
			o.app = &appResult{err: err404}
		}), want{action: actSend, op: deploy, status: intent(deploy)}},
		{"...and stalls when it is there (a wrong redeploy path)", observed(withCall(redeploy, nil, err404), func(o *observation) {
			o.status.Job = nil
			a := serverApp(ordersSpec(), active)
			a.Version = "1"
			o.app = &appResult{app: a}
		}), want{phase: conditions.Stalled, reason: dbrestv1.ReasonNotFound, status: failedKey(protocolRecheck)}},
		{"never two calls in one reconcile", observed(withCall(deploy, syncDone, nil), func(o *observation) {
			o.status.Job = nil
			o.app = &appResult{err: err404}
		}), want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, requeue: time.Second}},

		// Settling a call whose outcome is unknown.
		{"an intent is not settled before the request timeout", observed(withJob(redeploy, pending, 10*time.Second)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, requeue: 21 * time.Second, message: "outcome"}},
		{"...nor before the request timeout after the call left, however old startedAt is (a slow intent write)",
			observed(withJob(redeploy, pending, time.Minute), func(o *observation) { o.sentBy = t0.Add(-10 * time.Second) }),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, requeue: 20 * time.Second, message: "outcome"}},
		{"then the server's jobs are listed", observed(withJob(redeploy, pending, time.Minute)), want{action: actListJobs}},
		{"...also when the call left a request timeout ago",
			observed(withJob(redeploy, pending, time.Minute), func(o *observation) { o.sentBy = t0.Add(-30 * time.Second) }),
			want{action: actListJobs}},
		{"its running job is adopted and polled (an in-place swap shows nothing else)",
			observed(withJob(redeploy, pending, time.Minute), withJobs(
				serverJob("3", "redeploy", restapi.JobCompleted, t0.Add(-time.Hour)),
				serverJob("9", "redeploy", restapi.JobInProgress, t0.Add(-50*time.Second)))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, event: eventJobFound,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
					g.Expect(st.Job.URL).To(Equal("http://db/jobs/9"))
					g.Expect(st.Job.Status).To(Equal(running))
				}}},
		{"another running job of the application is waited on, never called over",
			observed(withJob(redeploy, pending, time.Minute), withJobs(serverJob("4", "deploy", restapi.JobInProgress, t0.Add(-2*time.Hour)))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, status: pendingJob(redeploy)}},
		{"its failed job is JobFailed", observed(withJob(redeploy, pending, time.Minute),
			withJobs(serverJob("9", "redeploy", restapi.JobFailed, t0.Add(-50*time.Second)))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, status: failedKey(0)}},
		{"a completed job matched by time leaves the decision to the application", observed(withJob(redeploy, pending, time.Minute),
			withJobs(serverJob("9", "redeploy", restapi.JobCompleted, t0.Add(-50*time.Second)))),
			want{action: actReadApp, status: noJob}},
		{"a found job that completed, with the server showing other fields, is sent again (it may not have been this call)",
			observed(withJob(redeploy, dbrestv1.JobStatusCompleted, time.Second), func(o *observation) { o.status.Job.Found = true },
				withApp(func() *restapi.Application { a := serverApp(ordersSpec(), active); a.Version = "1"; return a }())),
			want{action: actSend, op: redeploy}},
		{"an old job does not settle a new intent", observed(withJob(redeploy, pending, time.Minute),
			withJobs(serverJob("3", "redeploy", restapi.JobFailed, t0.Add(-time.Hour)))),
			want{action: actReadApp, status: noJob}},
		{"no job, and the application runs the intended spec: done, no second call",
			observed(withJob(redeploy, pending, time.Minute), withJobs(), withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, status: appliedNow}},
		{"no job, and no application: the deploy never happened and is sent again",
			observed(withJob(deploy, pending, time.Minute), withJobs(), withAppErr(err404)),
			want{action: actSend, op: deploy, status: intent(deploy)}},
		{"listing the jobs fails: retried, the intent stays", observed(withJob(deploy, pending, time.Minute),
			func(o *observation) { o.jobs = &jobsResult{err: err503} }),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonServiceUnavailable, retry: true, status: pendingJob(deploy)}},

		// Following a job.
		{"a job in progress is polled", observed(withJob(deploy, running, 0)), want{action: actPollJob}},
		{"Redeploying: still in progress", observed(withJob(redeploy, running, 3*time.Second), withPoll(restapi.JobInProgress, nil)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, requeue: 5 * time.Second,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
					// Nothing changes, so nothing is written.
					g.Expect(st.Job.Status).To(Equal(running))
					g.Expect(st.LastHTTPStatus).To(BeZero())
				}}},
		{"a long job is polled less often, as a third of the time it ran", observed(withJob(redeploy, running, 3*time.Minute),
			withPoll(restapi.JobInProgress, nil)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying, requeue: time.Minute}},
		{"JobTimedOut: still in progress after spec.timeout, still polled",
			observed(withJob(deploy, running, 31*time.Minute), withPoll(restapi.JobInProgress, nil)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobTimedOut, event: eventJobTimedOut, requeue: time.Minute}},
		{"a completed job is verified by a read", observed(withJob(redeploy, running, 3*time.Second), withPoll(restapi.JobCompleted, nil)),
			want{action: actReadApp, event: eventRedeployed}},
		{"Deployed: the read after the job finds the spec", observed(withJob(redeploy, dbrestv1.JobStatusCompleted, time.Second),
			withApp(serverApp(ordersSpec(), active))), want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, status: appliedNow}},
		{"SpecNotApplied: the job completed but the server shows other fields",
			observed(withJob(redeploy, dbrestv1.JobStatusCompleted, time.Second), withApp(func() *restapi.Application {
				a := serverApp(ordersSpec(), active)
				a.Properties = map[string]string{"poolSize": "20", "old": "x"}
				a.PlanPath = ""
				return a
			}())),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonSpecNotApplied, event: eventSpecNotApplied, requeue: 10 * time.Minute,
				message: "planPath: server has \"\", spec says \"/plans/orders.xml\"; properties:", status: failedKey(10 * time.Minute)}},
		{"JobFailed: the job failed with this spec", observed(withJob(redeploy, running, 3*time.Second), withPoll(restapi.JobFailed, nil)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, event: eventJobFailed, message: "plan not found",
				status: failedKey(0)}},
		{"a job of an older spec that failed: the new spec goes on", observed(withJob(redeploy, running, 3*time.Second),
			withPoll(restapi.JobFailed, nil), changeSpec(func(a *dbrestv1.ApplicationSpec) { a.Version = "3" })),
			want{action: actReadApp, event: eventJobFailed}},
		{"an expired job is settled by a read", observed(withJob(deploy, running, time.Hour), withPoll("", err404)),
			want{action: actReadApp, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.Job.Status).To(Equal(dbrestv1.JobStatusExpired))
			}}},
		{"a job URL on an origin the DatabaseAPI no longer has is found anew in the job list",
			observed(withJob(redeploy, running, time.Second), withPoll("", &restapi.OriginError{Want: "http://new", Got: "http://db"})),
			want{action: actListJobs, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.Job.Status).To(Equal(dbrestv1.JobStatusAccepted))
				g.Expect(st.Job.URL).To(BeEmpty())
			}}},
		{"a poll that fails is retried", observed(withJob(deploy, running, time.Second), withPoll("", err503)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonServiceUnavailable, retry: true}},

		// Deletion.
		{"deleting without the finalizer does nothing", observed(deleting, func(o *observation) { o.finalizer = false }),
			want{keep: true}},
		{"Orphan releases at once", observed(deleting, func(o *observation) { o.spec.DeletionPolicy = dbrestv1.DeletionPolicyOrphan }),
			want{action: actRelease, event: eventOrphaned}},
		{"the loser of a conflict never undeploys", observed(deleting, func(o *observation) { o.owner = "orders-old" }),
			want{action: actRelease, event: eventOrphaned}},
		{"a blocked delete in a namespace being deleted lets go", observed(deleting, func(o *observation) {
			o.blocked = &outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonCredentialsNotFound, message: "no Secret"}
			o.namespaceDeleting = true
		}), want{action: actRelease, event: eventOrphaned}},
		{"a blocked delete says how to leave", observed(deleting, func(o *observation) {
			o.blocked = &outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonCredentialsNotFound, message: "no Secret"}
		}), want{phase: conditions.Stalled, reason: dbrestv1.ReasonCredentialsNotFound, message: "deletionPolicy to Orphan"}},
		{"Undeploying: the application is read first", observed(deleting, applied(time.Minute)), want{action: actReadApp}},
		{"an absent application releases", observed(deleting, withAppErr(err404)), want{action: actRelease, event: eventUndeployed}},
		{"Undeploying: the undeploy intent is recorded", observed(deleting, withApp(serverApp(ordersSpec(), active))),
			want{action: actSend, op: undeploy, status: intent(undeploy)}},
		{"STATE_NEW is waited on before undeploying, saying how to leave", observed(deleting, withApp(serverApp(ordersSpec(), restapi.StateNew))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying, message: "deletionPolicy to Orphan"}},
		{"a STATE_NEW that outlasts spec.timeout stalls the delete, still watched", observed(deleting,
			withApp(serverApp(ordersSpec(), restapi.StateNew)), func(o *observation) {
				o.status.ApplicationState = restapi.StateNew
				o.status.ApplicationStateSince = at(t0.Add(-time.Hour))
			}), want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobTimedOut, requeue: time.Minute, message: "deletionPolicy to Orphan"}},
		{"an undeploy answered 404 releases", observed(deleting, withCall(undeploy, nil, err404)),
			want{action: actRelease, event: eventUndeployed}},
		{"an undeploy answered 204 releases", observed(deleting, withCall(undeploy, deleted, nil)),
			want{action: actRelease, event: eventUndeployed}},
		{"Undeploying: an undeploy job is polled", observed(deleting, withCall(undeploy, accepted, nil)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying}},
		{"a completed undeploy job releases", observed(deleting, withJob(undeploy, running, time.Second), withPoll(restapi.JobCompleted, nil)),
			want{action: actRelease, event: eventUndeployed}},
		{"JobFailed: a failed undeploy is retried slowly", observed(deleting, withJob(undeploy, running, time.Second),
			withPoll(restapi.JobFailed, nil)), want{phase: conditions.Stalled, reason: dbrestv1.ReasonJobFailed, requeue: time.Minute}},
		{"a deploy job running at deletion is waited for", observed(deleting, withJob(deploy, running, time.Second),
			withPoll(restapi.JobInProgress, nil)), want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying}},
		{"then the application is undeployed", observed(deleting, withJob(deploy, running, time.Second),
			withPoll(restapi.JobCompleted, nil)), want{action: actReadApp}},
		{"a lost undeploy's running job is adopted, not sent again", observed(deleting, withJob(undeploy, pending, time.Minute),
			withJobs(serverJob("5", "remove", restapi.JobInProgress, t0.Add(-50*time.Second)))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying, event: eventJobFound}},
		{"a lost undeploy with no job and no application releases", observed(deleting, withJob(undeploy, pending, time.Minute),
			withJobs(), withAppErr(err404)), want{action: actRelease, event: eventUndeployed}},
		{"a lost undeploy that never happened is sent again", observed(deleting, withJob(undeploy, pending, time.Minute),
			withJobs(), withApp(serverApp(ordersSpec(), active))), want{action: actSend, op: undeploy}},
		{"a delete while a redeploy's outcome is unknown settles it first", observed(deleting, withJob(redeploy, pending, time.Second)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonRedeploying}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkDecision(t, tc.obs, tc.want) })
	}
}

// checkDecision runs decide on obs and checks the decision against w.
func checkDecision(t *testing.T, obs *observation, w want) {
	t.Helper()
	g := NewWithT(t)
	before := obs.status.DeepCopy()
	d := decide(obs)
	g.Expect(obs.status).To(Equal(*before), "decide must not change its observation")
	g.Expect(d.action).To(Equal(w.action), "action")
	if w.action == actSend {
		g.Expect(d.op).To(Equal(w.op), "operation")
	}
	if w.action == actFinish {
		g.Expect(d.outcome.keep).To(Equal(w.keep), "keep")
		if !w.keep {
			g.Expect(d.outcome.phase).To(Equal(w.phase), "phase %s", d.outcome.phase)
			g.Expect(d.outcome.reason).To(Equal(w.reason), "reason; message %q", d.outcome.message)
		}
		g.Expect(d.outcome.retry).To(Equal(w.retry), "retry")
		if w.requeue != 0 || w.keep {
			g.Expect(d.outcome.requeue).To(Equal(w.requeue), "requeue")
		}
	}
	if w.message != "" {
		g.Expect(d.outcome.message).To(ContainSubstring(w.message))
	}
	if w.event != "" {
		ev := d.event
		if d.action == actFinish || d.action == actRelease {
			if d.outcome.event != nil {
				ev = d.outcome.event
			}
		}
		g.Expect(ev).NotTo(BeNil(), "event")
		g.Expect(ev.reason).To(Equal(w.event))
	}
	if w.status != nil {
		w.status(g, &d.status)
	}
}

// TestDecideSequences runs decide with the answers a server gives, as the
// reconciler does, and checks the calls it makes in a row.
func TestDecideSequences(t *testing.T) {
	g := NewWithT(t)
	// A redeploy whose answer was a proxy's 504, against an in-place swap
	// server: the application still shows the old fields and is active.
	old := ordersSpec()
	old.Application.Version = "1"
	o := observed(func(o *observation) {
		o.status.LastAppliedFingerprint = fpOf(old)
		o.status.LastSyncedAt = at(t0.Add(-time.Minute))
	})
	var calls []string
	step := func() decision {
		d := decide(o)
		o.status = d.status
		return d
	}
	d := step()
	g.Expect(d.action).To(Equal(actReadApp))
	o.app = &appResult{app: serverApp(old, restapi.StateActive)}
	d = step()
	g.Expect(d.action).To(Equal(actSend))
	calls = append(calls, string(d.op))
	o.call, o.app = &callResult{op: d.op, err: err504}, nil
	d = step()
	g.Expect(d.action).To(Equal(actFinish))
	g.Expect(o.status.Job.Status).To(Equal(dbrestv1.JobStatusPending))

	// The next reconciles, a fresh observation each: too early, then the
	// job list shows the swap still running.
	fresh := func(at time.Time) {
		o = &observation{now: at, generation: 1, spec: o.spec, status: o.status, finalizer: true, connKey: "conn-1",
			requestTimeout: 30 * time.Second, resync: 10 * time.Minute, maxPoll: time.Minute}
	}
	fresh(t0.Add(10 * time.Second))
	d = step()
	g.Expect(d.action).To(Equal(actFinish))
	g.Expect(d.outcome.requeue).To(Equal(21 * time.Second))
	fresh(t0.Add(32 * time.Second))
	g.Expect(step().action).To(Equal(actListJobs))
	o.jobs = &jobsResult{jobs: []listedJob{serverJob("12", "redeploy", restapi.JobInProgress, t0.Add(time.Second))}}
	g.Expect(step().action).To(Equal(actFinish))
	g.Expect(o.status.Job.URL).To(Equal("http://db/jobs/12"))

	fresh(t0.Add(36 * time.Second))
	g.Expect(step().action).To(Equal(actPollJob))
	o.poll = &pollResult{job: &restapi.JobStatus{Job: restapi.Job{ID: "12", Status: restapi.JobCompleted}, StatusCode: 200}}
	g.Expect(step().action).To(Equal(actReadApp))
	o.app = &appResult{app: serverApp(ordersSpec(), restapi.StateActive)}
	d = step()
	g.Expect(d.outcome.reason).To(Equal(dbrestv1.ReasonDeployed))
	g.Expect(calls).To(Equal([]string{"Redeploy"}), "one redeploy, never a second over the running job")
}

func TestOutcomeUnknown(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{err400, false}, {err401, false}, {err404, false}, {err429, false},
		{err500, true}, {err503, true}, {err504, true}, {&restapi.TransportError{Mutating: true}, true},
		{&restapi.UnexpectedStatusError{StatusError: statusErr(502)}, true},
		{errTimeout, true}, {errRefusedConn, false}, {errNoLink, true},
		{&restapi.OriginError{StatusError: statusErr(202)}, true},
		{&restapi.ProtocolError{StatusError: statusErr(0), Reason: "cannot encode"}, false},
	}
	for _, tc := range cases {
		if got := outcomeUnknown(tc.err); got != tc.want {
			t.Errorf("outcomeUnknown(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err      error
		reason   string
		terminal bool
		recheck  time.Duration
	}{
		{err400, dbrestv1.ReasonInvalidSpec, true, 0},
		{err401, dbrestv1.ReasonUnauthorized, true, credentialsRecheck},
		{&restapi.ForbiddenError{StatusError: statusErr(403)}, dbrestv1.ReasonForbidden, true, credentialsRecheck},
		{err404, dbrestv1.ReasonNotFound, true, protocolRecheck},
		{&restapi.ProtocolMismatchError{StatusError: statusErr(415)}, dbrestv1.ReasonProtocolMismatch, true, protocolRecheck},
		{errNoLink, dbrestv1.ReasonProtocolMismatch, true, protocolRecheck},
		{&restapi.OriginError{}, dbrestv1.ReasonProtocolMismatch, true, protocolRecheck},
		{err429, dbrestv1.ReasonThrottled, false, 0},
		{err500, dbrestv1.ReasonServerError, false, 0},
		{err503, dbrestv1.ReasonServiceUnavailable, false, 0},
		{err504, dbrestv1.ReasonServerError, false, 0},
		{&restapi.UnexpectedStatusError{StatusError: statusErr(302)}, dbrestv1.ReasonUnexpectedStatus, true, protocolRecheck},
		{&restapi.TransportError{TLS: true, NotSent: true}, dbrestv1.ReasonTLSError, true, protocolRecheck},
		{errTimeout, dbrestv1.ReasonUnreachable, false, 0},
	}
	for _, tc := range cases {
		c := classify(tc.err)
		if c.reason != tc.reason || c.terminal != tc.terminal || c.recheck != tc.recheck {
			t.Errorf("classify(%T %v) = %+v, want %s terminal=%v recheck=%s", tc.err, tc.err, c, tc.reason, tc.terminal, tc.recheck)
		}
	}
}

func TestFingerprintAndDifferences(t *testing.T) {
	base := ordersSpec().Application
	cases := []struct {
		name   string
		mutate func(a *restapi.Application)
		fields []string
	}{
		{"same", func(*restapi.Application) {}, nil},
		{"targets in another order", func(a *restapi.Application) { a.Targets = []string{"cluster2", "cluster1"} }, nil},
		{"deploymentPath", func(a *restapi.Application) { a.DeploymentPath = "/x" }, []string{"deploymentPath"}},
		{"a target less", func(a *restapi.Application) { a.Targets = []string{"cluster1"} }, []string{"targets"}},
		{"planPath missing on the server", func(a *restapi.Application) { a.PlanPath = "" }, []string{"planPath"}},
		{"version missing on the server", func(a *restapi.Application) { a.Version = "" }, []string{"version"}},
		{"no properties on the server", func(a *restapi.Application) { a.Properties = nil }, []string{"properties"}},
		{"an extra property on the server", func(a *restapi.Application) { a.Properties = map[string]string{"poolSize": "20", "x": "1"} },
			[]string{"properties"}},
		{"everything", func(a *restapi.Application) {
			*a = restapi.Application{Name: "orders"}
		}, []string{"deploymentPath", "targets", "planPath", "version", "properties"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			app := serverApp(ordersSpec(), restapi.StateActive)
			tc.mutate(app)
			g.Expect(differences(app, &base)).To(Equal(tc.fields))
			g.Expect(serverFingerprint(app) == fingerprint(&base)).To(Equal(tc.fields == nil),
				"the server's fingerprint equals the spec's exactly when no field differs")
		})
	}
	// Absent and empty properties are the same spec.
	a, b := base, base
	a.Properties, b.Properties = nil, map[string]string{}
	if fingerprint(&a) != fingerprint(&b) {
		t.Error("nil and empty properties fingerprint differently")
	}
	// Every field counts.
	seen := map[string]bool{fingerprint(&base): true}
	for _, mut := range []func(*dbrestv1.ApplicationSpec){
		func(a *dbrestv1.ApplicationSpec) { a.DeploymentPath = "/y" },
		func(a *dbrestv1.ApplicationSpec) { a.Targets = []string{"c9"} },
		func(a *dbrestv1.ApplicationSpec) { a.PlanPath = "" },
		func(a *dbrestv1.ApplicationSpec) { a.Version = "" },
		func(a *dbrestv1.ApplicationSpec) { a.Properties = nil },
	} {
		c := ordersSpec().Application
		mut(&c)
		fp := fingerprint(&c)
		if seen[fp] {
			t.Errorf("fingerprint %s repeats for %+v", fp, c)
		}
		seen[fp] = true
	}
}

func TestDescribeDifferences(t *testing.T) {
	want := ordersSpec().Application
	app := serverApp(ordersSpec(), restapi.StateActive)
	app.Version, app.Properties = "1", nil
	got := describeDifferences(app, &want, differences(app, &want))
	if !strings.Contains(got, `version: server has "1", spec says "2"`) || !strings.Contains(got, `properties: server has "", spec says {"poolSize":"20"}`) {
		t.Errorf("describeDifferences = %s", got)
	}
}

func TestPollDelay(t *testing.T) {
	cases := []struct {
		interval, maxPoll, retryAfter, ran time.Duration
		want                               time.Duration
	}{
		{5 * time.Second, time.Minute, 0, 0, 5 * time.Second},
		{5 * time.Second, time.Minute, 0, 29 * time.Second, 5 * time.Second},
		{5 * time.Second, time.Minute, 0, 30 * time.Second, 10 * time.Second},
		{5 * time.Second, time.Minute, 0, 90 * time.Second, 30 * time.Second},
		{5 * time.Second, time.Minute, 0, time.Hour, time.Minute},
		{5 * time.Second, time.Minute, 2 * time.Second, time.Hour, 2 * time.Second},
		{5 * time.Second, time.Minute, time.Hour, 0, time.Minute},
		{2 * time.Minute, time.Minute, 0, time.Hour, 2 * time.Minute},
	}
	for _, tc := range cases {
		if got := pollDelay(tc.interval, tc.maxPoll, tc.retryAfter, tc.ran); got != tc.want {
			t.Errorf("pollDelay(%s, %s, %s, %s) = %s, want %s", tc.interval, tc.maxPoll, tc.retryAfter, tc.ran, got, tc.want)
		}
	}
}

func TestRetryTracker(t *testing.T) {
	g := NewWithT(t)
	rt := newRetryTracker(Backoff{Base: time.Second, Max: 8 * time.Second})
	uid := "u1"
	var delays []time.Duration
	for range 6 {
		delays = append(delays, rt.next("u1", 0))
	}
	for i, d := range delays {
		nominal := min(time.Second<<i, 8*time.Second)
		g.Expect(d).To(BeNumerically(">=", max(nominal*9/10, time.Second)), "retry %d", i)
		g.Expect(d).To(BeNumerically("<=", nominal*11/10), "retry %d", i)
	}
	g.Expect(rt.next("u1", 3*time.Second)).To(Equal(3*time.Second), "Retry-After wins")
	g.Expect(rt.next("u1", time.Hour)).To(Equal(8*time.Second), "Retry-After is capped")
	rt.reset("u1")
	g.Expect(rt.next("u1", 0)).To(BeNumerically("<=", 1100*time.Millisecond), "a success restarts the backoff")
	rt.forget("u1")
	g.Expect(rt.counts).NotTo(HaveKey(uid))
}

type countingJobs struct{ seen []string }

func (c *countingJobs) ObserveJob(op dbrestv1.JobOperation, outcome string, _ time.Duration) {
	c.seen = append(c.seen, string(op)+"/"+outcome)
}

// TestNoteJobEnd reports a job once, when a decision sees it end: in a
// poll, in its 202's body or in the job list, never a synchronous call.
func TestNoteJobEnd(t *testing.T) {
	started := *at(t0)
	rec := func(status, url string) *dbrestv1.JobRecord {
		return &dbrestv1.JobRecord{Operation: dbrestv1.JobOperationDeploy, Status: status, URL: url, StartedAt: started}
	}
	cases := []struct {
		name          string
		before, after *dbrestv1.JobRecord
		want          []string
	}{
		{"a poll sees it complete", rec("in progress", "u"), rec("completed", "u"), []string{"Deploy/completed"}},
		{"a 202's body shows it failed", rec("pending", ""), rec("failed", "u"), []string{"Deploy/failed"}},
		{"the job list shows it completed", rec("accepted", ""), rec("completed", "u"), []string{"Deploy/completed"}},
		{"it expired", rec("in progress", "u"), rec("expired", "u"), []string{"Deploy/expired"}},
		{"still running", rec("in progress", "u"), rec("in progress", "u"), nil},
		{"a synchronous answer has no job", rec("pending", ""), rec("completed", ""), nil},
		{"already reported", rec("completed", "u"), rec("completed", "u"), nil},
		{"another call", rec("in progress", "u"), &dbrestv1.JobRecord{Operation: dbrestv1.JobOperationDeploy, Status: "completed",
			URL: "v", StartedAt: *at(t0.Add(time.Minute))}, nil},
	}
	for _, tc := range cases {
		c := &countingJobs{}
		(&DeploymentReconciler{Jobs: c}).noteJobEnd(tc.before, tc.after)
		if !slices.Equal(c.seen, tc.want) {
			t.Errorf("%s: observed %v, want %v", tc.name, c.seen, tc.want)
		}
	}
}
