package controllers_test

import (
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

func TestDeployThenReady(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 2 * time.Second }))
	f.createDeployment("orders")

	// While the job runs: Reconciling=True, Ready=False, the job in status.
	d := f.waitFor("orders", "False", dbrestv1.ReasonDeploying)
	f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("True/" + dbrestv1.ReasonDeploying))
	f.g.Expect(d.Status.Job).NotTo(BeNil())
	f.g.Expect(d.Status.Job.URL).To(HavePrefix(f.srv.URL))
	f.g.Expect(d.Status.Job.Operation).To(Equal(dbrestv1.JobOperationDeploy))
	f.g.Expect(d.Finalizers).To(ContainElement(dbrestv1.FinalizerName))

	d = f.waitReady("orders")
	f.g.Expect(d.Status.Job.Status).To(Equal(dbrestv1.JobStatusCompleted))
	f.g.Expect(d.Status.ApplicationState).To(Equal("STATE_ACTIVE"))
	f.g.Expect(d.Status.LastAppliedFingerprint).NotTo(BeEmpty())
	f.g.Expect(d.Status.LastHTTPStatus).To(BeEquivalentTo(200))
	for _, c := range d.Status.Conditions {
		f.g.Expect(c.ObservedGeneration).To(Equal(d.Generation))
	}

	app, ok := f.sim.Application("orders")
	f.g.Expect(ok).To(BeTrue())
	f.g.Expect(app.DeploymentPath).To(Equal("/apps/orders-1.0.war"))
	st := f.sim.Stats()
	f.g.Expect(st.DeploysAccepted["orders"]).To(Equal(1))
	f.g.Expect(st.RequestsByOp["deploy"]).To(Equal(1))
	// Polls stay near duration/interval: 2s job, 1s interval.
	maxPolls := int(math.Ceil(2.0/1.0)) + 1
	f.g.Expect(st.MaxPollsPerJob).To(BeNumerically("<=", maxPolls))
	f.expectNoDuplicates()
	// One event for the whole operation, when it ends.
	f.g.Eventually(func() []string { return f.eventReasons("orders") }, timeout, interval).
		Should(ConsistOf("Deployed"))

	// Idle: no further calls while nothing changes (resync is 1h here).
	before := f.sim.Stats().RequestsByOp
	f.g.Consistently(func() map[string]int { return f.sim.Stats().RequestsByOp }, 3*time.Second, 500*time.Millisecond).
		Should(Equal(before))
}

func TestUpdateRedeploys(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("orders")
	f.waitReady("orders")

	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/apps/orders-2.0.war" })
	f.g.Eventually(func() string {
		app, _ := f.sim.Application("orders")
		return app.DeploymentPath
	}, timeout, interval).Should(Equal("/apps/orders-2.0.war"))
	d := f.waitReady("orders")
	f.g.Expect(d.Status.Job.Operation).To(Equal(dbrestv1.JobOperationRedeploy))
	st := f.sim.Stats()
	f.g.Expect(st.RequestsByOp["redeploy"]).To(Equal(1))
	f.g.Expect(st.DeploysAccepted["orders"]).To(Equal(1))
	f.expectNoDuplicates()
	f.g.Eventually(func() []string { return f.eventReasons("orders") }, timeout, interval).
		Should(ConsistOf("Deployed", "Redeployed"))

	// Reordering targets is not a change.
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Targets = []string{"cluster1"} })
	f.waitReady("orders")
	f.g.Expect(f.sim.Stats().RequestsByOp["redeploy"]).To(Equal(1))
}

func TestDeletePolicies(t *testing.T) {
	cases := []struct {
		name      string
		policy    dbrestv1.DeletionPolicy
		sim       func(*simulator.Options)
		detached  bool
		wantOnSrv bool
	}{
		{"delete with a job", dbrestv1.DeletionPolicyDelete, nil, true, false},
		{"delete answered 200", dbrestv1.DeletionPolicyDelete, func(o *simulator.Options) { o.DeleteCode = 200 }, false, false},
		{"delete answered 204", dbrestv1.DeletionPolicyDelete, func(o *simulator.Options) { o.DeleteCode = 204 }, false, false},
		{"orphan", dbrestv1.DeletionPolicyOrphan, nil, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := []fixtureOption{}
			if tc.sim != nil {
				opts = append(opts, withSim(tc.sim))
			}
			f := newFixture(t, opts...)
			f.createDeployment("orders", func(d *dbrestv1.Deployment) {
				d.Spec.DeletionPolicy = tc.policy
				d.Spec.Detached = ptr.To(tc.detached)
			})
			f.waitReady("orders")
			f.delete("orders")
			f.waitGone("orders")
			_, onServer := f.sim.Application("orders")
			f.g.Expect(onServer).To(Equal(tc.wantOnSrv))
			f.expectNoDuplicates()
		})
	}
}

