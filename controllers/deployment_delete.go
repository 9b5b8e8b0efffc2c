package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// finalize undeploys the application (deletionPolicy Delete) or leaves it
// (Orphan), then removes the finalizer. It runs even when the Deployment
// is suspended: deleting the object is an explicit request.
func (r *DeploymentReconciler) finalize(ctx context.Context, obj *dbrestv1.Deployment, before *dbrestv1.DeploymentStatus) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, dbrestv1.FinalizerName) {
		return reconcile.Result{}, nil
	}
	name := obj.Spec.Application.Name
	if obj.Spec.DeletionPolicy == dbrestv1.DeletionPolicyOrphan {
		return r.release(ctx, obj, event{reason: eventOrphaned,
			message: fmt.Sprintf("deletionPolicy Orphan: application %q left on the server", name)})
	}
	conn, blocked := r.connect(ctx, obj)
	if blocked != nil {
		// Nothing can be undeployed without a usable DatabaseAPI. In a
		// namespace being deleted the DatabaseAPI and its Secret are going
		// too and will not come back, so waiting would leave the object
		// stuck forever: let it go and say so.
		if r.namespaceTerminating(ctx, obj.Namespace) {
			return r.release(ctx, obj, event{warning: true, reason: eventOrphaned, message: fmt.Sprintf(
				"namespace %q is being deleted and the DatabaseAPI cannot be used (%s): application %q left on the server",
				obj.Namespace, blocked.message, name)})
		}
		blocked.message += "; to delete this Deployment without undeploying, set spec.deletionPolicy to Orphan"
		return r.finish(ctx, obj, *blocked), nil
	}

	if job := obj.Status.Job; job != nil && job.Status == dbrestv1.JobStatusInProgress {
		polled, settled := r.pollJob(ctx, obj, conn)
		if !settled {
			return r.finish(ctx, obj, polled), nil
		}
		if job.Operation == dbrestv1.JobOperationUndeploy && job.Status == dbrestv1.JobStatusCompleted {
			return r.release(ctx, obj, event{reason: eventUndeployed, message: fmt.Sprintf("application %q undeployed", name)})
		}
	}

	// Read before deleting: a job we have no record of may still be
	// running, and a second mutating call must not overlap it.
	app, err := conn.client.GetApplication(ctx, name)
	var notFound *restapi.NotFoundError
	switch {
	case errors.As(err, &notFound):
		return r.release(ctx, obj, event{reason: eventUndeployed, message: fmt.Sprintf("application %q is not on the server", name)})
	case err != nil:
		obj.Status.LastHTTPStatus = int32(restapi.StatusCode(err))
		return r.finish(ctx, obj, errorStep("reading application "+name+" before undeploy", err)), nil
	case app.State == restapi.StateNew:
		return r.finish(ctx, obj, step{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying,
			message: fmt.Sprintf("application %q is STATE_NEW: waiting for its running job before undeploying", name),
			requeue: pollInterval(obj)}), nil
	}

	if job := obj.Status.Job; job != nil && job.Operation == dbrestv1.JobOperationUndeploy && job.Status == dbrestv1.JobStatusPending {
		if s, found := r.findLostUndeploy(ctx, obj, conn); found {
			return r.finish(ctx, obj, s), nil
		}
	}
	return r.undeploy(ctx, obj, conn, before)
}

// findLostUndeploy looks, among the server's jobs, for a removal of this
// application that is still running: an undeploy sent by an operator that
// stopped before its answer reached status. It is then polled instead of
// sending a second DELETE over it.
func (r *DeploymentReconciler) findLostUndeploy(ctx context.Context, obj *dbrestv1.Deployment, conn connected) (step, bool) {
	name := obj.Spec.Application.Name
	jobs, err := conn.client.ListJobs(ctx)
	if err != nil {
		return errorStep("listing jobs to settle an undeploy whose answer was lost", err), true
	}
	for i := range jobs {
		j := &jobs[i]
		if j.DeploymentName != name || j.Operation != "remove" || j.Done() {
			continue
		}
		url := conn.client.JobURL(j.ID)
		obj.Status.Job = &dbrestv1.JobRecord{URL: url, Operation: dbrestv1.JobOperationUndeploy,
			Status: dbrestv1.JobStatusInProgress, StartedAt: *now()}
		return step{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying,
			message: fmt.Sprintf("resuming undeploy job %s of %q, whose answer was lost", url, name),
			requeue: pollInterval(obj)}, true
	}
	return step{}, false
}

