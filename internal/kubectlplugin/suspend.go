package kubectlplugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// suspendCommand is "suspend" (on) or "resume" (off): both set
// spec.suspend with a merge patch, which is all the operator needs.
func (p *plugin) suspendCommand(on bool) *cobra.Command {
	use, short, long, done := "resume NAME", "Let the operator call the server again for a Deployment",
		`resume clears spec.suspend: the operator reconciles the Deployment again,
and polls a job that ran while it was suspended.`, "resumed"
	if on {
		use, short, long, done = "suspend NAME", "Stop every call to the server for a Deployment",
			`suspend sets spec.suspend: the operator makes no call to the server for the
Deployment, reads included, until it is resumed. A job already started
runs on. status.plan shows the call that waits, blocked by Suspended.

A GitOps tool that owns the manifest may set spec.suspend back; suspend it
there instead.`, "suspended"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
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
			if d.Spec.Suspend == on {
				_, err := fmt.Fprintf(p.streams.Out, "deployment %s/%s: already %s\n", ns, t.name, done)
				return err
			}
			// null removes the field, as an unset suspend reads.
			value := "null"
			if on {
				value = "true"
			}
			patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspend":`+value+`}}`))
			if err := c.Patch(cmd.Context(), d, patch); err != nil {
				return fmt.Errorf("deployment %s/%s: %w", ns, t.name, err)
			}
			_, err = fmt.Fprintf(p.streams.Out, "deployment %s/%s: %s\n", ns, t.name, done)
			return err
		},
	}
}
