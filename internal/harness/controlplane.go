package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// ControlPlane is a running kube-apiserver and etcd with the CRDs installed.
type ControlPlane struct {
	// Config is an admin rest.Config for clients in this process.
	Config *rest.Config
	env    *envtest.Environment
}

// startTimeout is how long kube-apiserver and etcd may take to start. It
// is longer than envtest's 20s default because a loaded 2-core machine
// (parallel test packages, a running benchmark) can need more.
const startTimeout = 2 * time.Minute

// StartControlPlane starts kube-apiserver and etcd from bin/k8s (or
// KUBEBUILDER_ASSETS) and installs the CRDs. The caller must call Stop.
func StartControlPlane() (*ControlPlane, error) {
	if err := dbrestv1.AddToScheme(scheme.Scheme); err != nil {
		return nil, err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(testenv.Root(), "bin", "k8s", testenv.K8sVersion)
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("kube-apiserver not found in %s: run 'make envtest' (builds it from Go modules, once)", assets)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(testenv.Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme.Scheme,
		UseExistingCluster:       ptr.To(false),
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		// Start can fail after the processes are up, so stop them too.
		return nil, errors.Join(fmt.Errorf("starting the control plane: %w", err), env.Stop())
	}
	return &ControlPlane{Config: cfg, env: env}, nil
}

// AdminKubeconfig provisions a user in system:masters and returns its
// kubeconfig, for a process started outside this one.
func (cp *ControlPlane) AdminKubeconfig(user string) ([]byte, error) {
	u, err := cp.env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding user %s: %w", user, err)
	}
	return u.KubeConfig()
}

// Stop terminates kube-apiserver and etcd and removes their data.
func (cp *ControlPlane) Stop() error {
	if err := cp.env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}
