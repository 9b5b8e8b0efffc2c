package chart

import (
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/dbrest-io/dbrest-operator/internal/harness"
)

// restConfig reaches the test control plane (kube-apiserver and etcd,
// the CRDs installed).
var restConfig *rest.Config

func TestMain(m *testing.M) {
	cp, err := harness.StartControlPlane()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restConfig = cp.Config
	code := m.Run()
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}
