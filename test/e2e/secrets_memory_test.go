//go:build e2e

package e2e

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	krand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// Unrelated Secrets, like Helm release Secrets: many, large, and in a
// namespace no DatabaseAPI uses.
const (
	bulkSecrets    = 2000
	bulkSecretSize = 32 << 10
	// memorySlack is how much more peak RSS the Secrets may cost.
	memorySlack = 10 << 20
)

// TestUnrelatedSecretsCostNoMemory starts the manager twice with no
// Deployment, before and after 2,000 unrelated 32 KB Secrets exist, and
// compares its peak RSS: the cache holds their name, namespace and
// resourceVersion only, so the Secrets may add no more than 10 MiB.
// With the Secrets still there, a Deployment goes Ready, and rotating its
// Secret is picked up at once: the DatabaseAPI is probed again, and a
// Deployment stalled on the old credentials tries again with the new.
func TestUnrelatedSecretsCostNoMemory(t *testing.T) {
	w := newWorld(t, simulator.Options{JobDuration: 300 * time.Millisecond})

	without, _ := w.peakRSSAtStart("without")
	bulk := w.createBulkSecrets()
	with, p := w.peakRSSAtStart("with")
	load, _ := harness.LoadAverage()
	t.Logf("FIGURES peak RSS of a manager at start with no Deployment: %.1f MiB without, %.1f MiB with %d unrelated %d KB Secrets (%.1f MiB of data); difference %+.1f MiB; load average %.1f",
		mib(without), mib(with), bulkSecrets, bulkSecretSize>>10, mib(bulk), mib(with)-mib(without), load)
	w.g.Expect(with).To(BeNumerically("<=", without+memorySlack),
		"the unrelated Secrets cost %.1f MiB of peak RSS", mib(with)-mib(without))

	// The manager measured with the Secrets goes on working.
	w.create("orders")
	w.expectConverged(map[string]string{"orders": appPath("orders", 1)}, nil)

	// Rotated to a wrong password: the Secret's change alone (the probe
	// interval is 5 minutes) makes the DatabaseAPI probe again and fail.
	start := time.Now()
	w.setCredentials(map[string][]byte{"username": []byte("admin"), "password": []byte("expired")})
	w.g.Eventually(func(g Gomega) {
		g.Expect(w.readyOf("db")).To(Equal("False/" + dbrestv1.ReasonUnauthorized))
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
	t.Logf("FIGURES rotation to a wrong password seen by the DatabaseAPI after %s", time.Since(start).Round(100*time.Millisecond))

	// A change now fails for good (Stalled, waiting for a change) ...
	w.setVersion("orders", 2)
	w.g.Eventually(func(g Gomega) {
		d := &dbrestv1.Deployment{}
		g.Expect(k8s.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: "orders"}, d)).To(Succeed())
		g.Expect(meta.FindStatusCondition(d.Status.Conditions, dbrestv1.StalledCondition)).To(
			HaveField("Reason", dbrestv1.ReasonUnauthorized))
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
	// ... until the Secret is rotated to a token, which wakes it.
	w.setCredentials(map[string][]byte{"token": []byte("admin-token")})
	w.expectConverged(map[string]string{"orders": appPath("orders", 2)}, nil)
	w.g.Expect(w.readyOf("db")).To(Equal("True/" + dbrestv1.ReasonReachable))
	w.g.Expect(p.Done()).NotTo(BeClosed())
	w.expectGuarantees()
}

// peakRSSAtStart starts a manager, creates a DatabaseAPI of its own and
// waits until it is probed, and returns the process's peak RSS (VmHWM)
// with the still running process. A controller starts reconciling only
// once every source it watches has listed its objects, so by then the
// Secrets and ConfigMaps of the whole cluster have been through the
// cache.
func (w *world) peakRSSAtStart(label string) (uint64, *harness.Process) {
	w.t.Helper()
	p := w.startManager()
	name := "probe-" + label
	w.g.Expect(k8s.Create(w.ctx, &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: dbrestv1.DatabaseAPISpec{
			URL: w.sim.url(), CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
			RequestTimeout: &metav1.Duration{Duration: 2 * time.Second},
		},
	})).To(Succeed())
	w.g.Eventually(func() string { return w.readyOf(name) }, 2*time.Minute, 100*time.Millisecond).
		Should(Equal("True/" + dbrestv1.ReasonReachable))
	u, err := harness.ReadUsage(p.PID())
	w.g.Expect(err).NotTo(HaveOccurred())
	// The next run starts from the same objects.
	w.g.Expect(k8s.Delete(w.ctx, &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}})).To(Succeed())
	if label == "without" {
		w.g.Expect(p.Stop(10 * time.Second)).To(Succeed())
	}
	return u.PeakRSS, p
}

// readyOf is a DatabaseAPI's Ready condition as "Status/Reason", once it
// is about its current generation.
func (w *world) readyOf(name string) string {
	api := &dbrestv1.DatabaseAPI{}
	if err := k8s.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: name}, api); err != nil {
		return err.Error()
	}
	c := meta.FindStatusCondition(api.Status.Conditions, dbrestv1.ReadyCondition)
	if c == nil || api.Status.ObservedGeneration != api.Generation {
		return "unknown"
	}
	return string(c.Status) + "/" + c.Reason
}

// setCredentials replaces the data of the world's credentials Secret.
func (w *world) setCredentials(data map[string][]byte) {
	w.t.Helper()
	w.g.Eventually(func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: "creds"}, s); err != nil {
			return err
		}
		s.Data, s.StringData = data, nil
		return k8s.Update(w.ctx, s)
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
}

// createBulkSecrets creates the unrelated Secrets in a namespace of their
// own, deleted when the test ends, and returns the bytes of data written.
func (w *world) createBulkSecrets() uint64 {
	w.t.Helper()
	ns := "e2e-bulk-" + krand.String(6)
	w.g.Expect(k8s.Create(w.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	// envtest runs no namespace controller, so the Secrets are deleted
	// one by one; later tests share this apiserver.
	w.t.Cleanup(func() {
		_ = k8s.DeleteAllOf(w.ctx, &corev1.Secret{}, client.InNamespace(ns))
	})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total uint64
		errs  []error
		next  = make(chan int)
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				s, n := bulkSecret(ns, i)
				if err := k8s.Create(w.ctx, s); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		})
	}
	for i := range bulkSecrets {
		next <- i
	}
	close(next)
	wg.Wait()
	w.g.Expect(errs).To(BeEmpty())
	return total
}

// bulkSecret is the i-th unrelated Secret, shaped like a Helm release:
// random data that no compression shrinks, under a few labels.
func bulkSecret(ns string, i int) (*corev1.Secret, uint64) {
	data := make([]byte, bulkSecretSize)
	_, _ = rand.Read(data)
	name := fmt.Sprintf("sh.helm.release.v1.app-%04d.v1", i)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{"owner": "helm", "name": fmt.Sprintf("app-%04d", i), "status": "deployed", "version": "1"}},
		Type: "helm.sh/release.v1",
		Data: map[string][]byte{"release": data},
	}, uint64(len(data))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
