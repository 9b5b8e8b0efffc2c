package kubectlplugin

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

func (p *plugin) statusCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "status [NAME...]",
		Short: "A table of Deployments: Ready, reason, job, plan",
		Long: `status prints one row per Deployment in the namespace (every namespace with
-A, or only the named ones): the application, Ready and its reason, the last
job the operator started and its status, and the next call it would make
(PLAN) with what holds it back (BLOCKED BY).`,
		Example: `  kubectl dbrest status
  kubectl dbrest status -A
  kubectl dbrest status -n shop checkout`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return fmt.Errorf("name Deployments or use --all-namespaces, not both")
			}
			c, ns, err := p.client()
			if err != nil {
				return err
			}
			var items []dbrestv1.Deployment
			if len(args) > 0 {
				for _, name := range args {
					d, err := getDeployment(cmd.Context(), c, ns, name)
					if err != nil {
						return err
					}
					items = append(items, *d)
				}
			} else {
				list := &dbrestv1.DeploymentList{}
				var opts []client.ListOption
				if !all {
					opts = append(opts, client.InNamespace(ns))
				}
				if err := c.List(cmd.Context(), list, opts...); err != nil {
					return err
				}
				items = list.Items
				sort.Slice(items, func(i, j int) bool {
					if items[i].Namespace != items[j].Namespace {
						return items[i].Namespace < items[j].Namespace
					}
					return items[i].Name < items[j].Name
				})
			}
			if len(items) == 0 {
				if all {
					_, err := fmt.Fprintln(p.streams.ErrOut, "No Deployments found.")
					return err
				}
				_, err := fmt.Fprintf(p.streams.ErrOut, "No Deployments found in namespace %s.\n", ns)
				return err
			}
			return writeStatus(p.streams.Out, items, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the Deployments of every namespace")
	return cmd
}

// writeStatus prints the table; withNamespace adds the NAMESPACE column.
func writeStatus(out io.Writer, items []dbrestv1.Deployment, withNamespace bool) error {
	w := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	header := []string{"NAME", "APPLICATION", "READY", "REASON", "JOB", "PLAN", "BLOCKED BY"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for i := range items {
		d := &items[i]
		row := []string{d.Name, d.Spec.Application.Name, readyStatus(d), orNone(conditionReason(d)),
			jobSummary(d.Status.Job), planSummary(d.Status.Plan), blockedBy(d.Status.Plan)}
		if withNamespace {
			row = append([]string{d.Namespace}, row...)
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return w.Flush()
}

// readyStatus is the Ready condition's status, "Unknown" before the
// operator has written one.
func readyStatus(d *dbrestv1.Deployment) string {
	if c := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}

func conditionReason(d *dbrestv1.Deployment) string {
	if c := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

func conditionMessage(d *dbrestv1.Deployment) string {
	if c := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition); c != nil {
		return c.Message
	}
	return ""
}

// jobSummary is "Redeploy: completed", or "-" with no job.
func jobSummary(j *dbrestv1.JobRecord) string {
	if j == nil {
		return "-"
	}
	return fmt.Sprintf("%s: %s", j.Operation, j.Status)
}

// planSummary is the operation, with "(adopts)" for a takeover.
func planSummary(pl *dbrestv1.Plan) string {
	if pl == nil {
		return "-"
	}
	if pl.Adopts && pl.Operation != dbrestv1.PlanAdopt {
		return string(pl.Operation) + " (adopts)"
	}
	return string(pl.Operation)
}

func blockedBy(pl *dbrestv1.Plan) string {
	if pl == nil {
		return "-"
	}
	return orNone(pl.BlockedBy)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
