package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

func observeOnly(o *observation) { o.spec.ManagementPolicy = dbrestv1.ManagementObserveOnly }

func adoption(p dbrestv1.AdoptionPolicy) func(*observation) {
	return func(o *observation) { o.spec.Adoption = p }
}

func requested(v string) func(*observation) { return func(o *observation) { o.requestedAt = v } }

// older is spec.application as it was before the version moved to 2.
func older() *dbrestv1.DeploymentSpec {
	s := ordersSpec()
	s.Application.Version = "1"
	return s
}

// TestDecideOwnership covers what a Deployment may take and change:
// adoption, ObserveOnly, the plan, reconcile-now and deletion of what it
// does not own.
func TestDecideOwnership(t *testing.T) {
	fp := fpOf(ordersSpec())
	active := restapi.StateActive
	deploy, redeploy, undeploy := dbrestv1.JobOperationDeploy, dbrestv1.JobOperationRedeploy, dbrestv1.JobOperationUndeploy
	plan := func(op dbrestv1.PlanOperation, adopts bool, blockedBy string, fields ...string) func(g Gomega, st *dbrestv1.DeploymentStatus) {
		return func(g Gomega, st *dbrestv1.DeploymentStatus) {
			g.Expect(st.Plan).NotTo(BeNil(), "plan")
			g.Expect(st.Plan.Operation).To(Equal(op), "plan operation")
			g.Expect(st.Plan.Adopts).To(Equal(adopts), "plan adopts")
			g.Expect(st.Plan.BlockedBy).To(Equal(blockedBy), "plan blockedBy")
			g.Expect(st.Plan.Fingerprint).To(Equal(fp))
			var got []string
			for _, c := range st.Plan.Changes {
				got = append(got, c.Field)
			}
			if len(fields) == 0 {
				g.Expect(got).To(BeEmpty(), "plan changes")
			} else {
				g.Expect(got).To(Equal(fields), "plan changes")
			}
		}
	}
	unclaimedStill := func(g Gomega, st *dbrestv1.DeploymentStatus) {
		g.Expect(st.ClaimedAt).To(BeNil())
		g.Expect(st.Adopted).To(BeFalse())
		g.Expect(st.LastAppliedFingerprint).To(BeEmpty())
	}
	adoptedNow := func(g Gomega, st *dbrestv1.DeploymentStatus) {
		g.Expect(st.ClaimedAt).NotTo(BeNil())
		g.Expect(st.ClaimedAt.Time).To(Equal(t0))
		g.Expect(st.Adopted).To(BeTrue())
	}
	all := func(checks ...func(Gomega, *dbrestv1.DeploymentStatus)) func(Gomega, *dbrestv1.DeploymentStatus) {
		return func(g Gomega, st *dbrestv1.DeploymentStatus) {
			for _, c := range checks {
				c(g, st)
			}
		}
	}
	cases := []struct {
		name string
		obs  *observation
		want want
	}{
		// Adoption of an application found on the server.
		{"AdoptionRefused: a matching application found on the server is left alone", observed(unclaimed, withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionRefused, requeue: 10 * time.Minute,
				event: dbrestv1.ReasonAdoptionRefused, message: `deploymentPath "/apps/orders-2.war", targets ["cluster2","cluster1"]`,
				status: all(unclaimedStill, plan(dbrestv1.PlanAdopt, true, dbrestv1.ReasonAdoptionRefused))}},
		{"AdoptionRefused: a differing one plans the redeploy that adopting would send", observed(unclaimed, withApp(serverApp(older(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionRefused, message: `version "1"`,
				status: all(unclaimedStill, plan(dbrestv1.PlanRedeploy, true, dbrestv1.ReasonAdoptionRefused, "version"))}},
		{"AdoptionRefused: a STATE_NEW one is read again after a poll interval", observed(unclaimed, withApp(serverApp(ordersSpec(), restapi.StateNew))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionRefused, requeue: 5 * time.Second, status: unclaimedStill}},
		{"Adopt: a matching application is adopted and Ready", observed(unclaimed, adoption(dbrestv1.AdoptionAdopt), withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, event: eventAdopted, status: all(adoptedNow,
				func(g Gomega, st *dbrestv1.DeploymentStatus) {
					g.Expect(st.LastAppliedFingerprint).To(Equal(fp))
					g.Expect(st.Plan).To(BeNil())
				})}},
		{"Adopt: a differing application is adopted and redeployed", observed(unclaimed, adoption(dbrestv1.AdoptionAdopt), withApp(serverApp(older(), active))),
			want{action: actSend, op: redeploy, event: eventAdopted, status: adoptedNow}},
		{"Adopt: a STATE_NEW application is adopted, then waited on", observed(unclaimed, adoption(dbrestv1.AdoptionAdopt),
			withApp(serverApp(ordersSpec(), restapi.StateNew))),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying, event: eventAdopted, status: adoptedNow}},
		{"AdoptIfMatching: a matching application is adopted", observed(unclaimed, adoption(dbrestv1.AdoptionAdoptIfMatching),
			withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, event: eventAdopted, status: adoptedNow}},
		{"AdoptionMismatch: AdoptIfMatching names the differing fields", observed(unclaimed, adoption(dbrestv1.AdoptionAdoptIfMatching),
			withApp(serverApp(older(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionMismatch, event: dbrestv1.ReasonAdoptionMismatch,
				message: `version: server has "1", spec says "2"`,
				status:  all(unclaimedStill, plan(dbrestv1.PlanRedeploy, true, dbrestv1.ReasonAdoptionMismatch, "version"))}},
		{"AdoptionMismatch: a STATE_FAILED application is not adopted", observed(unclaimed, adoption(dbrestv1.AdoptionAdoptIfMatching),
			withApp(serverApp(ordersSpec(), restapi.StateFailed))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionMismatch, message: "it is STATE_FAILED", status: unclaimedStill}},
		{"an absent application is deployed, and the claim travels with the intent", observed(unclaimed, withAppErr(err404)),
			want{action: actSend, op: deploy, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.ClaimedAt).NotTo(BeNil())
				g.Expect(st.Adopted).To(BeFalse())
				g.Expect(st.Plan).To(BeNil())
			}}},
		{"a deploy answered 400 because someone deployed the name since the read: spec.adoption decides", observed(unclaimed,
			withCall(deploy, nil, err400), func(o *observation) { o.status.ClaimedAt = at(t0) }, withApp(serverApp(older(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionRefused, status: unclaimedStill}},
		{"a deploy refused with a 400 gives the claim up: nothing was created", observed(withCall(deploy, nil, err400), withAppErr(err404)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonInvalidSpec, event: eventRequestFailed,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.ClaimedAt).To(BeNil()) }}},
		{"an adopted application keeps its claim when a deploy is refused", observed(withCall(deploy, nil, err400), withAppErr(err404),
			func(o *observation) { o.status.Adopted = true }),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonInvalidSpec,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.ClaimedAt).NotTo(BeNil()) }}},
		{"upgrade: a Deployment from before claims keeps the application it ran", observed(unclaimed, applied(time.Hour),
			withApp(serverApp(older(), active))),
			want{action: actSend, op: redeploy, event: eventDriftDetected,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.ClaimedAt).NotTo(BeNil()) }}},
		{"upgrade: a job on record is a claim too", observed(unclaimed, withJob(deploy, dbrestv1.JobStatusInProgress, time.Second),
			withPoll(restapi.JobInProgress, nil)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.ClaimedAt).NotTo(BeNil()) }}},

		// Deleting what this Deployment does not own.
		{"deleting a Deployment that never claimed its application makes no call", observed(unclaimed, deleting),
			want{action: actRelease, event: eventOrphaned}},
		{"deleting an adopted application's Deployment leaves it (deletionPolicy unset)", observed(deleting,
			func(o *observation) { o.status.Adopted = true }), want{action: actRelease, event: eventOrphaned}},
		{"deletionPolicy Delete, set explicitly, undeploys an adopted application", observed(deleting,
			func(o *observation) { o.status.Adopted = true; o.spec.DeletionPolicy = dbrestv1.DeletionPolicyDelete },
			withApp(serverApp(ordersSpec(), active))), want{action: actSend, op: undeploy}},
		{"deletionPolicy unset undeploys what this Deployment deployed", observed(deleting, withApp(serverApp(ordersSpec(), active))),
			want{action: actSend, op: undeploy}},

		// ObserveOnly.
		{"ObserveOnly needs no finalizer and reads", observed(unclaimed, observeOnly, func(o *observation) { o.finalizer = false }),
			want{action: actReadApp}},
		{"ObserveOnly: Ready when the server runs the spec, claiming nothing", observed(unclaimed, observeOnly, withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Ready, reason: dbrestv1.ReasonDeployed, message: "ObserveOnly", status: unclaimedStill}},
		{"Drifted: ObserveOnly sends no redeploy and names the fields", observed(unclaimed, observeOnly, withApp(serverApp(older(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonDrifted, event: eventDrifted, requeue: 10 * time.Minute,
				message: `version: server has "1", spec says "2"`,
				status:  all(unclaimedStill, plan(dbrestv1.PlanRedeploy, true, dbrestv1.ReasonObserveOnly, "version"))}},
		{"Drifted: ObserveOnly sends no deploy for an absent application", observed(unclaimed, observeOnly, withAppErr(err404)),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonDrifted, message: "is not on the server",
				status: all(unclaimedStill, plan(dbrestv1.PlanDeploy, false, dbrestv1.ReasonObserveOnly,
					"deploymentPath", "targets", "planPath", "version", "properties"))}},
		{"Drifted: a claimed application switched to ObserveOnly is not repaired", observed(observeOnly, applied(time.Hour),
			withApp(serverApp(older(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonDrifted, status: plan(dbrestv1.PlanRedeploy, false, dbrestv1.ReasonObserveOnly, "version")}},
		{"Drifted: a STATE_FAILED application with a retry asked for is not redeployed", observed(observeOnly, requested("r1"),
			withApp(serverApp(ordersSpec(), restapi.StateFailed))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonDrifted, message: "STATE_FAILED"}},
		{"ObserveOnly: deleting leaves the server alone", observed(observeOnly, deleting), want{action: actRelease, event: eventOrphaned}},

		// The plan of a Deployment held back before it reads.
		{"Conflict: the held call is planned", observed(unclaimed, func(o *observation) { o.owner = "shop/orders-old" }),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonConflict, message: "Deployment shop/orders-old",
				status: plan(dbrestv1.PlanDeploy, false, dbrestv1.ReasonConflict)}},
		{"Suspended: the plan read before is kept, blocked by Suspended", observed(func(o *observation) {
			o.spec.Suspend = true
			o.status.Plan = &dbrestv1.Plan{Operation: dbrestv1.PlanRedeploy, Fingerprint: fpOf(ordersSpec()), BlockedBy: dbrestv1.ReasonObserveOnly,
				Changes: []dbrestv1.FieldChange{{Field: "version", From: `"1"`, To: `"2"`}}}
		}), want{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended,
			status: plan(dbrestv1.PlanRedeploy, false, dbrestv1.ReasonSuspended, "version")}},
		{"Suspended: a plan for an older spec is replaced", observed(func(o *observation) {
			o.spec.Suspend = true
			o.status.Plan = &dbrestv1.Plan{Operation: dbrestv1.PlanRedeploy, Fingerprint: "old"}
		}), want{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended, status: plan(dbrestv1.PlanRedeploy, false, dbrestv1.ReasonSuspended)}},
		{"Suspended: no plan when the server runs the spec", observed(applied(time.Minute), func(o *observation) { o.spec.Suspend = true }),
			want{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended,
				status: func(g Gomega, st *dbrestv1.DeploymentStatus) { g.Expect(st.Plan).To(BeNil()) }}},

		// Reconcile now.
		{"requested: a Ready Deployment reads the server at once", observed(applied(time.Minute), requested("r1")),
			want{action: actReadApp, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.LastHandledReconcileAt).To(Equal("r1"))
			}}},
		{"requested: a Stalled Deployment is retried once", observed(requested("r1"), func(o *observation) {
			o.status.LastFailedFingerprint = failureKey(fpOf(o.spec), "conn-1")
		}), want{action: actReadApp, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
			g.Expect(st.LastFailedFingerprint).To(BeEmpty(), "the retry is under way: a job that ends must not find the old failure")
		}}},
		{"requested: a STATE_FAILED application with the spec is redeployed once", observed(requested("r1"), func(o *observation) {
			o.status.LastFailedFingerprint = failureKey(fpOf(o.spec), "conn-1")
		}, withApp(serverApp(ordersSpec(), restapi.StateFailed))), want{action: actSend, op: redeploy}},
		{"requested: SpecNotApplied is retried once", observed(requested("r1"), withJob(redeploy, dbrestv1.JobStatusCompleted, time.Minute),
			withApp(serverApp(older(), active))), want{action: actSend, op: redeploy}},
		{"requested: a call whose outcome is unknown still waits for the request timeout", observed(requested("r1"),
			withJob(deploy, dbrestv1.JobStatusPending, time.Second)),
			want{phase: conditions.Progressing, reason: dbrestv1.ReasonDeploying}},
		{"requested while suspended: handled, with no call", observed(requested("r1"), func(o *observation) { o.spec.Suspend = true }),
			want{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended, status: func(g Gomega, st *dbrestv1.DeploymentStatus) {
				g.Expect(st.LastHandledReconcileAt).To(Equal("r1"))
			}}},
		{"requested: a refused adoption is read again, and still refused", observed(unclaimed, requested("r1"), withApp(serverApp(ordersSpec(), active))),
			want{phase: conditions.Stalled, reason: dbrestv1.ReasonAdoptionRefused}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkDecision(t, tc.obs, tc.want) })
	}
}

