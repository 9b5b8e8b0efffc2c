package controllers_test

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// TestCircuitOpensForEveryDeployment: while the server answers 503 to
// everything, the DatabaseAPI's circuit opens, its Deployments stop
// calling and say why, and the server sees about one probe per
// Retry-After, however many Deployments wait, across a manager restart
// too. When the server is back, every Deployment converges.
func TestCircuitOpensForEveryDeployment(t *testing.T) {
	const n = 20
	f := newFixture(t)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("app-%02d", i)
		f.createDeployment(names[i])
	}
	for _, name := range names {
		f.waitReady(name)
	}

	f.sim.SetFaults(simulator.Faults{ErrorEveryN: 1, ErrorCode: 503, ErrorRetryAfter: true})
	for _, name := range names {
		f.update(name, func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/apps/" + name + "-2.war" })
	}
	api := &dbrestv1.DatabaseAPI{}
	f.g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "db"}, api)).To(Succeed())
		g.Expect(api.Status.Circuit).NotTo(BeNil())
		g.Expect(conditionOf(api.Status.Conditions, dbrestv1.ReadyCondition)).To(Equal("False/" + dbrestv1.ReasonCircuitOpen))
	}, timeout, interval).Should(Succeed())
	f.g.Expect(api.Status.Circuit.Reason).To(Equal(dbrestv1.ReasonServiceUnavailable))
	for _, name := range names {
		d := f.waitFor(name, "False", dbrestv1.ReasonCircuitOpen)
		f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring(`DatabaseAPI "db" is in trouble`))
	}

	// One probe per Retry-After (1s), not one request per Deployment.
	window := func() int {
		start := f.sim.Stats().FaultsInjected
		time.Sleep(4 * time.Second) //nolint:forbidigo // counting requests over a window is the assertion
		return f.sim.Stats().FaultsInjected - start
	}
	during := window()
	f.t.Logf("FIGURES circuit: %d Deployments waiting, %d requests in 4s of outage", n, during)
	f.g.Expect(during).To(BeNumerically("<=", 8))

	// A restarted manager starts from the open circuit in status.
	f.stopManager()
	f.startManager()
	afterRestart := window()
	f.t.Logf("FIGURES circuit: %d requests in the 4s after a manager restart", afterRestart)
	f.g.Expect(afterRestart).To(BeNumerically("<=", 8))

	f.sim.SetFaults(simulator.Faults{})
	for _, name := range names {
		f.expectServerRunsSpec(name)
	}
	f.g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "db"}, api)).To(Succeed())
		g.Expect(api.Status.Circuit).To(BeNil())
	}, timeout, interval).Should(Succeed())
	f.expectNoDuplicates()
}
