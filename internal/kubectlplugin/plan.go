package kubectlplugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

func (p *plugin) planCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "plan NAME",
		Short: "Print the next call the operator would make, as a diff",
		Long: `plan prints status.plan of a Deployment: the next deploy, redeploy or
undeploy the operator would make (or an adoption that needs no call), why,
what holds it back (ObserveOnly, an adoption refused, a Conflict, an open
circuit, suspend), and the fields it changes as a diff from what the
server ran when last read (-) to the spec (+).

Read it before switching an ObserveOnly Deployment to Full, or before
lifting what blocks it.`,
		Example: `  kubectl dbrest plan checkout
  kubectl dbrest plan -n shop deployment/checkout`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0], false)
			if err != nil {
				return err
			}
			c, ns, err := p.client()
			if err != nil {
				return err
			}
			d, err := getDeployment(cmd.Context(), c, ns, t.name)
			if err != nil {
				return err
			}
			return writePlan(p.streams.Out, d)
		},
	}
}

// writePlan prints the plan of d, or says that none is pending.
func writePlan(out io.Writer, d *dbrestv1.Deployment) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Deployment %s/%s: application %q through DatabaseAPI %s\n",
		d.Namespace, d.Name, d.Spec.Application.Name, d.Spec.DatabaseAPIRef.Name)
	if d.Status.ObservedGeneration < d.Generation {
		fmt.Fprintf(&b, "Note: the operator has not seen generation %d yet (last seen: %d); the plan may change.\n",
			d.Generation, d.Status.ObservedGeneration)
	}
	pl := d.Status.Plan
	if pl == nil {
		fmt.Fprintf(&b, "No call pending. Ready=%s", readyStatus(d))
		if r := conditionReason(d); r != "" {
			fmt.Fprintf(&b, " (%s)", r)
		}
		if m := conditionMessage(d); m != "" {
			fmt.Fprintf(&b, ": %s", m)
		}
		b.WriteString("\n")
		_, err := io.WriteString(out, b.String())
		return err
	}
	fmt.Fprintf(&b, "Plan: %s", pl.Operation)
	if pl.Adopts {
		b.WriteString(", taking over an application this Deployment did not deploy")
	}
	if pl.BlockedBy != "" {
		fmt.Fprintf(&b, "; blocked by %s", pl.BlockedBy)
	}
	fmt.Fprintf(&b, "\nWhy: %s\n", pl.Reason)
	switch {
	case pl.Operation == dbrestv1.PlanUndeploy:
		fmt.Fprintf(&b, "\n--- server\n+++ spec\n- application %q\n", d.Spec.Application.Name)
	case len(pl.Changes) == 0 && pl.Operation == dbrestv1.PlanAdopt:
		b.WriteString("No field changes: the server already runs the spec.\n")
	case len(pl.Changes) == 0:
		b.WriteString("Field changes unknown: the server has not been read since the spec changed.\n")
	default:
		b.WriteString("\n--- server")
		if pl.ReadAt != nil {
			fmt.Fprintf(&b, " (read %s)", pl.ReadAt.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n+++ spec\n")
		for _, ch := range pl.Changes {
			if ch.From != "" {
				fmt.Fprintf(&b, "- %s: %s\n", ch.Field, ch.From)
			}
			if ch.To != "" {
				fmt.Fprintf(&b, "+ %s: %s\n", ch.Field, ch.To)
			}
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}
