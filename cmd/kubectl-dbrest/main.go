// Command kubectl-dbrest is a kubectl plugin for the dbrest operator: put
// it on PATH and run "kubectl dbrest status", "kubectl dbrest plan NAME",
// "kubectl dbrest reconcile NAME", "kubectl dbrest suspend NAME" or
// "kubectl dbrest resume NAME". See docs/kubectl-plugin.md.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/dbrest-io/dbrest-operator/internal/kubectlplugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if err := kubectlplugin.NewCommand(streams).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
