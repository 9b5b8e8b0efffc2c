//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// createOn creates Deployments prefix-000… on the DatabaseAPI api.
func (w *world) createOn(api, prefix string, n int) []string {
	w.t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", prefix, i)
		d := w.newDeployment(names[i])
		d.Spec.DatabaseAPIRef.Name = api
		w.g.Expect(k8s.Create(w.ctx, d)).To(Succeed())
	}
	return names
}

// waitAllReady waits until every named Deployment is Ready and returns
// how long that took from start.
func (w *world) waitAllReady(names []string, start time.Time) time.Duration {
	w.t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	w.g.Eventually(func(g Gomega) {
		var list dbrestv1.DeploymentList
		g.Expect(k8s.List(w.ctx, &list, client.InNamespace(w.ns))).To(Succeed())
		ready := 0
		for i := range list.Items {
			d := &list.Items[i]
			if want[d.Name] && d.Status.ObservedGeneration == d.Generation && conditionTrue(d.Status.Conditions, dbrestv1.ReadyCondition) {
				ready++
			}
		}
		g.Expect(ready).To(Equal(len(names)))
	}, converge, 250*time.Millisecond).Should(Succeed())
	return time.Since(start)
}

func conditionTrue(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// TestSlowServersDoNotStarveOthers: 8 DatabaseAPIs whose servers answer
// every request after 8s (slow, not failing), with 50 Deployments each,
// and a black-holed one (it accepts connections and never answers) with
// 50 more. No worker waits on them for more than --call-wait, so 50
// Deployments of a healthy DatabaseAPI go Ready within 1.5 times their
// time alone (at least 10s); the black hole holds at most its
// maxConcurrentRequests connections (and its DatabaseAPI's probe); the
// slow ones converge with no duplicate deploy.
func TestSlowServersDoNotStarveOthers(t *testing.T) {
	w := newWorld(t, simulator.Options{JobDuration: time.Second})
	w.startManager()
	// Warm up (caches, the DatabaseAPI's first probe and client), so that
	// both timings below measure only the 50 Deployments.
	w.waitAllReady(w.createOn("db", "warm", 1), time.Now())
	alone := w.waitAllReady(w.createOn("db", "alone", 50), time.Now())

	const slowAPIs, perAPI, holeBound = 8, 50, 16
	arrivals := &requestClock{}
	slow := make([]*simServer, slowAPIs)
	var slowNames []string
	slowStart := time.Now()
	for i := range slow {
		slow[i] = newSimServer(t, simulator.Options{JobDuration: time.Second})
		slow[i].SetFaults(simulator.Faults{Latency: 8 * time.Second})
		slow[i].setHook(arrivals.hook)
		api := fmt.Sprintf("slow-%d", i)
		// A bound of one request per Deployment, so that the slow ones
		// converge in a few rounds of 8s.
		w.createAPI(api, slow[i].url(), perAPI)
		slowNames = append(slowNames, w.createOn(api, api, perAPI)...)
	}
	hole := newBlackHole(t)
	w.createAPI("hole", blackHoleURL(hole), holeBound)
	w.createOn("hole", "hole", perAPI)
	// The slow servers hold requests (each takes 8s), and the black hole
	// holds connections, before the healthy Deployments are created.
	w.g.Eventually(func() int { return len(arrivals.between(time.Time{}, time.Now())) }, time.Minute, 100*time.Millisecond).
		Should(BeNumerically(">=", slowAPIs*perAPI/2))
	w.g.Eventually(hole.Open, time.Minute, 100*time.Millisecond).Should(BeNumerically(">=", 1))

	beside := w.waitAllReady(w.createOn("db", "beside", 50), time.Now())
	slowReady := w.waitAllReady(slowNames, slowStart)
	t.Logf("FIGURES isolation: 50 Deployments on a healthy DatabaseAPI Ready in %s alone, in %s beside %d on %d servers that answer after 8s "+
		"and %d on a black hole; the slow ones Ready in %s; the black hole held at most %d connections (bound %d, and a probe)",
		alone.Round(100*time.Millisecond), beside.Round(100*time.Millisecond), slowAPIs*perAPI, slowAPIs, perAPI,
		slowReady.Round(time.Second), hole.MostOpen(), holeBound)
	w.g.Expect(beside).To(BeNumerically("<=", max(alone, 10*time.Second)*3/2))
	// The bound of the Deployments' requests, and the DatabaseAPI's probe.
	w.g.Expect(hole.MostOpen()).To(BeNumerically("<=", holeBound+1))
	w.expectGuarantees()
	for _, s := range slow {
		w.expectGuaranteesOf(s)
	}
}

// createAPI creates a DatabaseAPI at url with the given bound of
// requests in flight and a 30s request timeout.
func (w *world) createAPI(name, url string, maxInFlight int32) {
	w.t.Helper()
	w.g.Expect(k8s.Create(w.ctx, &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: dbrestv1.DatabaseAPISpec{URL: url, CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
			RequestTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentRequests: maxInFlight},
	})).To(Succeed())
}

