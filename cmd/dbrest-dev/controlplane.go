package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// controlPlane is a running kube-apiserver and etcd with the CRDs installed.
type controlPlane struct {
	env    *envtest.Environment
	config *rest.Config
}

// checkAssets says how to get the control-plane binaries when they are
// missing: that is what a newcomer who ran `go run` without `make` meets.
func checkAssets(assets string) error {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return fmt.Errorf("%s not found in %s: run 'make envtest' first (builds it from Go modules, about 5-20 minutes once)", bin, assets)
		}
	}
	return nil
}

// startControlPlane starts kube-apiserver and etcd from the binaries in
// assets and installs the CRDs found in crdDir. On error nothing is left
// running. envtest cannot be cut short, so when ctx ends meanwhile this
// only says so, lest the user reach for kill -9 and orphan the processes;
// the caller stops them once started.
func startControlPlane(ctx context.Context, assets, crdDir string) (*controlPlane, error) {
	started := make(chan struct{})
	defer close(started)
	go func() {
		select {
		case <-ctx.Done():
			ctrl.Log.WithName("dev").Info("interrupted: stopping as soon as kube-apiserver and etcd have started")
		case <-started:
		}
	}()

	env := &envtest.Environment{
		// The paths are set, not only BinaryAssetsDirectory, because
		// KUBEBUILDER_ASSETS or TEST_ASSET_* left in the user's shell would
		// otherwise silently win over --assets.
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{Path: filepath.Join(assets, "kube-apiserver")},
			Etcd:      &envtest.Etcd{Path: filepath.Join(assets, "etcd")},
		},
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
		// USE_EXISTING_CLUSTER=true in the environment would make envtest
		// install the CRDs into whatever cluster the current kubeconfig names.
		UseExistingCluster: ptr.To(false),
		Scheme:             newScheme(),
		// The first start on a cold machine (page cache, etcd fsync) can be
		// slower than the 20s default.
		ControlPlaneStartTimeout: time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		// Start can fail after the processes are up (default namespace,
		// CRD install), so stop them too.
		return nil, errors.Join(fmt.Errorf("starting the control plane: %w", err), env.Stop())
	}
	return &controlPlane{env: env, config: cfg}, nil
}

// stop terminates kube-apiserver and etcd and removes their data and
// certificate directories.
func (cp *controlPlane) stop() error {
	if err := cp.env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// watch sends one error on failed when the kube-apiserver stops answering,
// so that a crashed control plane stops the playground instead of leaving
// the manager retrying against nothing. envtest does not expose the child
// processes, so their health is read from /livez.
func (cp *controlPlane) watch(ctx context.Context, failed chan<- error) {
	const every, misses = 2 * time.Second, 5
	dc, err := discovery.NewDiscoveryClientForConfig(cp.config)
	if err != nil {
		failed <- fmt.Errorf("watching the kube-apiserver: %w", err)
		return
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for missed := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := dc.RESTClient().Get().AbsPath("/livez").Timeout(every).Do(ctx).Error()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			missed = 0
		default:
			if missed++; missed == misses {
				failed <- fmt.Errorf("the kube-apiserver stopped answering (%d checks in a row): %w", misses, err)
				return
			}
		}
	}
}