func TestDeleteWhileDeployJobRuns(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 3 * time.Second }))
	f.createDeployment("orders")
	f.waitFor("orders", "False", dbrestv1.ReasonDeploying)
	f.delete("orders")
	f.waitGone("orders")
	_, onServer := f.sim.Application("orders")
	f.g.Expect(onServer).To(BeFalse())
	// The undeploy waited for the deploy job: never two mutating calls at once.
	f.expectNoDuplicates()
}

func TestJobFailureThenSpecFix(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.FailAppPattern = regexpMust(`^broken$`) }))
	f.createDeployment("broken")
	d := f.waitFor("broken", "False", dbrestv1.ReasonJobFailed)
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonJobFailed))
	f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("absent"))
	c := findCondition(d, dbrestv1.ReadyCondition)
	f.g.Expect(c.Message).To(ContainSubstring("failed"))
	f.g.Expect(d.Status.Job.Status).To(Equal(dbrestv1.JobStatusFailed))

	// Terminal: no hot loop, no new calls until the spec changes.
	before := f.sim.Stats().RequestsByOp
	f.g.Consistently(func() map[string]int { return f.sim.Stats().RequestsByOp }, 3*time.Second, 500*time.Millisecond).
		Should(Equal(before))

	f.sim.SetFailAppPattern(nil)
	f.update("broken", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/apps/fixed.war" })
	f.waitReady("broken")
	st := f.sim.Stats()
	f.g.Expect(st.RequestsByOp["redeploy"]).To(Equal(1))
	f.expectNoDuplicates()
	f.g.Expect(f.eventReasons("broken")).To(ContainElement("JobFailed"))
}

func TestSuspendStopsCalls(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.Suspend = true })
	d := f.waitFor("orders", "False", dbrestv1.ReasonSuspended)
	f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("absent"))
	f.g.Consistently(func() int { return f.sim.Stats().RequestsByOp["deploy"] + f.sim.Stats().RequestsByOp["getApp"] },
		2*time.Second, 250*time.Millisecond).Should(Equal(0))

	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Suspend = false })
	f.waitReady("orders")

	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Suspend = true })
	d = f.waitFor("orders", "True", dbrestv1.ReasonSuspended)
	f.g.Expect(d.Status.ApplicationState).To(Equal("STATE_ACTIVE"))
}

func TestDriftIsRepaired(t *testing.T) {
	f := newFixture(t, withConfig(func(c *controllersConfig) { c.Deployment.ResyncInterval = time.Second }))
	f.createDeployment("orders")
	f.waitReady("orders")

	// Changed out of band: redeployed.
	f.g.Expect(f.sim.ChangeApplication("orders", func(a *simulator.Application) { a.DeploymentPath = "/tampered.war" })).To(BeTrue())
	f.g.Eventually(func() string {
		app, _ := f.sim.Application("orders")
		return app.DeploymentPath
	}, timeout, interval).Should(Equal("/apps/orders-1.0.war"))
	f.waitReady("orders")

	// Deleted out of band: deployed again.
	f.g.Expect(f.sim.DeleteApplication("orders")).To(BeTrue())
	f.g.Eventually(func() bool { _, ok := f.sim.Application("orders"); return ok }, timeout, interval).Should(BeTrue())
	f.waitReady("orders")
	f.g.Eventually(func() []string { return f.eventReasons("orders") }, timeout, interval).
		Should(ContainElement("DriftDetected"))
	f.expectNoDuplicates()
}

func TestMissingDatabaseAPIThenCreated(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "later" })
	d := f.waitFor("orders", "False", dbrestv1.ReasonDatabaseAPINotReady)
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring(`DatabaseAPI "later" not found`))
	f.createDatabaseAPI("later", "creds")
	f.waitReady("orders")
}

func TestMissingSecretThenCreated(t *testing.T) {
	f := newFixture(t)
	f.createDatabaseAPI("nosecret", "missing")
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "nosecret" })
	d := f.waitFor("orders", "False", dbrestv1.ReasonCredentialsNotFound)
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonCredentialsNotFound))
	f.createSecret("missing", map[string]string{"token": "admin-token"})
	f.waitReady("orders")
}

