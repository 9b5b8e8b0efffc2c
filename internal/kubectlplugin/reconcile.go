package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// pollEvery is how often reconcile reads the object while it waits.
const pollEvery = 250 * time.Millisecond

func (p *plugin) reconcileCommand() *cobra.Command {
	var (
		timeout time.Duration
		waitFor bool
	)
	cmd := &cobra.Command{
		Use:   "reconcile NAME | databaseapi/NAME",
		Short: "Ask the operator to read the server now, and wait until it has",
		Long: `reconcile sets the annotation ` + dbrestv1.ReconcileRequestedAnnotation + ` to the
current time and waits until the operator echoes it in
status.lastHandledReconcileAt.

On a Deployment the operator reads the application at once (a drift check,
or a poll of the running job) and retries a Stalled Deployment once; it
sends no call its state machine would not send, and never passes an open
circuit breaker or the rate limit. On a DatabaseAPI (databaseapi/NAME) it
probes the server now, through the breaker.`,
		Example: `  kubectl dbrest reconcile checkout
  kubectl dbrest reconcile databaseapi/prod --timeout 30s
  kubectl dbrest reconcile checkout --wait=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0], true)
			if err != nil {
				return err
			}
			c, ns, err := p.client()
			if err != nil {
				return err
			}
			obj := newObject(t)
			key := client.ObjectKey{Namespace: ns, Name: t.name}
			if err := c.Get(cmd.Context(), key, obj); err != nil {
				return fmt.Errorf("%s %s/%s: %w", t.kind, ns, t.name, err)
			}
			value := time.Now().UTC().Format(time.RFC3339Nano)
			patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
			annotations := obj.GetAnnotations()
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[dbrestv1.ReconcileRequestedAnnotation] = value
			obj.SetAnnotations(annotations)
			if err := c.Patch(cmd.Context(), obj, patch); err != nil {
				return fmt.Errorf("%s %s/%s: %w", t.kind, ns, t.name, err)
			}
			if !waitFor {
				_, err := fmt.Fprintf(p.streams.Out, "%s %s/%s: reconcile requested at %s\n", t.kind, ns, t.name, value)
				return err
			}
			if err := waitHandled(cmd.Context(), c, key, obj, value, timeout); err != nil {
				return fmt.Errorf("%s %s/%s: %w", t.kind, ns, t.name, err)
			}
			_, err = fmt.Fprintf(p.streams.Out, "%s %s/%s: reconciled; %s\n", t.kind, ns, t.name, summary(obj))
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the operator to handle the request")
	cmd.Flags().BoolVar(&waitFor, "wait", true, "wait until the operator has handled the request")
	return cmd
}

// newObject is an empty object of the target's kind.
func newObject(t target) client.Object {
	if t.kind == "databaseapi" {
		return &dbrestv1.DatabaseAPI{}
	}
	return &dbrestv1.Deployment{}
}

// handled is the value the operator last echoed.
func handled(obj client.Object) string {
	switch o := obj.(type) {
	case *dbrestv1.Deployment:
		return o.Status.LastHandledReconcileAt
	case *dbrestv1.DatabaseAPI:
		return o.Status.LastHandledReconcileAt
	}
	return ""
}

// errNotHandled says the operator did not echo the request in time.
var errNotHandled = errors.New("the operator has not handled the request")

// waitHandled reads obj until status.lastHandledReconcileAt is value.
func waitHandled(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object, value string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, pollEvery, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, obj); err != nil {
			// Deleted or forbidden ends the wait; anything else (a
			// timeout, the client's rate limiter near the deadline) is
			// tried again until the timeout.
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
				return false, err
			}
			return false, nil
		}
		return handled(obj) == value, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("%w after %s: is the operator running, and does it watch namespace %s?", errNotHandled, timeout, key.Namespace)
	}
	return err
}

// summary is the object's Ready condition in a few words.
func summary(obj client.Object) string {
	switch o := obj.(type) {
	case *dbrestv1.Deployment:
		s := "Ready=" + readyStatus(o)
		if r := conditionReason(o); r != "" {
			s += " (" + r + ")"
		}
		if o.Status.Plan != nil {
			s += "; plan: " + planSummary(o.Status.Plan)
			if o.Status.Plan.BlockedBy != "" {
				s += ", blocked by " + o.Status.Plan.BlockedBy
			}
		}
		return s
	case *dbrestv1.DatabaseAPI:
		for _, c := range o.Status.Conditions {
			if c.Type == dbrestv1.ReadyCondition {
				return fmt.Sprintf("Ready=%s (%s)", c.Status, c.Reason)
			}
		}
	}
	return "Ready=Unknown"
}