// undeploy sends the DELETE: 404 means already gone, 200/204 done, 202 a
// job recorded in status and polled like any other.
func (r *DeploymentReconciler) undeploy(ctx context.Context, obj *dbrestv1.Deployment, conn connected, before *dbrestv1.DeploymentStatus) (reconcile.Result, error) {
	name := obj.Spec.Application.Name
	// The intent lands before the call: the application stays
	// STATE_ACTIVE while the server removes it, so without this record an
	// operator restarted before the answer lands could not tell that a
	// DELETE is already running, and would send a second one.
	obj.Status.Job = &dbrestv1.JobRecord{Operation: dbrestv1.JobOperationUndeploy, Status: dbrestv1.JobStatusPending, StartedAt: *now()}
	if err := r.patchStatus(ctx, obj, before); err != nil {
		return reconcile.Result{}, err
	}
	*before = *obj.Status.DeepCopy()
	res, err := conn.client.Undeploy(ctx, name)
	var notFound *restapi.NotFoundError
	switch {
	case errors.As(err, &notFound):
		return r.release(ctx, obj, event{reason: eventUndeployed, message: fmt.Sprintf("application %q was already gone", name)})
	case err != nil:
		obj.Status.LastHTTPStatus = int32(restapi.StatusCode(err))
		var transport *restapi.TransportError
		if !errors.As(err, &transport) || !transport.OutcomeUnknown() {
			obj.Status.Job = nil // refused: nothing runs on the server
		}
		return r.finish(ctx, obj, errorStep("undeploy of "+name, err)), nil
	case res.Outcome == restapi.OutcomeAccepted:
		obj.Status.LastHTTPStatus = int32(res.StatusCode)
		obj.Status.Job = &dbrestv1.JobRecord{URL: res.JobURL, Operation: dbrestv1.JobOperationUndeploy,
			Status: dbrestv1.JobStatusInProgress, StartedAt: *now()}
		return r.finish(ctx, obj, step{phase: conditions.Progressing, reason: dbrestv1.ReasonUndeploying,
			message: fmt.Sprintf("undeploy of %q accepted; polling job %s", name, res.JobURL),
			requeue: pollDelay(pollInterval(obj), r.maxPoll(), res.RetryAfter, 0),
			event:   &event{reason: eventUndeployAccepted, message: fmt.Sprintf("undeploy of %q accepted as job %s", name, res.JobURL)}}), nil
	}
	return r.release(ctx, obj, event{reason: eventUndeployed, message: fmt.Sprintf("application %q undeployed (HTTP %d)", name, res.StatusCode)})
}

// release removes the finalizer, letting Kubernetes delete the object.
func (r *DeploymentReconciler) release(ctx context.Context, obj *dbrestv1.Deployment, ev event) (reconcile.Result, error) {
	patch := client.MergeFrom(obj.DeepCopy())
	controllerutil.RemoveFinalizer(obj, dbrestv1.FinalizerName)
	if err := r.Patch(ctx, obj, patch); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	typ := "Normal"
	if ev.warning {
		typ = "Warning"
	}
	r.Recorder.Eventf(obj, nil, typ, ev.reason, "Delete", "%s", ev.message)
	r.retries.forget(obj.UID)
	r.writes.forget(obj.UID)
	return reconcile.Result{}, nil
}

func (r *DeploymentReconciler) namespaceTerminating(ctx context.Context, namespace string) bool {
	var ns corev1.Namespace
	if err := r.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return false
	}
	return !ns.DeletionTimestamp.IsZero()
}
