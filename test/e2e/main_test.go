//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// The world every test shares: one control plane, one manager binary.
var (
	env        *envtest.Environment
	restConfig *rest.Config
	k8s        client.Client
	kubeconfig []byte
	managerBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dbrest-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := startControlPlane(filepath.Join(dir, "apiserver")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	managerBin, err = harness.BuildManager(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// startControlPlane starts envtest as testenv.Start does, but with a fixed
// certificate directory: harness.ControlPlane hides the envtest
// environment, and an apiserver restarted in a fresh directory would mint
// new certificates that no running client trusts. With the directory
// kept, the restarted apiserver serves the same certificates on the same
// port, as a real one does.
func startControlPlane(certDir string) error {
	if err := dbrestv1.AddToScheme(scheme.Scheme); err != nil {
		return err
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(testenv.Root(), "bin", "k8s", testenv.K8sVersion)
	}
	env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(testenv.Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme.Scheme,
	}
	// kube-apiserver drains for longer than envtest's 20s default when a
	// manager holds watches open; after StopTimeout envtest kills it, which
	// is as good a restart for these tests.
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir, StopTimeout: 5 * time.Second}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting envtest (run 'make envtest' first): %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	restConfig = cfg
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return err
	}
	user, err := env.AddUser(envtest.User{Name: "e2e-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err = user.KubeConfig()
	return err
}
