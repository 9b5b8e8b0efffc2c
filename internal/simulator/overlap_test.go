package simulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestOverlappingMutating checks the counter behind the operator's core
// guarantee: a mutating call that arrives while another call or a job is
// in flight for the same application counts, whatever its answer.
func TestOverlappingMutating(t *testing.T) {
	const (
		deploy   = "deploy"
		redeploy = "redeploy"
		undeploy = "undeploy"
		wait     = "wait" // let the running jobs end
	)
	tests := []struct {
		name      string
		detached  bool
		steps     []string // each on app "a" unless it names "b"
		wantTotal int
		wantByApp map[string]int
		wantMax   int // MaxConcurrentMutatingOverall
	}{
		{name: "one at a time", detached: true, steps: []string{deploy, wait, redeploy, wait, undeploy},
			wantByApp: map[string]int{}, wantMax: 1},
		{name: "redeploy while the deploy job runs", detached: true, steps: []string{deploy, redeploy},
			wantTotal: 1, wantByApp: map[string]int{"a": 1}, wantMax: 2},
		{name: "duplicate deploy while the job runs", detached: true, steps: []string{deploy, deploy},
			wantTotal: 1, wantByApp: map[string]int{"a": 1}, wantMax: 2},
		{name: "three at once", detached: true, steps: []string{deploy, redeploy, undeploy},
			wantTotal: 2, wantByApp: map[string]int{"a": 2}, wantMax: 3},
		{name: "other applications do not overlap", detached: true, steps: []string{deploy, deploy + " b", redeploy + " b"},
			wantTotal: 1, wantByApp: map[string]int{"b": 1}, wantMax: 2},
		{name: "sync calls end before the next", steps: []string{deploy, redeploy, undeploy},
			wantByApp: map[string]int{}, wantMax: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, Options{JobDuration: time.Second})
			query := "?__detached=false"
			if tt.detached {
				query = "?__detached=true"
			}
			for _, step := range tt.steps {
				op, name, named := strings.Cut(step, " ")
				if !named {
					name = "a"
				}
				var rec *httptest.ResponseRecorder
				switch op {
				case deploy:
					rec = h.do("POST", "deployments/application"+query, deployBody(name))
				case redeploy:
					rec = h.do("POST", "deployments/application/id/"+name+"/redeploy"+query, redeployBody(name, "2.0"))
				case undeploy:
					rec = h.do("DELETE", "deployments/application/id/"+name+query, nil)
				case wait:
					h.clock.Advance(time.Second)
					continue
				}
				g.Expect(rec.Code).To(BeNumerically("<", http.StatusInternalServerError), step)
			}
			st := h.sim.Stats()
			g.Expect(st.OverlappingMutating).To(Equal(tt.wantTotal))
			g.Expect(st.OverlappingMutatingByApp).To(Equal(tt.wantByApp))
			g.Expect(st.MaxConcurrentMutatingOverall).To(Equal(tt.wantMax))

			h.sim.ResetStats()
			st = h.sim.Stats()
			g.Expect(st.OverlappingMutating).To(BeZero())
			g.Expect(st.OverlappingMutatingByApp).To(BeEmpty())
		})
	}
}

// TestStatsJSONNewCounters checks the camelCase names GET /_sim/stats
// gives the overlap and proxy counters.
func TestStatsJSONNewCounters(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, Options{})
	h.deployDetached("a")
	expectCode(t, h.do("DELETE", "deployments/application/id/a?__detached=true", nil), http.StatusAccepted)

	rec := h.admin("GET", "/_sim/stats", "")
	expectCode(t, rec, http.StatusOK)
	var raw map[string]any
	decodeJSON(t, rec, &raw)
	g.Expect(raw).To(HaveKeyWithValue("overlappingMutating", BeNumerically("==", 1)))
	g.Expect(raw).To(HaveKeyWithValue("overlappingMutatingByApp", HaveKeyWithValue("a", BeNumerically("==", 1))))
	g.Expect(raw).To(HaveKeyWithValue("proxyTimeouts", BeNumerically("==", 0)))
}
