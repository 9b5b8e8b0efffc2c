// Package kubectlplugin holds the commands of kubectl-dbrest, the kubectl
// plugin that shows and steers dbrest Deployments: status, plan,
// reconcile, suspend and resume. It talks only to the kube-apiserver
// (never to a REST server) and takes kubectl's connection flags
// (--kubeconfig, --context, -n, ...) through k8s.io/cli-runtime.
package kubectlplugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// plugin is what every command shares: kubectl's connection flags and
// the streams to write to.
type plugin struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
}

// NewCommand returns the root command, "kubectl dbrest", with its
// subcommands and kubectl's connection flags.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	p := &plugin{flags: genericclioptions.NewConfigFlags(true), streams: streams}
	root := &cobra.Command{
		Use:   "kubectl-dbrest",
		Short: "Show and steer dbrest Deployments",
		Long: `kubectl dbrest shows and steers the Deployments (apps.dbrest.io) that the
dbrest operator reconciles: what they run, what call the operator would
make next and what holds it back, and asks the operator to look again.

It talks to the kube-apiserver only, with the same connection flags as
kubectl (--kubeconfig, --context, -n).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl dbrest",
		},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetIn(streams.In)
	p.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(p.statusCommand(), p.planCommand(), p.reconcileCommand(),
		p.suspendCommand(true), p.suspendCommand(false))
	return root
}

// scheme knows the dbrest types, and nothing else the plugin reads.
func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := dbrestv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// client connects as kubectl would with the same flags, and returns the
// namespace the flags and the kubeconfig's context name.
func (p *plugin) client() (client.Client, string, error) {
	cfg, err := p.flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := p.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	s, err := scheme()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// target is the object a command names: a Deployment by default, or a
// DatabaseAPI written as databaseapi/NAME (reconcile only).
type target struct {
	kind string // "deployment" or "databaseapi"
	name string
}

// parseTarget reads NAME, deployment/NAME or databaseapi/NAME, with
// kubectl's resource spellings (plural, short name, kind.group).
func parseTarget(arg string, allowAPI bool) (target, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return target{kind: "deployment", name: arg}, nil
	}
	if name == "" || strings.Contains(name, "/") {
		return target{}, fmt.Errorf("%q: want NAME or KIND/NAME", arg)
	}
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "dbdeploy", "deployment.apps.dbrest.io", "deployments.apps.dbrest.io":
		return target{kind: "deployment", name: name}, nil
	case "databaseapi", "databaseapis", "dbapi", "databaseapi.apps.dbrest.io", "databaseapis.apps.dbrest.io":
		if allowAPI {
			return target{kind: "databaseapi", name: name}, nil
		}
	}
	if allowAPI {
		return target{}, fmt.Errorf("%q: the kind must be deployment or databaseapi", arg)
	}
	return target{}, fmt.Errorf("%q: the kind must be deployment", arg)
}

// getDeployment reads one Deployment, with an error that names it.
func getDeployment(ctx context.Context, c client.Client, ns, name string) (*dbrestv1.Deployment, error) {
	d := &dbrestv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, name, err)
	}
	return d, nil
}
