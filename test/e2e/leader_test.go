//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// scrape reads a manager's metrics; a failed scrape counts as no metrics.
func scrape(p *harness.Process) harness.Metrics {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, _ := harness.Scrape(ctx, p.MetricsURL)
	return m
}

func isLeader(p *harness.Process) bool {
	return scrape(p).Sum("leader_election_master_status", nil) == 1
}

func deploymentReconciles(p *harness.Process) float64 {
	return scrape(p).Sum("controller_runtime_reconcile_total", map[string]string{"controller": "deployment"})
}

// TestLeaderElection runs two replicas with --leader-elect. The follower
// does nothing; when the leader is killed mid-work, the follower takes
// over after the lease expires and finishes, with no duplicate deploy.
func TestLeaderElection(t *testing.T) {
	const n = 50
	w := newParallelWorld(t, simulator.Options{JobDuration: 2 * time.Second})
	args := []string{"--leader-elect", "--leader-election-namespace=" + w.ns, "--leader-election-id=e2e-" + rand.String(6)}
	a, b := w.startManager(args...), w.startManager(args...)
	var leader, follower *harness.Process
	w.g.Eventually(func() bool {
		la, lb := isLeader(a), isLeader(b)
		switch {
		case la && !lb:
			leader, follower = a, b
		case lb && !la:
			leader, follower = b, a
		default:
			return false
		}
		return true
	}, time.Minute, 200*time.Millisecond).Should(BeTrue(), "exactly one replica must lead")

	want := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("app-%03d", i)
		w.create(name)
		want[name] = appPath(name, 1)
	}
	w.g.Eventually(func() int { return sum(w.sim.Stats().DeploysAccepted) }, time.Minute, 50*time.Millisecond).
		Should(BeNumerically(">=", n/5))
	w.g.Expect(deploymentReconciles(follower)).To(BeZero(), "the follower reconciled")
	w.g.Expect(isLeader(follower)).To(BeFalse())

	pending := w.notReady()
	leader.Kill()
	killed := time.Now()
	w.g.Eventually(func() bool { return isLeader(follower) }, time.Minute, 200*time.Millisecond).Should(BeTrue())
	takeover := time.Since(killed)
	w.expectConverged(want, nil)
	w.g.Expect(deploymentReconciles(follower)).To(BeNumerically(">", 0))
	st := w.sim.Stats()
	t.Logf("FIGURES leader election: leader SIGKILLed with %d of %d Deployments not yet Ready; the follower led after %s "+
		"and finished them all; duplicates: %d; max concurrent mutating: %d",
		pending, n, takeover.Round(time.Second), st.DuplicateDeploys, st.MaxConcurrentMutatingOverall)
	w.expectGuarantees()
}
