package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// What a Deployment may take and change: the claim on its application
// (status.claimedAt, status.adopted), spec.adoption for an application
// found on the server before the first call, spec.managementPolicy
// ObserveOnly, and the plan (status.plan) of a call that is held back.

func (d *decider) observeOnly() bool {
	return d.o.spec.ManagementPolicy == dbrestv1.ManagementObserveOnly
}

// claimLegacy claims the application for a Deployment written before
// claims were recorded: a job on record, or a spec seen applied, means it
// has been managing the application, so an upgrade refuses nothing it
// already owns. The code that records claims never leaves either without
// one.
func (d *decider) claimLegacy() {
	if st := d.st; st.ClaimedAt == nil && (st.Job != nil || st.LastAppliedFingerprint != "") {
		st.ClaimedAt = d.now()
	}
}

// adopt applies spec.adoption to an application that this Deployment
// finds on the server before it claimed it. ok is true when it was
// adopted and the caller goes on; otherwise the decision refuses.
func (d *decider) adopt(app *restapi.Application) (refused decision, ok bool) {
	o, st := d.o, d.st
	name := o.spec.Application.Name
	fields := differences(app, &o.spec.Application)
	matches := len(fields) == 0 && app.State == restapi.StateActive
	policy := o.spec.Adoption
	if policy == dbrestv1.AdoptionAdopt || (policy == dbrestv1.AdoptionAdoptIfMatching && matches) {
		st.ClaimedAt, st.Adopted = d.now(), true
		d.pending = &event{reason: eventAdopted, message: fmt.Sprintf(
			"application %q existed on the server before this Deployment (%s); adopted under spec.adoption %s. Deleting "+
				"this Deployment leaves it on the server unless spec.deletionPolicy is Delete", name, describeApplication(app), policy)}
		return decision{}, true
	}
	reason := dbrestv1.ReasonAdoptionRefused
	msg := fmt.Sprintf("application %q already exists on the server and this Deployment did not deploy it (%s); "+
		"spec.adoption is Refuse, so the operator makes no call. To take it over set spec.adoption to Adopt, or to "+
		"AdoptIfMatching to take it only when it already runs the spec; status.plan shows what adopting would change",
		name, describeApplication(app))
	if policy == dbrestv1.AdoptionAdoptIfMatching {
		reason = dbrestv1.ReasonAdoptionMismatch
		why := describeDifferences(app, &o.spec.Application, fields)
		if len(fields) == 0 {
			why = "it is " + app.State
		}
		msg = fmt.Sprintf("application %q already exists on the server and does not run exactly the spec (%s); "+
			"spec.adoption is AdoptIfMatching, so the operator makes no call. Make the spec match the server, or set "+
			"spec.adoption to Adopt to take it over and redeploy it", name, why)
	}
	st.Plan = d.readPlan(dbrestv1.JobOperationRedeploy, app, reason)
	requeue := o.resync
	if app.State == restapi.StateNew {
		// A job runs on it: its end may change the answer.
		requeue = pollInterval(o.spec)
	}
	return d.finish(outcome{phase: conditions.Stalled, reason: reason, message: msg, requeue: requeue,
		event: &event{warning: true, reason: reason, message: msg}}), false
}

// drifted is what an ObserveOnly Deployment does instead of the mutating
// call op: it reports the difference and plans the call.
func (d *decider) drifted(op dbrestv1.JobOperation) decision {
	o := d.o
	name := o.spec.Application.Name
	var app *restapi.Application
	if o.app != nil {
		app = o.app.app
	}
	d.st.Plan = d.readPlan(op, app, dbrestv1.ReasonObserveOnly)
	var msg string
	switch {
	case op == dbrestv1.JobOperationDeploy:
		msg = fmt.Sprintf("application %q is not on the server", name)
	case app != nil && app.State == restapi.StateFailed:
		msg = fmt.Sprintf("application %q is STATE_FAILED on the server", name)
	case app != nil:
		msg = fmt.Sprintf("application %q differs from the spec (%s)", name,
			describeDifferences(app, &o.spec.Application, differences(app, &o.spec.Application)))
	default:
		msg = fmt.Sprintf("application %q does not run the spec", name)
	}
	msg += fmt.Sprintf("; managementPolicy ObserveOnly: nothing is sent (status.plan shows the %s that Full would make)",
		strings.ToLower(string(op)))
	return d.finish(outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonDrifted, message: msg, requeue: o.resync,
		eventPerMessage: true, event: &event{warning: true, reason: eventDrifted, message: msg}})
}

