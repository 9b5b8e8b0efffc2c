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
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/circuit"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
	"github.com/dbrest-io/dbrest-operator/internal/connection"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// Prober is what the DatabaseAPI reconciler needs from the REST API.
type Prober interface {
	Probe(ctx context.Context) error
}

var _ Prober = (*restapi.Client)(nil)

// ProberFunc returns the client of a DatabaseAPI and the key of the
// connection it was built from (spec, credentials and CA versions), as
// ClientFunc does.
type ProberFunc func(ctx context.Context, api *dbrestv1.DatabaseAPI) (Prober, string, error)

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
	// Circuits holds each DatabaseAPI's breaker, shared with the
	// Deployment reconciler. While a circuit is open, this reconciler's
	// probe is the only request to the server; nil makes no checks.
	Circuits *circuit.Registry
	// CallWait is how long a worker waits for a probe's answer before it
	// leaves the probe to finish on its own, as DeploymentOptions.CallWait
	// (default 100ms; negative never waits).
	CallWait time.Duration

	retries *retryTracker
	// probes holds the probes on their way, one per DatabaseAPI at most.
	probes *probeFlights
	// wake carries the DatabaseAPIs whose circuit changed.
	wake <-chan ctrlevent.GenericEvent
}

// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps.dbrest.io,resources=databaseapis/status,verbs=patch

// Reconcile probes one DatabaseAPI and sets its Ready condition.
func (r *DatabaseAPIReconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, retErr error) {
	api := &dbrestv1.DatabaseAPI{}
	if err := r.Get(ctx, req.NamespacedName, api); err != nil {
		if apierrors.IsNotFound(err) {
			if r.Forget != nil {
				r.Forget(req.NamespacedName)
			}
			if r.Circuits != nil {
				r.Circuits.Forget(req.String())
			}
			// Its probe, if one is on its way, was cancelled by the
			// informer's delete handler (SetupWithManager).
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

	var b *circuit.Breaker
	if r.Circuits != nil {
		b = breakerFor(r.Circuits, api)
	}
	s, probed, pending := r.probeThrough(ctx, req, api, b)
	if pending {
		// Its answer wakes this DatabaseAPI; nothing changed meanwhile.
		return reconcile.Result{}, nil
	}
	if v := api.Annotations[dbrestv1.ReconcileRequestedAnnotation]; v != "" && probed {
		// A probe asked for; one held back by an open circuit is
		// handled when the probe is due.
		api.Status.LastHandledReconcileAt = v
	}
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
	if b != nil {
		if c := b.Snapshot(); c.State == circuit.Open {
			// The next probe, whatever the backoff of this one.
			return reconcile.Result{RequeueAfter: max(time.Until(c.NextProbeAt), 10*time.Millisecond)}, nil
		}
	}
	if s.retry && probed {
		return reconcile.Result{RequeueAfter: min(r.retries.next(api.UID, s.retryAfter), probeInterval(api))}, nil
	}
	r.retries.reset(api.UID)
	return reconcile.Result{RequeueAfter: probeInterval(api)}, nil
}

// probeThrough probes through the breaker: while its circuit is open the
// probe goes only when due, and its outcome closes the circuit or moves
// the next probe. probed is false when no probe was due; pending says a
// probe is on its way without a worker, and its answer wakes the
// DatabaseAPI (see probeFlight).
func (r *DatabaseAPIReconciler) probeThrough(ctx context.Context, req reconcile.Request, api *dbrestv1.DatabaseAPI,
	b *circuit.Breaker) (s outcome, probed, pending bool) {
	// Resolving the client reads only the cache and the few Secrets in
	// use: no server is asked.
	p, connKey, connErr := r.Clients(ctx, api)
	key := probeKey{generation: api.Generation, conn: connKey}
	landed, pending := r.landedProbe(api, key)
	if pending {
		return outcome{}, false, true
	}
	probeNow := func(t *circuit.Ticket) (outcome, bool) {
		if connErr != nil {
			return connectionOutcome(connErr), true
		}
		return r.probeFlight(ctx, req, api, p, key, t)
	}
	if b == nil {
		if landed != nil {
			return *landed, true, false
		}
		s, answered := probeNow(nil)
		return s, answered, !answered
	}
	if landed != nil {
		// The breaker saw its answer when it came.
		s, probed = *landed, true
	} else if t, due := b.ProbeTicket(time.Now()); due {
		var answered bool
		if s, answered = probeNow(t); !answered {
			return outcome{}, false, true // the flight holds the ticket
		}
		t.Release(time.Now())
		probed = true
	}
	c := b.Snapshot()
	api.Status.Circuit = circuitStatus(c)
	if c.State == circuit.Open {
		s = outcome{phase: conditions.Progressing, reason: dbrestv1.ReasonCircuitOpen, message: fmt.Sprintf(
			"the server is in trouble (%s: %s): the circuit opened at %s and no Deployment calls it until a probe succeeds; "+
				"%d probes failed, next at %s", c.Reason, c.Message, c.OpenedAt.UTC().Format(time.RFC3339), c.Probes,
			api.Status.Circuit.NextProbeAt.UTC().Format(time.RFC3339))}
	} else if !probed {
		// Closed by a Deployment's request since this reconcile began:
		// probe now rather than guess.
		var answered bool
		if s, answered = probeNow(nil); !answered {
			return outcome{}, false, true
		}
		probed = true
	}
	return s, probed, false
}

// connectionOutcome is the outcome of a DatabaseAPI whose client could not
// be built: nothing was sent.
func connectionOutcome(err error) outcome {
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

// probeOutcome says what the probe's answer err shows of the API.
func probeOutcome(api *dbrestv1.DatabaseAPI, err error) outcome {
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
