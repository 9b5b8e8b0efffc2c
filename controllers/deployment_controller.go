package controllers

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// ApplicationClient is what the Deployment reconciler needs from the REST
// API: a read, the three mutating calls, and job reads.
type ApplicationClient interface {
	GetApplication(ctx context.Context, name string) (*restapi.Application, error)
	Deploy(ctx context.Context, spec restapi.ApplicationSpec) (*restapi.Result, error)
	Redeploy(ctx context.Context, spec restapi.ApplicationSpec) (*restapi.Result, error)
	Undeploy(ctx context.Context, name string) (*restapi.Result, error)
	GetJob(ctx context.Context, jobURL string) (*restapi.JobStatus, error)
	// ListJobs and JobURL find the job of a call whose outcome is
	// unknown; they are used only in that rare case.
	ListJobs(ctx context.Context) ([]restapi.Job, error)
	JobURL(id string) string
}

var _ ApplicationClient = (*restapi.Client)(nil)

// ClientFunc returns the client for a DatabaseAPI, sending
// ?__detached=<detached> on mutating calls, and a key that changes whenever
// the DatabaseAPI, its Secret or its CA changes. Errors are the connection
// package's typed errors.
type ClientFunc func(ctx context.Context, api *dbrestv1.DatabaseAPI, detached bool) (ApplicationClient, string, error)

// JobObserver is told of each job the operator saw finish: its operation
// (Deploy, Redeploy, Undeploy), its outcome (completed, failed, expired)
// and how long it ran from acceptance to the poll that saw it end.
type JobObserver interface {
	ObserveJob(op dbrestv1.JobOperation, outcome string, d time.Duration)
}

// DeploymentOptions tunes the Deployment reconciler.
type DeploymentOptions struct {
	// ResyncInterval is how often a Ready application is read back to
	// detect drift, when spec.resyncInterval is unset. Default 10m.
	ResyncInterval time.Duration
	// MaxPollInterval caps the backoff between polls of a long job. Default 1m.
	MaxPollInterval time.Duration
	// Backoff is the retry policy for retryable failures.
	Backoff Backoff
}

// DeploymentReconciler deploys, redeploys and undeploys applications
// through the REST API.
type DeploymentReconciler struct {
	client.Client
	// Clients returns the REST client of a DatabaseAPI.
	Clients ClientFunc
	// Recorder records the Deployment's events.
	Recorder events.EventRecorder
	// Options tunes the reconciler; zero fields take defaults.
	Options DeploymentOptions
	// Jobs, when set, is told of every job that finishes (for metrics).
	Jobs JobObserver

	retries *retryTracker
	writes  *writeTracker
}

// staleRetry is how soon a reconcile that read a stale cached object runs
// again; the cache catches up within milliseconds.
const staleRetry = 100 * time.Millisecond

// maxActions bounds the actions of one reconcile. The longest path is a
// finalizer write, a job list, a read, a call and the read that verifies
// it; reaching the bound means the state machine loops, a bug that must
// not turn into a hot loop against the server.
const maxActions = 8

// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments/status,verbs=patch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile observes one Deployment, asks decide what to do, does it, and
// repeats until the decision is to finish. It writes to the kube-apiserver
// in three named places only: the finalizer (addFinalizer, release), the
// intent before a mutating call (recordIntent), and the deferred status
// patch, which lands before the function returns and only when the status
// changed.
func (r *DeploymentReconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, retErr error) {
	obj := &dbrestv1.Deployment{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if r.writes.isStale(obj.UID, obj.ResourceVersion) {
		return reconcile.Result{RequeueAfter: staleRetry}, nil
	}
	versions := []string{obj.ResourceVersion}
	before := obj.Status.DeepCopy()
	defer func() {
		// Every version we saw is superseded, except the one now current.
		if superseded := slices.DeleteFunc(versions, func(v string) bool { return v == obj.ResourceVersion }); len(superseded) > 0 {
			r.writes.wrote(obj.UID, superseded...)
		}
	}()
	defer func() {
		if err := r.patchStatus(ctx, obj, before); err != nil {
			// The error's own backoff replaces the planned requeue.
			result, retErr = reconcile.Result{}, kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	o, conn, err := r.observe(ctx, obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	for range maxActions {
		d := decide(o)
		r.noteJobEnd(obj.Status.Job, d.status.Job)
		obj.Status, o.status = d.status, d.status
		if d.event != nil {
			r.record(obj, *d.event)
		}
		switch d.action {
		case actFinish:
			return r.finish(ctx, obj, d.outcome), nil
		case actRelease:
			return r.release(ctx, obj, *d.outcome.event)
		case actAddFinalizer:
			if err := r.addFinalizer(ctx, obj); err != nil {
				return reconcile.Result{}, err
			}
			versions = append(versions, obj.ResourceVersion)
			o.finalizer = true
		case actPollJob:
			js, err := conn.client.GetJob(ctx, obj.Status.Job.URL)
			o.poll = &pollResult{job: js, err: err}
		case actListJobs:
			o.jobs = r.listJobs(ctx, conn)
		case actReadApp:
			app, err := conn.client.GetApplication(ctx, obj.Spec.Application.Name)
			o.app = &appResult{app: app, err: err}
		case actSend:
			if err := r.recordIntent(ctx, obj, before); err != nil {
				return reconcile.Result{}, err
			}
			versions = append(versions, obj.ResourceVersion)
			res, err := r.send(ctx, conn, obj, d.op)
			// The call may have changed the server: what was read before
			// it no longer holds.
			o.call, o.app, o.jobs, o.poll = &callResult{op: d.op, res: res, err: err}, nil, nil, nil
		}
	}
	return reconcile.Result{}, errStateMachineLoop
}

// patchStatus writes the status when, and only when, it changed. The
// patch is a merge patch of the status alone, computed from the status
// read at the start of the reconcile (or last written).
func (r *DeploymentReconciler) patchStatus(ctx context.Context, obj *dbrestv1.Deployment, before *dbrestv1.DeploymentStatus) error {
	return patchStatusIfChanged(ctx, r.Client, obj, before, &obj.Status,
		func(base *dbrestv1.Deployment) { base.Status = *before })
}

// patchStatusIfChanged is the one status write of both reconcilers: a
// merge patch from before to now, sent only when they differ. A NotFound
// means the object is gone, which is not an error.
func patchStatusIfChanged[T client.Object, S any](ctx context.Context, c client.Client, obj T, before, now *S, restore func(T)) error {
	if equality.Semantic.DeepEqual(before, now) {
		return nil
	}
	base := obj.DeepCopyObject().(T)
	restore(base)
	err := c.Status().Patch(ctx, obj, client.MergeFrom(base))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
