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

// TestSlowServerDoesNotStarveOthers: 200 Deployments on a DatabaseAPI
// whose server answers every request after 8s (slow, not failing) hold at
// most that API's in-flight bound of workers; the Deployments of a
// healthy API go Ready in about the time they take alone.
func TestSlowServerDoesNotStarveOthers(t *testing.T) {
	w := newWorld(t, simulator.Options{JobDuration: time.Second})
	w.startManager()
	// Warm up (caches, the DatabaseAPI's first probe and client), so that
	// both timings below measure only the 50 Deployments.
	w.waitAllReady(w.createOn("db", "warm", 1), time.Now())
	alone := w.waitAllReady(w.createOn("db", "alone", 50), time.Now())

	slow := newSimServer(t, simulator.Options{JobDuration: time.Second})
	slow.SetFaults(simulator.Faults{Latency: 8 * time.Second})
	w.g.Expect(k8s.Create(w.ctx, &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: "slow", Namespace: w.ns},
		Spec: dbrestv1.DatabaseAPISpec{URL: slow.url(), CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
			RequestTimeout: &metav1.Duration{Duration: 30 * time.Second}},
	})).To(Succeed())
	arrivals := &requestClock{}
	slow.setHook(arrivals.hook)
	w.createOn("slow", "slow", 200)
	// Let the slow API's Deployments take every slot they can: its
	// in-flight bound (16 by default) of requests arrive and wait.
	w.g.Eventually(func() int { return len(arrivals.between(time.Time{}, time.Now())) }, time.Minute, 100*time.Millisecond).
		Should(BeNumerically(">=", 16))

	beside := w.waitAllReady(w.createOn("db", "beside", 50), time.Now())
	t.Logf("FIGURES isolation: 50 Deployments on a healthy DatabaseAPI Ready in %s alone, in %s beside 200 on a server that answers after 8s",
		alone.Round(100*time.Millisecond), beside.Round(100*time.Millisecond))
	w.g.Expect(beside).To(BeNumerically("<=", 2*max(alone, 5*time.Second)))
	w.expectGuarantees()
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
