// Package testenv starts a real kube-apiserver and etcd (controller-runtime
// envtest) with this project's CRDs installed, for integration tests. The
// binaries come from bin/k8s/<version>, built by hack/build-control-plane.sh
// (make envtest); KUBEBUILDER_ASSETS overrides the location.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

var (
	schemeOnce sync.Once
	schemeErr  error
)

// K8sVersion is the control-plane version the Makefile builds.
const K8sVersion = "1.37.2"

// Root is the repository root, found from this file's location so tests
// work from any package directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start starts the control plane and installs the CRDs. The caller must
// call env.Stop. It fails with a message that says how to build the
// binaries when they are missing.
func Start() (*envtest.Environment, *rest.Config, error) {
	// Register once: a second registration writes the scheme's maps while
	// an earlier test's manager may still be reading them.
	schemeOnce.Do(func() { schemeErr = dbrestv1.AddToScheme(scheme.Scheme) })
	if schemeErr != nil {
		return nil, nil, schemeErr
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(Root(), "bin", "k8s", K8sVersion)
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, nil, fmt.Errorf("kube-apiserver not found in %s: run 'make envtest' (builds it from Go modules, once)", assets)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme.Scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	// A generous client-side rate limit: tests create many objects quickly.
	cfg.QPS, cfg.Burst = 500, 1000
	return env, cfg, nil
}

// Codecs is a codec factory for the test scheme, for decoding YAML samples.
func Codecs() serializer.CodecFactory { return serializer.NewCodecFactory(scheme.Scheme) }
