package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
)

// TestSmoke runs the whole bench with 50 Deployments and short jobs, once
// plainly and once through a 503 storm in the redeploy phase. It checks
// that every phase completes, nothing is deployed twice, each Deployment
// cost one mutating call per phase and no more writes than writeMaxima,
// and that the ceiling replayed every phase's writes; it never checks
// timings.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and the manager")
	}
	ctrl.SetLogger(logr.Discard())
	for name, extra := range map[string][]string{
		"plain":     nil,
		"503-storm": {"--fault=503-storm", "--retry-after", "--storm-duration=3s"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			var out bytes.Buffer
			args := append([]string{"--n=50", "--job-duration=300ms", "--poll-interval=1s", "--phase-timeout=3m"}, extra...)
			c, err := parseFlags(args, &out)
			g.Expect(err).NotTo(HaveOccurred())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			rep, err := run(ctx, c)
			g.Expect(err).NotTo(HaveOccurred(), out.String())
			g.Expect(rep.Duplicates).To(BeZero())
			g.Expect(rep.Phases).To(HaveLen(3))
			for _, p := range rep.Phases {
				g.Expect(p.Complete).To(BeTrue(), p.Name)
				g.Expect(p.Duplicates).To(BeZero(), p.Name)
				g.Expect(p.Ceiling).NotTo(BeNil(), "%s: the ceiling ran", p.Name)
				g.Expect(p.Ceiling.Writes).To(BeNumerically(">", c.n), "%s: the bench's writes and the manager's", p.Name)
				g.Expect(p.Ceiling.Ratio).To(BeNumerically(">", 0), p.Name)
				if name == "plain" {
					g.Expect(p.Ratios).To(HaveKeyWithValue("mutatingCalls", 1.0), p.Name)
					g.Expect(p.Writes.over(writeMaxima[p.Name])).To(BeEmpty(), "%s: writes per Deployment", p.Name)
					g.Expect(p.Ceiling.Replayed).To(Equal(p.Writes), "%s: the ceiling sent the manager's writes", p.Name)
				}
			}
			if name == "503-storm" {
				storm := rep.Phases[1].Storm
				g.Expect(storm).NotTo(BeNil())
				g.Expect(storm.Requests).To(BeNumerically(">", 0), "the server was called during the storm")
				g.Expect(out.String()).To(ContainSubstring("503 storm in the redeploy phase"))
			}
			g.Expect(out.String()).To(ContainSubstring("duplicate deploys: 0"))
			t.Log(out.String())
		})
	}
}

func TestParseFlags(t *testing.T) {
	g := NewWithT(t)
	c, err := parseFlags(nil, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.n).To(Equal(1000))
	g.Expect(c.maxRequests).To(Equal(c.concurrency), "the REST cap follows the reconcilers by default")
	g.Expect(c.ceiling).To(BeTrue(), "the ceiling runs by default")
	for _, bad := range [][]string{{"--n=0"}, {"--poll-interval=500ms"}, {"--fault=flood"}, {"--storm-duration=0s"}} {
		_, err := parseFlags(bad, &bytes.Buffer{})
		g.Expect(err).To(HaveOccurred(), bad)
	}
}

func TestPercentile(t *testing.T) {
	g := NewWithT(t)
	values := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	g.Expect(percentile(values, 0.5)).To(Equal(5.0))
	g.Expect(percentile(values, 0.99)).To(Equal(10.0))
	g.Expect(percentile(values, 1)).To(Equal(10.0))
	g.Expect(percentile(nil, 0.5)).To(BeZero())
}
