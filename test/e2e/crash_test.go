//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
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
//
// It runs against each kind of server the contract allows (serverModes):
// one that shows a redeploy's new fields at once, an in-place swap server
// whose application shows nothing of a running redeploy, and a slow
// server behind a proxy that answers 504 while the server still acts.
func TestCrashes(t *testing.T) {
	t.Parallel()
	for _, mode := range serverModes {
		t.Run(mode.name, func(t *testing.T) { testCrashes(t, mode.options) })
	}
}

// serverMode is a kind of server the contract allows.
type serverMode struct {
	name    string
	options func(*simulator.Options)
}

// serverModes are the servers the crash tests run against. The proxy's
// time-out is shorter than the server's processing time, which is
// shorter than the DatabaseAPI's request timeout (2s), as with a load
// balancer in front of a busy application server.
var serverModes = []serverMode{
	{"fields at once", func(*simulator.Options) {}},
	{"in-place redeploy", func(o *simulator.Options) { o.RedeployInPlace = true }},
	{"slow server behind a proxy", func(o *simulator.Options) {
		o.MutationDelay, o.ProxyTimeout = 700*time.Millisecond, 250*time.Millisecond
	}},
}

func testCrashes(t *testing.T, mode func(*simulator.Options)) {
	const n = 200
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("E2E_SEED"), 10, 64); err == nil {
		seed = v // replay a failed run
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d (E2E_SEED replays it)", seed)
	opts := simulator.Options{JobDuration: time.Second, Seed: int64(seed)}
	mode(&opts)
	w := newParallelWorld(t, opts)
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
		"deploys accepted %d, redeploys %d, undeploys %d, job lists %d, proxy 504s %d, %d requests in all; "+
		"duplicates: %d; mutating calls while another ran: %d; max concurrent mutating: %d; lost: 0",
		crashes, n, len(want), n/2, len(gone), sum(st.DeploysAccepted), st.RequestsByOp["redeploy"], st.RequestsByOp["undeploy"],
		st.RequestsByOp["listJobs"], st.ProxyTimeouts, w.sim.requests(),
		st.DuplicateDeploys, st.OverlappingMutating, st.MaxConcurrentMutatingOverall)
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

// TestCrashBetweenAcceptAndStatus kills the manager after the server
// accepted a deploy, a redeploy or an undeploy and before its answer
// reached the operator, so the call is in status only as an intent. While
// a redeploy runs on an in-place swap server, or an undeploy on any
// server, the application still shows STATE_ACTIVE: reading it cannot
// tell that a call runs. The new manager must settle the intent by the
// server's job list and never send a second call over the running one.
func TestCrashBetweenAcceptAndStatus(t *testing.T) {
	t.Parallel()
	calls := []struct {
		op    string
		match func(r *http.Request) bool
	}{
		{"deploy", func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/deployments/application")
		}},
		{"redeploy", func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/redeploy")
		}},
		{"undeploy", func(r *http.Request) bool { return r.Method == http.MethodDelete }},
	}
	for _, call := range calls {
		for _, mode := range serverModes {
			t.Run(call.op+"/"+mode.name, func(t *testing.T) {
				opts := simulator.Options{JobDuration: 4 * time.Second}
				mode.options(&opts)
				testCrashBetweenAcceptAndStatus(t, opts, call.op, call.match)
			})
		}
	}
}

func testCrashBetweenAcceptAndStatus(t *testing.T, opts simulator.Options, op string, match func(*http.Request) bool) {
	w := newParallelWorld(t, opts)
	p := w.startManager()
	accepted := make(chan struct{})
	var once sync.Once
	hook := func(rw http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !match(r) {
			return false
		}
		handled := false
		once.Do(func() {
			handled = true
			next.ServeHTTP(httptest.NewRecorder(), r) // the server takes the call
			close(accepted)
			<-r.Context().Done() // the answer never reaches the dying manager
		})
		return handled
	}
	if op == "deploy" {
		w.sim.setHook(hook)
		w.create("orders")
	} else {
		w.create("orders")
		w.expectConverged(map[string]string{"orders": appPath("orders", 1)}, nil)
		w.sim.setHook(hook)
		if op == "redeploy" {
			w.setVersion("orders", 2)
		} else {
			w.delete("orders")
		}
	}
	w.g.Eventually(accepted, time.Minute).Should(BeClosed())
	p.Kill()
	w.sim.setHook(nil)
	w.startManager()
	switch op {
	case "deploy":
		w.expectConverged(map[string]string{"orders": appPath("orders", 1)}, nil)
	case "redeploy":
		w.expectConverged(map[string]string{"orders": appPath("orders", 2)}, nil)
	default:
		w.expectConverged(nil, []string{"orders"})
	}
	st := w.sim.Stats()
	t.Logf("FIGURES %s whose answer was lost to a crash: deploys %d, redeploys %d, undeploys %d, job lists %d, proxy 504s %d, "+
		"overlapping calls %d, duplicates %d",
		op, st.RequestsByOp["deploy"], st.RequestsByOp["redeploy"], st.RequestsByOp["undeploy"], st.RequestsByOp["listJobs"],
		st.ProxyTimeouts, st.OverlappingMutating, st.DuplicateDeploys)
	w.g.Expect(st.RequestsByOp[op]).To(Equal(1), "the %s was sent once, and settled through the job list after the crash", op)
	w.expectGuarantees()
}
