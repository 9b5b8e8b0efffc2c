//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// TestCrashes kills the manager with SIGKILL at random moments while 200
// Deployments deploy, update and delete, and starts a new one each time.
// A moment is "after k more API requests", with k drawn from a logged
// seed, so a kill can land between any two calls: after a deploy was
// accepted and before its job reached status, during a poll, between an
// undeploy and the finalizer's removal.
func TestCrashes(t *testing.T) {
	const n = 200
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("E2E_SEED"), 10, 64); err == nil {
		seed = v // replay a failed run
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d (E2E_SEED replays it)", seed)
	w := newWorld(t, simulator.Options{JobDuration: time.Second, Seed: int64(seed)})
	p := w.startManager()
	crashes := 0
	// crashAt kills the manager once the simulator has answered k more
	// requests than mark, or when the requests stop for 3s (the batch is
	// done: the kill then hits an idle manager), and starts a new one. It
	// returns the request count at the kill, the mark of the next one.
	crashAt := func(mark int) int {
		t.Helper()
		k := 5 + rng.IntN(75)
		last, since := w.sim.requests(), time.Now()
		w.g.Eventually(func() bool {
			if r := w.sim.requests(); r != last {
				last, since = r, time.Now()
			}
			return last-mark >= k || time.Since(since) > 3*time.Second
		}, 2*time.Minute, 10*time.Millisecond).Should(BeTrue())
		p.Kill()
		crashes++
		t.Logf("crash %d after %d requests since the previous one or the batch began", crashes, last-mark)
		p = w.startManager()
		return last
	}

	// Each batch of changes is made in the background while the main
	// goroutine kills the manager, so kills land while objects are being
	// created, updated and deleted, not only after.
	inBackground := func(change func(i int) error, from, to int) <-chan error {
		done := make(chan error, 1)
		go func() {
			for i := from; i < to; i++ {
				if err := change(i); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		return done
	}
	names := make([]string, n)
	want := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("app-%03d", i)
		want[names[i]] = appPath(names[i], 1)
	}
	create := func(i int) error { return k8s.Create(w.ctx, w.newDeployment(names[i])) }
	update := func(i int) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d := &dbrestv1.Deployment{}
			if err := k8s.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: names[i]}, d); err != nil {
				return err
			}
			d.Spec.Application.DeploymentPath = appPath(names[i], 2)
			return k8s.Update(w.ctx, d)
		})
	}
	remove := func(i int) error {
		return k8s.Delete(w.ctx, &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: names[i], Namespace: w.ns}})
	}

	// Deploy 200.
	batch := inBackground(create, 0, n)
	crashAt(crashAt(w.sim.requests()))
	w.g.Expect(<-batch).To(Succeed())
	// Let most deploys through, so that the deletions below undeploy
	// rather than only cancel work that never started.
	w.g.Eventually(func() int { return sum(w.sim.Stats().DeploysAccepted) }, time.Minute, 50*time.Millisecond).
		Should(BeNumerically(">=", 3*n/4))

	// Update the first half while deleting the last quarter.
	updates, deletes := inBackground(update, 0, n/2), inBackground(remove, 3*n/4, n)
	crashAt(crashAt(w.sim.requests()))
	w.g.Expect(<-updates).To(Succeed())
	w.g.Expect(<-deletes).To(Succeed())

	// Delete the third quarter.
	batch = inBackground(remove, n/2, 3*n/4)
	crashAt(w.sim.requests())
	w.g.Expect(<-batch).To(Succeed())

	var gone []string
	for i := range names {
		if i < n/2 {
			want[names[i]] = appPath(names[i], 2)
			continue
		}
		gone = append(gone, names[i])
		delete(want, names[i])
	}
	w.expectConverged(want, gone)
	st := w.sim.Stats()
	t.Logf("FIGURES crashes: %d SIGKILLs survived with %d Deployments (%d deployed and kept, %d updated, %d deleted); "+
		"deploys accepted %d, redeploys %d, undeploys %d, %d requests in all; duplicates: %d; max concurrent mutating: %d; lost: 0",
		crashes, n, len(want), n/2, len(gone), sum(st.DeploysAccepted), st.RequestsByOp["redeploy"], st.RequestsByOp["undeploy"], w.sim.requests(),
		st.DuplicateDeploys, st.MaxConcurrentMutatingOverall)
	w.g.Expect(crashes).To(Equal(5))
	w.expectGuarantees()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestCrashBetweenUndeployAcceptAndStatus kills the manager after the
// server accepted an undeploy and before the 202 reached the operator, so
// the undeploy job is in no status. While that job runs the application is
// still STATE_ACTIVE on the server; the new manager must not send a second
// undeploy over the running one.
func TestCrashBetweenUndeployAcceptAndStatus(t *testing.T) {
	w := newWorld(t, simulator.Options{JobDuration: 4 * time.Second})
	p := w.startManager()
	w.create("orders")
	w.expectConverged(map[string]string{"orders": appPath("orders", 1)}, nil)

	accepted := make(chan struct{})
	var once sync.Once
	w.sim.setHook(func(rw http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodDelete {
			return false
		}
		handled := false
		once.Do(func() {
			handled = true
			next.ServeHTTP(httptest.NewRecorder(), r) // the server starts the removal job
			close(accepted)
			<-r.Context().Done() // the answer never reaches the dying manager
		})
		return handled
	})
	w.delete("orders")
	w.g.Eventually(accepted, time.Minute).Should(BeClosed())
	p.Kill()
	w.sim.setHook(nil)
	w.startManager()
	w.expectConverged(nil, []string{"orders"})
	t.Logf("undeploys sent: %d", w.sim.Stats().RequestsByOp["undeploy"])
	w.expectGuarantees()
}