func TestCredentialsRotatedAfter401(t *testing.T) {
	f := newFixture(t)
	f.createSecret("wrong", map[string]string{"username": "admin", "password": "nope"})
	f.createDatabaseAPI("badcreds", "wrong")
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "badcreds" })
	d := f.waitFor("orders", "False", dbrestv1.ReasonUnauthorized)
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonUnauthorized))
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring("401"))
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).NotTo(ContainSubstring("nope"))

	api := &dbrestv1.DatabaseAPI{}
	f.g.Eventually(func() string {
		f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "badcreds"}, api)).To(Succeed())
		return conditionOf(api.Status.Conditions, dbrestv1.ReadyCondition)
	}, timeout, interval).Should(Equal("False/" + dbrestv1.ReasonUnauthorized))

	secret := secretOf(f, "wrong")
	secret.StringData = map[string]string{"password": "admin"}
	f.g.Expect(k8s.Update(f.ctx, secret)).To(Succeed())
	f.waitReady("orders")
	f.g.Eventually(func() string {
		f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "badcreds"}, api)).To(Succeed())
		return conditionOf(api.Status.Conditions, dbrestv1.ReadyCondition)
	}, timeout, interval).Should(Equal("True/" + dbrestv1.ReasonReachable))
}

func TestStorm503ThenRecovery(t *testing.T) {
	for _, retryAfter := range []bool{false, true} {
		t.Run(map[bool]string{false: "without Retry-After", true: "with Retry-After"}[retryAfter], func(t *testing.T) {
			f := newFixture(t)
			f.sim.SetFaults(simulator.Faults{ErrorEveryN: 1, ErrorCode: 503, ErrorRetryAfter: retryAfter})
			f.createDeployment("orders")
			// The DatabaseAPI's probe and the Deployment's own requests
			// open the circuit; the Deployment waits on it.
			d := f.waitFor("orders", "False", dbrestv1.ReasonCircuitOpen)
			f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("True/" + dbrestv1.ReasonCircuitOpen))
			f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring("ServiceUnavailable"))

			// Backoff, not a hot loop: a handful of requests in 4s.
			start := f.sim.Stats().FaultsInjected
			time.Sleep(4 * time.Second) //nolint:forbidigo // counting requests over a window is the assertion
			f.g.Expect(f.sim.Stats().FaultsInjected - start).To(BeNumerically("<", 20))

			f.sim.SetFaults(simulator.Faults{})
			f.waitReady("orders")
			f.expectNoDuplicates()
			f.g.Expect(f.sim.Stats().DeploysAccepted["orders"]).To(Equal(1))
		})
	}
}

func TestTimeoutStallsButKeepsPolling(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) { o.JobDuration = 14 * time.Second }))
	f.createDeployment("slow", func(d *dbrestv1.Deployment) { d.Spec.Timeout = &metav1.Duration{Duration: 10 * time.Second} })
	d := f.waitFor("slow", "False", dbrestv1.ReasonJobTimedOut)
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonJobTimedOut))
	// The job is not lost: when it completes, the Deployment is Ready.
	f.waitReady("slow")
	f.expectNoDuplicates()
}

func TestTwoDeploymentsForOneApplication(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("first", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "orders" })
	f.waitReady("first")
	f.createDeployment("second", func(d *dbrestv1.Deployment) { d.Spec.Application.Name = "orders" })
	d := f.waitFor("second", "False", dbrestv1.ReasonConflict)
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring("managed by Deployment " + f.ns + "/first"))

	// Deleting the loser leaves the owner's application alone.
	f.delete("second")
	f.waitGone("second")
	_, onServer := f.sim.Application("orders")
	f.g.Expect(onServer).To(BeTrue())
	f.waitReady("first")
	f.g.Expect(f.sim.Stats().RequestsByOp["undeploy"]).To(Equal(0))
	f.expectNoDuplicates()

	// Deleting the owner wakes the loser of a new conflict, which takes
	// the application over once the owner has undeployed it. Resync is an
	// hour here and a Conflict has no requeue: only the watch can do it.
	f.createDeployment("third", func(d *dbrestv1.Deployment) {
		d.Spec.Application.Name = "orders"
		d.Spec.Application.DeploymentPath = "/apps/orders-3.war"
	})
	f.waitFor("third", "False", dbrestv1.ReasonConflict)
	f.delete("first")
	f.waitGone("first")
	f.expectServerRunsSpec("third")
	f.expectNoDuplicates()
}
