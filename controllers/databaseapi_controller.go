package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// Prober is what the DatabaseAPI reconciler needs from the REST API.
type Prober interface {
	Probe(ctx context.Context) error
}

var _ Prober = (*restapi.Client)(nil)

// ProberFunc returns the client of a DatabaseAPI, as ClientFunc does.
type ProberFunc func(ctx context.Context, api *dbrestv1.DatabaseAPI) (Prober, error)

// DatabaseAPIReconciler resolves a DatabaseAPI's credentials and CA,
// probes the API and reports the outcome in its Ready condition.
type DatabaseAPIReconciler struct {
	client.Client
	// Clients returns the (cached) REST client of a DatabaseAPI.
	Clients ProberFunc
	// Forget drops the cached client of a DatabaseAPI that is gone.
	Forget func(client.ObjectKey)
	// Recorder records the DatabaseAPI's events.
	Recorder events.EventRecorder
	// Backoff is the retry policy when the probe fails transiently.
	Backoff Backoff

	retries *retryTracker
}

// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis/status,verbs=patch

// Reconcile probes one DatabaseAPI and sets its Ready condition.
func (r *DatabaseAPIReconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, retErr error) {
	api := &dbrestv1.DatabaseAPI{}
	if err := r.Get(ctx, req.NamespacedName, api); err != nil {
		if apierrors.IsNotFound(err) && r.Forget != nil {
			r.Forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	before := api.Status.DeepCopy()
	defer func() {
		if err := patchStatusIfChanged(ctx, r.Client, api, before, &api.Status,
			func(base *dbrestv1.DatabaseAPI) { base.Status = *before }); err != nil {
			result, retErr = reconcile.Result{}, kerrors.NewAggregate([]error{retErr, err})
		}
	}()
	if !api.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}

	s := r.probe(ctx, api)
	api.Status.ObservedGeneration = api.Generation
	previous := conditions.Reason(api.Status.Conditions)
	conditions.Apply(&api.Status.Conditions, api.Generation, s.phase, s.reason, s.message)
	if s.reason != previous {
		typ := "Normal"
		if s.phase != conditions.Ready || api.Spec.InsecureSkipTLSVerify {
			typ = "Warning"
		}
		r.Recorder.Eventf(api, nil, typ, s.reason, "Probe", "%s", s.message)
	}
	if s.retry {
		return reconcile.Result{RequeueAfter: min(r.retries.next(api.UID, s.retryAfter), probeInterval(api))}, nil
	}
	r.retries.reset(api.UID)
	return reconcile.Result{RequeueAfter: probeInterval(api)}, nil
}

// probe resolves the client and sends the cheap GET; the step says what it found.
func (r *DatabaseAPIReconciler) probe(ctx context.Context, api *dbrestv1.DatabaseAPI) outcome {
	p, err := r.Clients(ctx, api)
	if err != nil {
		var creds *connection.CredentialsError
		var ca *connection.CAError
		var cfg *connection.ConfigError
		switch {
		case errors.As(err, &creds):
			return outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonCredentialsNotFound,
				message: err.Error() + "; create it with username and password, or token"}
		case errors.As(err, &ca):
			return outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonCANotFound, message: err.Error()}
		case errors.As(err, &cfg):
			return outcome{phase: conditions.Stalled, reason: dbrestv1.ReasonInvalidConfig, message: err.Error()}
		}
		return outcome{phase: conditions.Progressing, reason: dbrestv1.ReasonUnreachable, message: err.Error(), retry: true}
	}
	err = p.Probe(ctx)
	api.Status.LastHTTPStatus = int32(restapi.StatusCode(err))
	if err == nil {
		api.Status.LastHTTPStatus = 200
		msg := fmt.Sprintf("the API at %s answered the probe", api.Spec.URL)
		if api.Spec.InsecureSkipTLSVerify {
			msg += "; WARNING: insecureSkipTLSVerify is on, the server's certificate is not verified"
		}
		return outcome{phase: conditions.Ready, reason: dbrestv1.ReasonReachable, message: msg}
	}
	c := classify(err)
	msg := fmt.Sprintf("probe of %s failed: %v", api.Spec.URL, err)
	if c.terminal {
		hint := c.hint
		if c.reason == dbrestv1.ReasonInvalidSpec {
			hint = "check the DatabaseAPI's url, paths and headers"
		}
		return outcome{phase: conditions.Stalled, reason: c.reason, message: msg + "; " + hint}
	}
	return outcome{phase: conditions.Progressing, reason: c.reason, message: msg, retry: true, retryAfter: restapi.RetryAfter(err)}
}

func probeInterval(api *dbrestv1.DatabaseAPI) time.Duration {
	if api.Spec.ProbeInterval != nil && api.Spec.ProbeInterval.Duration > 0 {
		return api.Spec.ProbeInterval.Duration
	}
	return 5 * time.Minute
}