// newBlackHole starts a server that accepts connections and never
// answers (harness.BlackHole), closed at the test's end.
func newBlackHole(t *testing.T) *harness.BlackHole {
	h, err := harness.StartBlackHole()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func blackHoleURL(h *harness.BlackHole) string {
	return "http://" + h.Addr() + simulator.DefaultBasePath
}

// requestClock records when the simulator received each request.
type requestClock struct {
	mu    sync.Mutex
	times []time.Time
}

func (c *requestClock) hook(_ http.ResponseWriter, _ *http.Request, _ http.Handler) bool {
	c.mu.Lock()
	c.times = append(c.times, time.Now())
	c.mu.Unlock()
	return false
}

// between returns the request times in [from, to).
func (c *requestClock) between(from, to time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.times {
		if !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out
}

// maxPerSecond is the most requests in any one-second window starting at
// a request.
func maxPerSecond(times []time.Time) int {
	most := 0
	for i, t := range times {
		n := 0
		for _, u := range times[i:] {
			if u.Sub(t) < time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// TestOutageLoadIsBounded: during an outage the server receives a bounded
// number of requests whatever the number of Deployments waiting, and a
// manager SIGKILLed and restarted in the middle of it starts from the
// open circuit in status. Afterwards every Deployment converges with no
// duplicate deploy.
func TestOutageLoadIsBounded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		n           int
		outage      time.Duration
		faults      simulator.Faults
		retryAfter  time.Duration
		maxPerSec   int
		minInterval time.Duration
	}{
		// 503 with no Retry-After: the probe backs off (1s, 2s, 4s...).
		// 200 Deployments show that the load does not follow their number;
		// make bench runs the 503 storm at 1,000 and 10,000 (--fault).
		{name: "503 without Retry-After", n: 200, outage: 60 * time.Second,
			faults: simulator.Faults{ErrorEveryN: 1, ErrorCode: 503}, maxPerSec: 2},
		// 429 with Retry-After: 3: one probe every 3s, to the second.
		{name: "429 with Retry-After", n: 200, outage: 30 * time.Second, retryAfter: 3 * time.Second,
			faults: simulator.Faults{ErrorEveryN: 1, ErrorCode: 429, ErrorRetryAfter: true}, maxPerSec: 1, minInterval: 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newParallelWorld(t, simulator.Options{JobDuration: time.Second, RetryAfterValue: tc.retryAfter})
			p := w.startManager()
			names := w.createOn("db", "app", tc.n)
			w.waitAllReady(names, time.Now())
			clock := &requestClock{}
			w.sim.setHook(clock.hook)

			start := time.Now()
			w.sim.SetFaults(tc.faults)
			for _, name := range names {
				w.g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
					d := &dbrestv1.Deployment{}
					if err := k8s.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: name}, d); err != nil {
						return err
					}
					d.Spec.Application.DeploymentPath = appPath(name, 2)
					return k8s.Update(w.ctx, d)
				})).To(Succeed())
			}
			// SIGKILL in the middle of the outage.
			// Between two probes, so that the kill does not land on one.
			time.Sleep(time.Until(start.Add(tc.outage/2 + tc.retryAfter/2))) //nolint:forbidigo // the outage lasts this long: the test holds it
			p.Kill()
			w.startManager()
			time.Sleep(time.Until(start.Add(tc.outage))) //nolint:forbidigo // the outage lasts this long
			end := time.Now()
			w.sim.SetFaults(simulator.Faults{})

			settled := clock.between(start.Add(10*time.Second), end)
			first := len(clock.between(start, start.Add(10*time.Second)))
			most := maxPerSecond(settled)
			minGap := time.Duration(0)
			for i := 1; i < len(settled); i++ {
				if gap := settled[i].Sub(settled[i-1]); minGap == 0 || gap < minGap {
					minGap = gap
				}
			}
			want := map[string]string{}
			for _, name := range names {
				want[name] = appPath(name, 2)
			}
			w.expectConverged(want, nil)
			st := w.sim.Stats()
			t.Logf("FIGURES outage (%s): %d Deployments, %s outage with a SIGKILL at half time: %d requests in the first 10s, "+
				"then %d in %s (at most %d in any second, closest two %s apart); duplicates: %d",
				tc.name, tc.n, tc.outage, first, len(settled), end.Sub(start.Add(10*time.Second)).Round(time.Second), most,
				minGap.Round(time.Millisecond), st.DuplicateDeploys)
			w.g.Expect(most).To(BeNumerically("<=", tc.maxPerSec))
			if tc.minInterval > 0 && len(settled) > 1 {
				w.g.Expect(minGap).To(BeNumerically(">=", tc.minInterval-50*time.Millisecond), "Retry-After honoured to the second")
			}
			w.expectGuarantees()
		})
	}
}
