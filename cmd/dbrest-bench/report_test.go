package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// fakePhase computes a phase's figures from made-up snapshots and
// simulator stats for n Deployments, the way measure and phases do.
func fakePhase(b *bench, name string, byOp map[string]int) phaseResult {
	t0 := time.Now()
	before := snapshot{at: t0, client: map[string]float64{"PATCH": 10}, server: map[string]float64{"PATCH deployments": 5}}
	after := snapshot{at: t0.Add(10 * time.Second), usage: harness.Usage{CPU: time.Second, PeakRSS: 64 << 20},
		client: map[string]float64{"PATCH": 10 + 2*float64(b.c.n)}, reconciles: 2 * float64(b.c.n),
		server: map[string]float64{"PATCH deployments": 5 + 2*float64(b.c.n), "POST events": float64(b.c.n)}}
	s := submitted{start: map[string]time.Time{}, want: map[string]int64{}, own: map[string]float64{}}
	done := map[string]time.Time{}
	for i := range b.c.n {
		s.start[appName(i)], s.want[appName(i)] = t0, 1
		done[appName(i)] = t0.Add(time.Duration(i+1) * time.Second)
	}
	res := b.figures(before, after, s, t0.Add(time.Second), done, simulator.Stats{RequestsByOp: byOp})
	res.Name = name
	res.conclude(b.c)
	return res
}

func TestReport(t *testing.T) {
	g := NewWithT(t)
	b := &bench{c: config{n: 4, jobDuration: time.Second}}
	rep := &report{Config: reportConfig(b.c)}
	// create: one deploy, one application read and 1.5 polls per
	// Deployment, and a list of jobs; delete: no application read at all.
	rep.add(fakePhase(b, "create", map[string]int{"deploy": 4, "getApp": 4, "getJob": 6, "listJobs": 2, "listApps": 1}))
	rep.add(fakePhase(b, "delete", map[string]int{"undeploy": 4, "getJob": 4}))

	create, del := rep.Phases[0], rep.Phases[1]
	g.Expect(create.MutatingCalls).To(Equal(1.0))
	g.Expect(create.AppReads).To(Equal(1.0))
	g.Expect(create.JobPolls).To(Equal(1.5))
	g.Expect(create.JobLists).To(Equal(0.5))
	g.Expect(create.Ratios).To(HaveKeyWithValue("mutatingCalls", 1.0))
	g.Expect(create.Ratios).To(HaveKeyWithValue("jobPolls", 1.5))
	g.Expect(del.MutatingCalls).To(Equal(1.0))
	g.Expect(del.AppReads).To(BeZero())
	g.Expect(create.Writes).To(Equal(writeCounts{Object: 2, Event: 1, Total: 3}))
	rep.Phases[0].Ceiling = &ceilingResult{Seconds: 5, Writes: 16, WritesPerSecond: 3.2, Ratio: 2}

	var out bytes.Buffer
	rep.print(&out)
	lines := strings.Split(out.String(), "\n")
	// cells finds the row with label and returns its cells, one per phase,
	// and its line number.
	cells := func(label string) ([]string, int) {
		for i, l := range lines {
			if rest, ok := strings.CutPrefix(strings.TrimLeft(l, " "), label+" "); ok {
				return strings.Fields(rest), i
			}
		}
		t.Fatalf("no row %q in\n%s", label, out.String())
		return nil, 0
	}
	mut, at := cells("sim mutating calls / Deployment")
	g.Expect(mut).To(Equal([]string{"1.00", "1.00"}))
	for i, row := range []struct {
		label string
		want  []string
	}{
		{"sim app reads (getApp) / Dep.", []string{"1.00", "0.00"}},
		{"sim job polls (getJob) / Dep.", []string{"1.50", "1.00"}},
		{"sim job lists (listJobs) / Dep.", []string{"0.50", "0.00"}},
	} {
		got, line := cells(row.label)
		g.Expect(got).To(Equal(row.want), row.label)
		g.Expect(line).To(Equal(at+1+i), "%s next to the mutating calls", row.label)
	}
	got, _ := cells("sim listApps / Deployment")
	g.Expect(got).To(Equal([]string{"0.25", "0.00"}))
	got, _ = cells("ratio: mutating calls / ideal")
	g.Expect(got).To(Equal([]string{"1.00", "1.00"}))
	got, _ = cells("ratio: operator time / ceiling time")
	g.Expect(got).To(Equal([]string{"2.00", "-"}), "the ceiling's ratio, where there is one")
	got, _ = cells("kube writes / Dep. (max)")
	g.Expect(got).To(Equal([]string{"3.00", fmt.Sprintf("(%.0f)", writeMaxima["create"].Total),
		"3.00", fmt.Sprintf("(%.0f)", writeMaxima["delete"].Total)}), "with the documented maxima")
	g.Expect(out.String()).NotTo(ContainSubstring("sim getApp /"), "shown once, above")

	path := filepath.Join(t.TempDir(), "bench.json")
	g.Expect(rep.writeJSON(path)).To(Succeed())
	raw, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	var doc struct {
		Phases []map[string]any `json:"phases"`
	}
	g.Expect(json.Unmarshal(raw, &doc)).To(Succeed())
	g.Expect(doc.Phases).To(HaveLen(2))
	for i, want := range []map[string]any{
		{"mutatingCallsPerDeployment": 1.0, "appReadsPerDeployment": 1.0, "jobPollsPerDeployment": 1.5, "jobListsPerDeployment": 0.5},
		{"mutatingCallsPerDeployment": 1.0, "appReadsPerDeployment": 0.0, "jobPollsPerDeployment": 1.0, "jobListsPerDeployment": 0.0},
	} {
		for k, v := range want {
			g.Expect(doc.Phases[i]).To(HaveKeyWithValue(k, v), "phase %d", i)
		}
		g.Expect(doc.Phases[i]["ratioToIdeal"]).To(HaveKeyWithValue("mutatingCalls", 1.0))
	}
	g.Expect(doc.Phases[0]["ceiling"]).To(HaveKeyWithValue("operatorOverCeiling", 2.0))
	g.Expect(doc.Phases[0]["managerWritesPerDeployment"]).To(HaveKeyWithValue("object", 2.0))
	g.Expect(doc.Phases[1]).NotTo(HaveKey("ceiling"))
}
