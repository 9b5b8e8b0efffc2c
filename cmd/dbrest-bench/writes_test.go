package main

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestShare(t *testing.T) {
	for _, tc := range []struct {
		total, n int
		want     []int
	}{
		{total: 6, n: 3, want: []int{2, 2, 2}},
		{total: 7, n: 3, want: []int{3, 2, 2}},
		{total: 2, n: 4, want: []int{1, 1, 0, 0}},
		{total: 0, n: 2, want: []int{0, 0}},
	} {
		g := NewWithT(t)
		got := make([]int, tc.n)
		for i := range tc.n {
			got[i] = share(tc.total, tc.n, i)
		}
		g.Expect(got).To(Equal(tc.want), "%d over %d", tc.total, tc.n)
	}
}

func TestMixOf(t *testing.T) {
	g := NewWithT(t)
	// 10 Deployments: one finalizer patch and three status patches each,
	// two Event creates, one series update; PUT counts as a patch.
	server := map[string]float64{
		"PATCH deployments": 10, "PATCH deployments/status": 28, "PUT deployments/status": 2,
		"POST events": 20, "PATCH events": 1, "GET deployments": 99, "POST deployments": 0,
	}
	objectPatch := len(finalizerPatch(true))
	body := map[string]float64{
		bodyDeploymentPatch: float64(10*objectPatch + 30*800),
		bodyEventCreate:     20 * 450,
	}
	m := mixOf(server, body, objectPatch)
	g.Expect(m).To(Equal(writeMix{objectPatches: 10, statusPatches: 30, eventCreates: 20, eventPatches: 1,
		statusBytes: 800, eventBytes: 450}))
	g.Expect(m.total()).To(Equal(61))
	g.Expect(m.perDeployment(10)).To(Equal(writeCounts{Object: 1, Status: 3, Event: 2.1, Total: 6.1}))
	g.Expect(mixOf(map[string]float64{}, nil, objectPatch)).To(Equal(writeMix{}), "no write, no size")
}

func TestWriteMaxima(t *testing.T) {
	g := NewWithT(t)
	for _, phase := range []string{"create", "redeploy", "delete"} {
		m, ok := writeMaxima[phase]
		g.Expect(ok).To(BeTrue(), phase)
		g.Expect(m.Total).To(Equal(m.Object+m.Status+m.Event), "%s: the total is the sum of the kinds", phase)
	}
	limit := writeCounts{Object: 1, Status: 3, Event: 2, Total: 6}
	g.Expect(writeCounts{Object: 1, Status: 3, Event: 2, Total: 6}.over(limit)).To(BeEmpty())
	g.Expect(writeCounts{Object: 1, Status: 3.02, Event: 2, Total: 6.02}.over(limit)).
		To(ConsistOf("status 3.02 > 3", "total 6.02 > 6"))
}