// TestCircuitPlan: the plan an open circuit holds back, set by the
// reconciler before decide runs.
func TestCircuitPlan(t *testing.T) {
	g := NewWithT(t)
	g.Expect(circuitPlan(observed(applied(time.Minute)))).To(BeNil(), "nothing pending")
	p := circuitPlan(observed(unclaimed))
	g.Expect(p).NotTo(BeNil())
	g.Expect(p.Operation).To(Equal(dbrestv1.PlanDeploy))
	g.Expect(p.BlockedBy).To(Equal(dbrestv1.ReasonCircuitOpen))
	p = circuitPlan(observed(func(o *observation) { o.status.LastAppliedFingerprint = "older" }))
	g.Expect(p.Operation).To(Equal(dbrestv1.PlanRedeploy))
	g.Expect(p.Changes).To(BeEmpty(), "not read: the changes are unknown")
}

func TestFieldChanges(t *testing.T) {
	g := NewWithT(t)
	spec := ordersSpec().Application
	g.Expect(fieldChanges(serverApp(ordersSpec(), restapi.StateActive), &spec)).To(BeEmpty())
	g.Expect(fieldChanges(serverApp(older(), restapi.StateActive), &spec)).To(Equal([]dbrestv1.FieldChange{
		{Field: "version", From: `"1"`, To: `"2"`}}))
	spec.PlanPath, spec.Properties = "", nil
	g.Expect(fieldChanges(nil, &spec)).To(Equal([]dbrestv1.FieldChange{
		{Field: "deploymentPath", To: `"/apps/orders-2.war"`}, {Field: "targets", To: `["cluster1","cluster2"]`},
		{Field: "version", To: `"2"`}}), "a deploy shows the fields it sets")
}

func TestEffectiveDeletionPolicy(t *testing.T) {
	g := NewWithT(t)
	spec := ordersSpec()
	g.Expect(effectiveDeletionPolicy(spec, &dbrestv1.DeploymentStatus{})).To(Equal(dbrestv1.DeletionPolicyDelete))
	g.Expect(effectiveDeletionPolicy(spec, &dbrestv1.DeploymentStatus{Adopted: true})).To(Equal(dbrestv1.DeletionPolicyOrphan))
	spec.DeletionPolicy = dbrestv1.DeletionPolicyDelete
	g.Expect(effectiveDeletionPolicy(spec, &dbrestv1.DeploymentStatus{Adopted: true})).To(Equal(dbrestv1.DeletionPolicyDelete))
	spec.DeletionPolicy = dbrestv1.DeletionPolicyOrphan
	g.Expect(effectiveDeletionPolicy(spec, &dbrestv1.DeploymentStatus{})).To(Equal(dbrestv1.DeletionPolicyOrphan))
}
