//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// faultPhase is one kind of trouble, held for a few seconds while the
// operator works.
type faultPhase struct {
	name   string
	faults simulator.Faults
}

// The phases every life-cycle step goes through, the ones that slow the
// work down most first, so each sees traffic. The DatabaseAPI's
// requestTimeout is 2s, so a 2.5s latency times every request out.
var phases = []faultPhase{
	{"connection resets", simulator.Faults{ResetEveryN: 3}},
	{"slow responses beyond the request time-out", simulator.Faults{Latency: 2500 * time.Millisecond}},
	{"503 storm without Retry-After", simulator.Faults{ErrorRate: 0.5, ErrorCode: 503}},
	{"503 storm with Retry-After", simulator.Faults{ErrorRate: 0.5, ErrorCode: 503, ErrorRetryAfter: true}},
	{"random 500s", simulator.Faults{ErrorRate: 0.3, ErrorCode: 500}},
}

// A phase lasts until the simulator has answered phaseRequests requests
// under it, or phaseWindow has passed when the work is nearly done.
const (
	phaseRequests = 60
	phaseWindow   = 4 * time.Second
)

// runPhases holds each fault phase in turn, then clears the faults.
func (w *world) runPhases(p *harness.Process) {
	for _, ph := range phases {
		w.sim.SetFaults(ph.faults)
		start, began := w.sim.requests(), time.Now()
		w.g.Eventually(func() bool {
			return w.sim.requests()-start >= phaseRequests || time.Since(began) >= phaseWindow
		}, 2*phaseWindow, 50*time.Millisecond).Should(BeTrue())
		w.g.Expect(p.Done()).NotTo(BeClosed(), "the manager exited during %s", ph.name)
		w.phaseRequests[ph.name] += w.sim.requests() - start
	}
	w.sim.SetFaults(simulator.Faults{})
}

// TestFaults deploys, updates and deletes 100 Deployments while the REST
// API goes away, storms 503s with and without Retry-After, fails at
// random, resets connections, answers too slowly and forgets its jobs
// before they are polled. Everything must converge with no duplicate
// deploy and never two mutating calls at once for an application; during
// an outage the requests must back off.
func TestFaults(t *testing.T) {
	const n = 100
	// Jobs end after 1.5s and are forgotten 400ms later, often before the
	// poll that would see them end (pollInterval 1s): the operator must
	// settle those by reading the application.
	w := newParallelWorld(t, simulator.Options{JobDuration: 1500 * time.Millisecond, JobTTL: 400 * time.Millisecond, Seed: 8})
	p := w.startManager()
	names := make([]string, n)
	want := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("app-%03d", i)
		w.create(names[i])
		want[names[i]] = appPath(names[i], 1)
	}

	// Deploy: the server process goes away for a while, then the phases.
	w.sim.down()
	w.alive(p, 4*time.Second)
	w.sim.up(w.g)
	w.runPhases(p)
	w.expectConverged(want, nil)
	expired := w.countExpiredJobs()

	// Update, starting with an outage that answers 503 without
	// Retry-After: the operator's own backoff must thin the requests out.
	for i, name := range names {
		w.setVersion(name, 2)
		want[names[i]] = appPath(name, 2)
	}
	w.sim.SetFaults(simulator.Faults{Down: true})
	r0 := w.sim.requests()
	w.alive(p, 4*time.Second)
	r1 := w.sim.requests()
	w.alive(p, 4*time.Second)
	r2 := w.sim.requests()
	first, second := r1-r0, r2-r1
	// Each object waits at least a second between retries, so a window of
	// 4s allows at most 5 requests per object (and the probe).
	w.g.Expect(first).To(BeNumerically("<=", 5*(n+1)), "requests in the first 4s of the outage")
	w.g.Expect(second).To(BeNumerically("<", first), "the second half of the outage must see fewer requests (backoff)")
	w.runPhases(p)
	w.expectConverged(want, nil)

	// Delete everything under the same faults.
	for _, name := range names {
		w.delete(name)
	}
	w.runPhases(p)
	w.expectConverged(nil, names)
	w.g.Expect(w.sim.Stats().Applications).To(BeZero())

	st := w.sim.Stats()
	t.Logf("FIGURES faults: %d Deployments deployed, updated and deleted; %d faults injected (errors and downtime), "+
		"%d connection resets, 4s with the API process gone, %d jobs expired before polled; "+
		"outage requests %d in the first 4s, %d in the next 4s; %d requests in all; duplicates: %d; max concurrent mutating: %d",
		n, st.FaultsInjected, st.ConnectionResets, expired, first, second, w.sim.requests(),
		st.DuplicateDeploys, st.MaxConcurrentMutatingOverall)
	t.Logf("FIGURES faults: requests answered under each fault phase: %v", w.phaseRequests)
	w.expectGuarantees()
}

// countExpiredJobs counts the Deployments whose last job expired before
// the operator read its outcome.
func (w *world) countExpiredJobs() int {
	var list dbrestv1.DeploymentList
	w.g.Expect(k8s.List(w.ctx, &list, client.InNamespace(w.ns))).To(Succeed())
	n := 0
	for _, d := range list.Items {
		if d.Status.Job != nil && d.Status.Job.Status == dbrestv1.JobStatusExpired {
			n++
		}
	}
	return n
}
