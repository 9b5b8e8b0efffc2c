package simulator

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// appView is what the in-place tests compare: the fields a redeploy
// changes and the state. Nil means the application does not exist.
type appView struct {
	State      string
	Version    string
	Targets    []string
	Properties map[string]string
}

func (h *harness) view(name string) *appView {
	app, ok := h.sim.Application(name)
	if !ok {
		return nil
	}
	return &appView{State: app.State, Version: app.Version, Targets: app.Targets, Properties: app.Properties}
}

var (
	// v1 is deployBody's application once its job completed.
	v1 = appView{State: StateActive, Version: "1.0", Targets: []string{"cluster1"}, Properties: map[string]string{"poolSize": "20"}}
	// v2 is what redeployV2 asks for; properties sent empty clear them.
	v2 = appView{State: StateActive, Version: "2.0", Targets: []string{"cluster2"}, Properties: map[string]string{}}
)

func withState(v appView, state string) *appView { v.State = state; return &v }

func redeployBody(name, version string) map[string]any {
	return map[string]any{"name": name, "version": version, "targets": []string{"cluster2"}, "properties": map[string]string{}}
}

// deployedActive deploys name and lets its job complete.
func (h *harness) deployedActive(name string) {
	h.t.Helper()
	h.deployDetached(name)
	h.clock.Advance(h.sim.opts.JobDuration)
	NewWithT(h.t).Expect(h.view(name)).To(Equal(&v1))
}

func TestRedeployInPlace(t *testing.T) {
	tests := []struct {
		name        string
		inPlace     bool
		query       string
		failJob     bool
		wantCode    int
		wantRunning *appView
		wantEnd     *appView
	}{
		{name: "in place completes", inPlace: true, query: "?__detached=true", wantCode: 202,
			wantRunning: &v1, wantEnd: &v2},
		{name: "in place fails: old fields stay", inPlace: true, query: "?__detached=true", failJob: true, wantCode: 202,
			wantRunning: &v1, wantEnd: withState(v1, StateFailed)},
		{name: "default applies at once", query: "?__detached=true", wantCode: 202,
			wantRunning: withState(v2, StateNew), wantEnd: &v2},
		{name: "default fails with the new fields", query: "?__detached=true", failJob: true, wantCode: 202,
			wantRunning: withState(v2, StateNew), wantEnd: withState(v2, StateFailed)},
		{name: "in place leaves sync redeploys alone", inPlace: true, query: "?__detached=false", wantCode: 200,
			wantRunning: &v2, wantEnd: &v2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, Options{JobDuration: 2 * time.Second, RedeployInPlace: tt.inPlace})
			h.deployedActive("a")
			if tt.failJob {
				h.sim.SetFailAppPattern(regexp.MustCompile("^a$"))
			}

			rec := h.do("POST", "deployments/application/id/a/redeploy"+tt.query, redeployBody("a", "2.0"))
			expectCode(t, rec, tt.wantCode)
			if tt.wantCode == http.StatusAccepted {
				job := decodeItem[Job](t, rec)
				g.Expect(job.Operation).To(Equal(OpRedeploy))
				// The job works on the new targets even while the
				// application still shows the old ones.
				g.Expect(job.Targets).To(HaveLen(1))
				g.Expect(job.Targets[0].Name).To(Equal("cluster2"))
				g.Expect(job.Description).To(ContainSubstring("on cluster2."))
			}
			g.Expect(h.view("a")).To(Equal(tt.wantRunning))
			// The API shows what the admin view shows.
			got := decodeItem[Application](t, h.do("GET", "deployments/application/id/a", nil))
			g.Expect(got.State).To(Equal(tt.wantRunning.State))
			g.Expect(got.Version).To(Equal(tt.wantRunning.Version))

			h.clock.Advance(2*time.Second - time.Millisecond)
			g.Expect(h.view("a")).To(Equal(tt.wantRunning))
			h.clock.Advance(time.Millisecond)
			g.Expect(h.view("a")).To(Equal(tt.wantEnd))
		})
	}
}

// TestRedeployInPlaceNewestJobWins checks that a swap is applied only by
// the application's newest job: a later call or an out-of-band delete
// takes over, and the superseded swap never lands.
func TestRedeployInPlaceNewestJobWins(t *testing.T) {
	tests := []struct {
		name       string
		then       func(h *harness)
		wantMiddle *appView // when the in-place job ends
		wantFinal  *appView // when the second job ends
	}{
		{
			name: "second in-place redeploy",
			then: func(h *harness) {
				expectCode(h.t, h.do("POST", "deployments/application/id/a/redeploy?__detached=true", redeployBody("a", "3.0")), 202)
			},
			wantMiddle: &v1,
			wantFinal:  &appView{State: StateActive, Version: "3.0", Targets: []string{"cluster2"}, Properties: map[string]string{}},
		},
		{
			name: "sync redeploy",
			then: func(h *harness) {
				expectCode(h.t, h.do("POST", "deployments/application/id/a/redeploy", redeployBody("a", "3.0")), 200)
			},
			wantMiddle: &appView{State: StateActive, Version: "3.0", Targets: []string{"cluster2"}, Properties: map[string]string{}},
			wantFinal:  &appView{State: StateActive, Version: "3.0", Targets: []string{"cluster2"}, Properties: map[string]string{}},
		},
		{
			name: "detached undeploy",
			then: func(h *harness) {
				expectCode(h.t, h.do("DELETE", "deployments/application/id/a?__detached=true", nil), 202)
			},
			wantMiddle: &v1,
			wantFinal:  nil,
		},
		{
			name:       "out-of-band delete",
			then:       func(h *harness) { h.sim.DeleteApplication("a") },
			wantMiddle: nil,
			wantFinal:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, Options{JobDuration: 2 * time.Second, RedeployInPlace: true})
			h.deployedActive("a")
			expectCode(t, h.do("POST", "deployments/application/id/a/redeploy?__detached=true", redeployBody("a", "2.0")), 202)
			h.clock.Advance(time.Second)
			tt.then(h)
			h.clock.Advance(time.Second)
			g.Expect(h.view("a")).To(Equal(tt.wantMiddle), "when the in-place job ends")
			h.clock.Advance(time.Second)
			g.Expect(h.view("a")).To(Equal(tt.wantFinal), "when the second job ends")
			wantApps := 1
			if tt.wantFinal == nil {
				wantApps = 0
			}
			g.Expect(h.sim.Stats().Applications).To(Equal(wantApps))
		})
	}
}