// readPlan is the plan of op, computed from the application just read
// (nil: absent), held back by blockedBy.
func (d *decider) readPlan(op dbrestv1.JobOperation, app *restapi.Application, blockedBy string) *dbrestv1.Plan {
	p := d.callPlan(op, blockedBy)
	p.ReadAt = d.now()
	p.Changes = fieldChanges(app, &d.o.spec.Application)
	if op == dbrestv1.JobOperationRedeploy && app != nil && len(p.Changes) == 0 && app.State == restapi.StateActive {
		p.Operation = dbrestv1.PlanAdopt
	}
	switch {
	case p.Operation == dbrestv1.PlanAdopt:
		p.Reason = "the server already runs the spec: taking it over needs no call"
	case op == dbrestv1.JobOperationDeploy:
		p.Reason = "the application is not on the server"
	case app != nil && app.State == restapi.StateFailed && len(p.Changes) == 0:
		p.Reason = "the application is STATE_FAILED on the server"
	case op == dbrestv1.JobOperationRedeploy:
		p.Reason = "the server's application differs from the spec"
	}
	return p
}

// callPlan is the plan of op without a fresh read of the server.
func (d *decider) callPlan(op dbrestv1.JobOperation, blockedBy string) *dbrestv1.Plan {
	reason := "one mutating call per reconcile: it is sent at the next one"
	if blockedBy != "" {
		reason = "spec.application has not been seen running on the server; the server is read before any call"
	}
	return &dbrestv1.Plan{Operation: dbrestv1.PlanOperation(op), Adopts: d.st.ClaimedAt == nil && op != dbrestv1.JobOperationDeploy,
		Reason: reason, BlockedBy: blockedBy, Fingerprint: d.fp}
}

// blockedPlan is the plan held back by a reason that stops the
// Deployment before it reads the server (Conflict, Suspended, an open
// circuit): the plan computed at the last read when it is for this spec,
// else the call the state implies; nil when the server was last seen
// running this spec.
func (d *decider) blockedPlan(blockedBy string) *dbrestv1.Plan {
	st := d.st
	if st.Plan != nil && st.Plan.Fingerprint == d.fp {
		p := st.Plan.DeepCopy()
		p.BlockedBy = blockedBy
		return p
	}
	if st.LastAppliedFingerprint == d.fp || (d.observeOnly() && meta.IsStatusConditionTrue(st.Conditions, dbrestv1.ReadyCondition)) {
		return nil
	}
	op := dbrestv1.JobOperationRedeploy
	if st.ClaimedAt == nil {
		// Not read yet: an absent application is deployed, an existing
		// one is spec.adoption's to decide.
		op = dbrestv1.JobOperationDeploy
	}
	return d.callPlan(op, blockedBy)
}

// circuitPlan is the plan of o's Deployment held back by an open
// circuit, which the reconciler finds before decide runs.
func circuitPlan(o *observation) *dbrestv1.Plan {
	d := &decider{o: o, st: o.status.DeepCopy(), fp: fingerprint(&o.spec.Application)}
	return d.blockedPlan(dbrestv1.ReasonCircuitOpen)
}

// fieldChanges lists the fields a deploy (app nil) or redeploy of want
// changes on the server, with both values.
func fieldChanges(app *restapi.Application, want *dbrestv1.ApplicationSpec) []dbrestv1.FieldChange {
	fields := applicationFields
	if app != nil {
		fields = differences(app, want)
	}
	var out []dbrestv1.FieldChange
	for _, f := range fields {
		have, wanted := fieldValues(app, want, f)
		from, to := show(have), show(wanted)
		if app == nil {
			from = ""
			if to == `""` || to == "[]" || to == "{}" {
				continue
			}
		}
		out = append(out, dbrestv1.FieldChange{Field: f, From: from, To: to})
	}
	return out
}

// describeApplication shows every field of the server's application.
func describeApplication(app *restapi.Application) string {
	return fmt.Sprintf("state %s, deploymentPath %s, targets %s, planPath %s, version %s, properties %s",
		app.State, show(app.DeploymentPath), show(app.Targets), show(app.PlanPath), show(app.Version), show(app.Properties))
}

// effectiveDeletionPolicy resolves an unset spec.deletionPolicy: Delete
// for an application this Deployment deployed, Orphan for an adopted one.
func effectiveDeletionPolicy(spec *dbrestv1.DeploymentSpec, st *dbrestv1.DeploymentStatus) dbrestv1.DeletionPolicy {
	switch {
	case spec.DeletionPolicy != "":
		return spec.DeletionPolicy
	case st.Adopted:
		return dbrestv1.DeletionPolicyOrphan
	}
	return dbrestv1.DeletionPolicyDelete
}
