package controllers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// expectServerRunsSpec waits for Ready at the current generation, then
// compares every field of the server's application with the spec, empty
// ones included: Ready must mean exactly that.
func (f *fixture) expectServerRunsSpec(name string) *dbrestv1.Deployment {
	f.t.Helper()
	d := f.waitReady(name)
	app, ok := f.sim.Application(d.Spec.Application.Name)
	f.g.Expect(ok).To(BeTrue(), "application %s not on the server", name)
	want := d.Spec.Application
	f.g.Expect(app.State).To(Equal("STATE_ACTIVE"))
	f.g.Expect(app.DeploymentPath).To(Equal(want.DeploymentPath), "deploymentPath")
	f.g.Expect(slices.Sorted(slices.Values(app.Targets))).To(Equal(slices.Sorted(slices.Values(want.Targets))), "targets")
	f.g.Expect(app.PlanPath).To(Equal(want.PlanPath), "planPath")
	f.g.Expect(app.Version).To(Equal(want.Version), "version")
	f.g.Expect(maps.Equal(app.Properties, want.Properties)).To(BeTrue(), "properties: server %v, spec %v", app.Properties, want.Properties)
	return d
}

// TestEveryFieldReachesTheServer adds, changes and removes each optional
// field and a target, one patch at a time, and checks after each Ready
// that the server runs exactly the spec. It runs against a server that
// shows the new fields at once and against an in-place swap server that
// keeps the old ones until the redeploy job ends.
func TestEveryFieldReachesTheServer(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run(fmt.Sprintf("in-place redeploy %v", inPlace), func(t *testing.T) {
			f := newFixture(t, withSim(func(o *simulator.Options) { o.RedeployInPlace = inPlace; o.JobDuration = 500 * time.Millisecond }))
			f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.Version = "" })
			f.expectServerRunsSpec("orders")
			steps := []struct {
				name   string
				mutate func(a *dbrestv1.ApplicationSpec)
			}{
				{"add planPath", func(a *dbrestv1.ApplicationSpec) { a.PlanPath = "/plans/orders-plan.xml" }},
				{"add version", func(a *dbrestv1.ApplicationSpec) { a.Version = "1.4.2" }},
				{"add properties", func(a *dbrestv1.ApplicationSpec) { a.Properties = map[string]string{"poolSize": "20"} }},
				{"add a target", func(a *dbrestv1.ApplicationSpec) { a.Targets = append(a.Targets, "cluster2") }},
				{"change planPath", func(a *dbrestv1.ApplicationSpec) { a.PlanPath = "/plans/orders-plan-2.xml" }},
				{"change version", func(a *dbrestv1.ApplicationSpec) { a.Version = "1.4.3" }},
				{"change a property and add one", func(a *dbrestv1.ApplicationSpec) {
					a.Properties = map[string]string{"poolSize": "30", "timeout": "5s"}
				}},
				{"remove a property", func(a *dbrestv1.ApplicationSpec) { a.Properties = map[string]string{"timeout": "5s"} }},
				{"remove planPath", func(a *dbrestv1.ApplicationSpec) { a.PlanPath = "" }},
				{"remove version", func(a *dbrestv1.ApplicationSpec) { a.Version = "" }},
				{"remove properties", func(a *dbrestv1.ApplicationSpec) { a.Properties = nil }},
				{"remove a target", func(a *dbrestv1.ApplicationSpec) { a.Targets = []string{"cluster2"} }},
			}
			for i, s := range steps {
				f.update("orders", func(d *dbrestv1.Deployment) { s.mutate(&d.Spec.Application) })
				d := f.expectServerRunsSpec("orders")
				f.g.Expect(d.Generation).To(BeEquivalentTo(i+2), s.name)
				f.g.Expect(f.sim.Stats().RequestsByOp["redeploy"]).To(Equal(i+1), "%s: one redeploy per change", s.name)
			}
			st := f.sim.Stats()
			f.g.Expect(st.RequestsByOp["deploy"]).To(Equal(1))
			f.g.Expect(st.OverlappingMutating).To(BeZero())
			f.expectNoDuplicates()
			// Settled: no drift is seen, so nothing is redeployed again.
			f.g.Expect(f.eventReasons("orders")).NotTo(ContainElement("DriftDetected"))
		})
	}
}

// TestSpecNotApplied runs against a server that completes every job but
// drops the plan: the operator must not say Deployed, must name the
// field, and must not redeploy in a loop.
func TestSpecNotApplied(t *testing.T) {
	f := newFixture(t)
	// The injector strips planPath from the redeploy before the server sees it.
	f.inj.setHook(dropPlanPath)
	f.createDeployment("orders")
	f.expectServerRunsSpec("orders")
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.PlanPath = "/plans/p.xml" })
	d := f.waitFor("orders", "False", dbrestv1.ReasonSpecNotApplied)
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonSpecNotApplied))
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring(`planPath: server has "", spec says "/plans/p.xml"`))
	before := f.sim.Stats().RequestsByOp
	f.g.Consistently(func() map[string]int { return f.sim.Stats().RequestsByOp }, 3*time.Second, 500*time.Millisecond).
		Should(Equal(before), "no redeploy loop")
	f.g.Expect(before["redeploy"]).To(Equal(1))

	// A spec change gets its chance.
	f.inj.setHook(nil)
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.PlanPath = "/plans/p2.xml" })
	f.expectServerRunsSpec("orders")
}

// dropPlanPath plays a server that ignores planPath on a redeploy: it
// removes the field from the body before the simulator reads it.
func dropPlanPath(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/redeploy") {
		return false
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return true
	}
	delete(body, "planPath")
	b, _ := json.Marshal(body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	next.ServeHTTP(w, r)
	return true
}
