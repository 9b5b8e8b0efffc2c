//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// TestAPIServerRestart stops kube-apiserver (etcd keeps running) while
// jobs run on the server, and starts it again on the same etcd, address
// and certificates. The manager process must stay up and finish the work.
func TestAPIServerRestart(t *testing.T) {
	const n = 50
	w := newWorld(t, simulator.Options{JobDuration: 3 * time.Second})
	p := w.startManager()
	want := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("app-%03d", i)
		w.create(name)
		want[name] = appPath(name, 1)
	}
	w.g.Eventually(func() int { return sum(w.sim.Stats().DeploysAccepted) }, time.Minute, 50*time.Millisecond).
		Should(BeNumerically(">=", n/5))

	pending := w.notReady()
	api := env.ControlPlane.APIServer
	// Stop returns an error when it had to kill the process after
	// StopTimeout; either way the apiserver is gone, which is checked.
	_ = api.Stop()
	stopped := time.Now()
	w.g.Expect(k8s.Get(w.ctx, client.ObjectKey{Name: w.ns}, &corev1.Namespace{})).NotTo(Succeed(), "the apiserver still answers")
	// Jobs finish on the server meanwhile; the manager can write nothing.
	w.alive(p, 5*time.Second)
	w.g.Expect(api.Start()).To(Succeed())
	down := time.Since(stopped)

	w.expectConverged(want, nil)
	w.alive(p, time.Second)
	st := w.sim.Stats()
	t.Logf("FIGURES apiserver restart: kube-apiserver down %s with %d of %d Deployments not yet Ready; the same manager "+
		"process finished them all; duplicates: %d; max concurrent mutating: %d",
		down.Round(time.Second), pending, n, st.DuplicateDeploys, st.MaxConcurrentMutatingOverall)
	w.expectGuarantees()
}
