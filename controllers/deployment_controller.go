package controllers

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
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
	// ListJobs and JobURL find a job whose answer was lost (see
	// deployment_delete.go); they are used only in that rare case.
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
// through the REST API, one step per reconcile.
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

// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments/status,verbs=patch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=deployments/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves one Deployment one step towards its spec. Status is
// written once, by the deferred patch, and only when it changed; that
// patch lands before the function returns, so a job accepted in this step
// is in status before the operator waits on it.
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

	owner, err := r.conflict(ctx, obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() {
		if owner != nil {
			return r.release(ctx, obj, event{reason: eventOrphaned, message: owner.message + "; released without undeploying"})
		}
		return r.finalize(ctx, obj, before)
	}
	if !controllerutil.ContainsFinalizer(obj, dbrestv1.FinalizerName) {
		// The finalizer lands before any call to the server, so no
		// application can be deployed for an object that could vanish
		// without undeploying it.
		patch := client.MergeFrom(obj.DeepCopy())
		controllerutil.AddFinalizer(obj, dbrestv1.FinalizerName)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return reconcile.Result{}, err
		}
		versions = append(versions, obj.ResourceVersion)
	}
	if owner != nil {
		return r.finish(ctx, obj, *owner), nil
	}
	if obj.Spec.Suspend {
		return r.finish(ctx, obj, step{phase: conditions.Paused, reason: dbrestv1.ReasonSuspended,
			message: "spec.suspend is true: the operator makes no calls for this Deployment"}), nil
	}
	return r.finish(ctx, obj, r.sync(ctx, obj)), nil
}

// finish turns a step into conditions, an event and a requeue.
func (r *DeploymentReconciler) finish(ctx context.Context, obj *dbrestv1.Deployment, s step) reconcile.Result {
	obj.Status.ObservedGeneration = obj.Generation
	repeated := conditions.Reason(obj.Status.Conditions) == s.reason
	conditions.Apply(&obj.Status.Conditions, obj.Generation, s.phase, s.reason, s.message)
	// A warning that keeps coming for the same reason is one event, not
	// one per retry.
	if s.event != nil && (!repeated || !s.event.warning) {
		typ := "Normal"
		if s.event.warning {
			typ = "Warning"
		}
		r.Recorder.Eventf(obj, nil, typ, s.event.reason, s.reason, "%s", s.event.message)
	}
	delay := s.requeue
	if s.retry {
		delay = r.retries.next(obj.UID, s.retryAfter)
		obj.Status.LastError = s.message
	} else {
		r.retries.reset(obj.UID)
	}
	log.FromContext(ctx).V(1).Info("reconciled", "phase", s.phase.String(), "reason", s.reason, "requeueAfter", delay)
	return reconcile.Result{RequeueAfter: delay}
}

// patchStatus writes the status when, and only when, it changed. The
// patch is a merge patch of the status alone, computed from the status
// read at the start of the reconcile.
func (r *DeploymentReconciler) patchStatus(ctx context.Context, obj *dbrestv1.Deployment, before *dbrestv1.DeploymentStatus) error {
	if equality.Semantic.DeepEqual(before, &obj.Status) {
		return nil
	}
	base := obj.DeepCopy()
	base.Status = *before
	err := r.Status().Patch(ctx, obj, client.MergeFrom(base))
	if apierrors.IsNotFound(err) {
		return nil // the finalizer was removed and the object is gone
	}
	return err
}

func now() *metav1.Time {
	t := metav1.NewTime(time.Now().Truncate(time.Second))
	return &t
}
