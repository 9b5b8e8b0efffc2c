package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// report is the whole run, as printed and as written to --json.
type report struct {
	Config map[string]any `json:"config"`
	Phases []phaseResult  `json:"phases"`
	// Duplicates is the sum over phases: must be 0.
	Duplicates int `json:"duplicates"`
	// CPUSeconds and PeakRSSMiB are the manager's over the whole run, and
	// PeakRSSMiBPer1000 is PeakRSSMiB per 1,000 Deployments.
	CPUSeconds        float64 `json:"cpuSeconds"`
	PeakRSSMiB        float64 `json:"peakRSSMiB"`
	PeakRSSMiBPer1000 float64 `json:"peakRSSMiBPer1000Deployments"`
	// IdleRSSMiB is the manager's RSS before the first phase, with the
	// DatabaseAPI probed and no Deployment, and AboveIdleMiBPer1000 is
	// PeakRSSMiB less IdleRSSMiB per 1,000 Deployments: what each
	// Deployment costs.
	IdleRSSMiB          float64 `json:"idleRSSMiB"`
	AboveIdleMiBPer1000 float64 `json:"rssAboveIdleMiBPer1000Deployments"`
	// LoadAverage is the machine's 1-minute load average before the first
	// phase (each phase has its own at its end).
	LoadAverage float64 `json:"loadAverage1m"`
}

// phaseResult holds one phase's figures. "Per Deployment" figures are
// totals divided by N; times are in seconds.
type phaseResult struct {
	Name     string `json:"name"`
	Complete bool   `json:"complete"`
	// Wall is from the first call sent to the last object done.
	Wall float64 `json:"wallSeconds"`
	// Submit is how long the bench took to send its N calls.
	Submit float64 `json:"submitSeconds"`
	// AfterLastSubmit is from the last call sent to the last object done.
	AfterLastSubmit float64 `json:"afterLastSubmitSeconds"`
	PerSecond       float64 `json:"deploymentsPerSecond"`
	// P50, P99 and Max are per-object times from the call to Ready (or gone).
	P50 float64 `json:"p50Seconds"`
	P99 float64 `json:"p99Seconds"`
	Max float64 `json:"maxSeconds"`
	// SimRequests is the simulator's requests per Deployment by operation.
	SimRequests map[string]float64 `json:"simRequestsPerDeployment"`
	// MutatingCalls, AppReads, JobPolls and JobLists are picked out of
	// SimRequests, and are there even when 0: the phase's mutating
	// operation (deploy, redeploy or undeploy), application reads
	// (getApp), job polls (getJob) and job lists (listJobs), per
	// Deployment.
	MutatingCalls  float64 `json:"mutatingCallsPerDeployment"`
	AppReads       float64 `json:"appReadsPerDeployment"`
	JobPolls       float64 `json:"jobPollsPerDeployment"`
	JobLists       float64 `json:"jobListsPerDeployment"`
	MaxPollsPerJob int     `json:"maxPollsPerJob"`
	FaultsInjected int     `json:"faultsInjected"`
	// Duplicates counts deploys of an application beyond its first.
	Duplicates int `json:"duplicates"`
	// KubeRequests is the manager's kube-apiserver requests per Deployment
	// by method (client-go's rest_client_requests_total).
	KubeRequests map[string]float64 `json:"kubeRequestsPerDeployment"`
	// Writes is the manager's writes per Deployment by kind, Events
	// included, counted by the kube-apiserver.
	Writes writeCounts `json:"managerWritesPerDeployment"`
	// StatusPatchBytes and EventBytes are the mean bodies of the
	// manager's status patches and Event creates.
	StatusPatchBytes int     `json:"statusPatchBytes"`
	EventBytes       int     `json:"eventBytes"`
	Reconciles       float64 `json:"reconcilesPerDeployment"`
	CPUSeconds       float64 `json:"managerCPUSeconds"`
	PeakRSSMiB       float64 `json:"managerPeakRSSMiB"`
	// LoadAverage is the machine's 1-minute load average at the phase's end.
	LoadAverage float64 `json:"loadAverage1m"`
	// Ratios compares figures with the ideal: one mutating call and one
	// job poll per Deployment, and time to Ready equal to the job duration.
	Ratios map[string]float64 `json:"ratioToIdeal"`
	// Ceiling is the same writes sent with no operator (ceiling.go).
	Ceiling *ceilingResult `json:"ceiling,omitempty"`
	// Storm is the 503 storm's figures, in the phase that had one.
	Storm *stormResult `json:"storm,omitempty"`

	// mix is what the ceiling replays, and sample a Deployment's status
	// at the phase's end, the shape of its status patches.
	mix    writeMix
	sample *dbrestv1.DeploymentStatus
	// server and bodyBytes are the phase's kube-apiserver counters, the
	// bench's own writes taken out.
	server, bodyBytes map[string]float64
}

func reportConfig(c config) map[string]any {
	return map[string]any{
		"n": c.n, "jobDuration": c.jobDuration.String(), "pollInterval": c.pollInterval.String(),
		"retryAfter": c.retryAfter, "fault": c.fault, "stormDuration": c.stormDuration.String(), "kubeAPIQPS": c.kubeAPIQPS, "kubeAPIBurst": c.kubeAPIBurst,
		"maxConcurrentReconciles": c.concurrency, "maxConcurrentRequests": c.maxRequests, "managerArgs": c.managerArgs,
	}
}

func (r *report) add(p phaseResult) {
	r.Phases = append(r.Phases, p)
	r.Duplicates += p.Duplicates
}

// mutatingOp is the simulator operation each phase should call once per Deployment.
var mutatingOp = map[string]string{"create": "deploy", "redeploy": "redeploy", "delete": "undeploy"}

// The simulator's read operations the report shows next to the mutating
// calls (simulator.Stats.RequestsByOp keys).
const (
	opGetApp   = "getApp"
	opGetJob   = "getJob"
	opListJobs = "listJobs"
)

// figures computes a phase's results from its snapshots and the simulator's stats.
func (b *bench) figures(before, after snapshot, s submitted, submitEnd time.Time, done map[string]time.Time, st simulator.Stats) phaseResult {
	n := float64(b.c.n)
	res := phaseResult{Complete: len(done) == len(s.want), Submit: submitEnd.Sub(before.at).Seconds()}
	lat := make([]float64, 0, len(done))
	last := after.at
	if res.Complete {
		last = before.at
		for name, at := range done {
			lat = append(lat, at.Sub(s.start[name]).Seconds())
			if at.After(last) {
				last = at
			}
		}
	}
	slices.Sort(lat)
	res.Wall = last.Sub(before.at).Seconds()
	res.AfterLastSubmit = last.Sub(submitEnd).Seconds()
	res.PerSecond = float64(len(done)) / res.Wall
	res.P50, res.P99, res.Max = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1)

	res.SimRequests = perDeployment(st.RequestsByOp, n)
	res.AppReads = res.SimRequests[opGetApp]
	res.JobPolls = res.SimRequests[opGetJob]
	res.JobLists = res.SimRequests[opListJobs]
	res.MaxPollsPerJob, res.FaultsInjected = st.MaxPollsPerJob, st.FaultsInjected
	res.Duplicates = st.DuplicateDeploys
	for _, count := range st.DeploysAccepted {
		res.Duplicates += max(count-1, 0)
	}
	res.KubeRequests = perDeployment(delta(before.client, after.client), n)
	res.server, res.bodyBytes = delta(before.server, after.server), delta(before.bodyBytes, after.bodyBytes)
	for k, v := range s.own {
		res.server[k] -= v
	}
	for k, v := range s.ownBytes {
		res.bodyBytes[k] -= v
	}
	res.Reconciles = (after.reconciles - before.reconciles) / n
	res.CPUSeconds = (after.usage.CPU - before.usage.CPU).Seconds()
	res.PeakRSSMiB = mib(after.usage.PeakRSS)
	return res
}

// conclude fills in what depends on the phase's name: its mutating
// calls, the comparison with the ideal and the manager's writes.
func (p *phaseResult) conclude(c config) {
	p.ratios(c.jobDuration)
	p.mix = mixOf(p.server, p.bodyBytes, len(finalizerPatch(p.Name != "delete")))
	p.Writes = p.mix.perDeployment(c.n)
	p.StatusPatchBytes, p.EventBytes = p.mix.statusBytes, p.mix.eventBytes
}

// ratios fills in the phase's mutating calls and the comparison with the
// ideal.
func (p *phaseResult) ratios(job time.Duration) {
	p.MutatingCalls = p.SimRequests[mutatingOp[p.Name]]
	p.Ratios = map[string]float64{
		"mutatingCalls": p.MutatingCalls,
		"jobPolls":      p.SimRequests[opGetJob],
		"p50":           p.P50 / job.Seconds(),
		"p99":           p.P99 / job.Seconds(),
	}
}

func perDeployment[V int | float64](m map[string]V, n float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v) / n
	}
	return out
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// print writes the table: one row per figure, one column per phase.
func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(p phaseResult) string) {
		cells := make([]string, 0, 1+len(r.Phases))
		cells = append(cells, label)
		for _, p := range r.Phases {
			cells = append(cells, f(p))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	num := func(format string, f func(p phaseResult) float64) func(phaseResult) string {
		return func(p phaseResult) string { return fmt.Sprintf(format, f(p)) }
	}
	row("phase", func(p phaseResult) string { return p.Name })
	row("operator time (s)", num("%.1f", func(p phaseResult) float64 { return p.Wall }))
	row("  sending the N calls (s)", num("%.1f", func(p phaseResult) float64 { return p.Submit }))
	row("  last call to last done (s)", num("%.1f", func(p phaseResult) float64 { return p.AfterLastSubmit }))
	if slices.ContainsFunc(r.Phases, func(p phaseResult) bool { return p.Ceiling != nil }) {
		ceiling := func(format string, f func(c *ceilingResult) float64) func(phaseResult) string {
			return func(p phaseResult) string {
				if p.Ceiling == nil {
					return "-"
				}
				return fmt.Sprintf(format, f(p.Ceiling))
			}
		}
		row("ceiling time (s)", ceiling("%.1f", func(c *ceilingResult) float64 { return c.Seconds }))
		row("ceiling writes / s", ceiling("%.0f", func(c *ceilingResult) float64 { return c.WritesPerSecond }))
		row("ratio: operator time / ceiling time", ceiling("%.2f", func(c *ceilingResult) float64 { return c.Ratio }))
	}
	row("Deployments/s", num("%.0f", func(p phaseResult) float64 { return p.PerSecond }))
	row("p50 time to done (s)", num("%.2f", func(p phaseResult) float64 { return p.P50 }))
	row("p99 time to done (s)", num("%.2f", func(p phaseResult) float64 { return p.P99 }))
	// The phase's mutating calls with the reads around them, side by
	// side; then every other operation the simulator saw.
	row("sim mutating calls / Deployment", num("%.2f", func(p phaseResult) float64 { return p.MutatingCalls }))
	row("sim app reads (getApp) / Dep.", num("%.2f", func(p phaseResult) float64 { return p.AppReads }))
	row("sim job polls (getJob) / Dep.", num("%.2f", func(p phaseResult) float64 { return p.JobPolls }))
	row("sim job lists (listJobs) / Dep.", num("%.2f", func(p phaseResult) float64 { return p.JobLists }))
	for _, op := range keys(r.Phases, func(p phaseResult) map[string]float64 { return p.SimRequests }) {
		if op == opGetApp || op == opGetJob || op == opListJobs {
			continue
		}
		row("sim "+op+" / Deployment", num("%.2f", func(p phaseResult) float64 { return p.SimRequests[op] }))
	}
	row("sim max polls of one job", func(p phaseResult) string { return fmt.Sprint(p.MaxPollsPerJob) })
	row("sim faults injected", func(p phaseResult) string { return fmt.Sprint(p.FaultsInjected) })
	for _, m := range keys(r.Phases, func(p phaseResult) map[string]float64 { return p.KubeRequests }) {
		row("kube "+m+" / Deployment", num("%.2f", func(p phaseResult) float64 { return p.KubeRequests[m] }))
	}
	// The manager's writes, by kind, with the documented maxima.
	row("kube object writes / Dep.", num("%.2f", func(p phaseResult) float64 { return p.Writes.Object }))
	row("kube status writes / Dep.", num("%.2f", func(p phaseResult) float64 { return p.Writes.Status }))
	row("kube Event writes / Dep.", num("%.2f", func(p phaseResult) float64 { return p.Writes.Event }))
	row("kube writes / Dep. (max)", func(p phaseResult) string {
		return fmt.Sprintf("%.2f (%.0f)", p.Writes.Total, writeMaxima[p.Name].Total)
	})
	row("status patch bytes (ceiling)", func(p phaseResult) string { return bytesCell(p.StatusPatchBytes, p.Ceiling, true) })
	row("Event bytes (ceiling)", func(p phaseResult) string { return bytesCell(p.EventBytes, p.Ceiling, false) })
	row("reconciles / Deployment", num("%.2f", func(p phaseResult) float64 { return p.Reconciles }))
	row("manager CPU (s)", num("%.1f", func(p phaseResult) float64 { return p.CPUSeconds }))
	row("manager peak RSS (MiB)", num("%.0f", func(p phaseResult) float64 { return p.PeakRSSMiB }))
	row("load average (1 min) at end", num("%.1f", func(p phaseResult) float64 { return p.LoadAverage }))
	row("duplicate deploys", func(p phaseResult) string { return fmt.Sprint(p.Duplicates) })
	row("ratio: mutating calls / ideal", num("%.2f", func(p phaseResult) float64 { return p.Ratios["mutatingCalls"] }))
	row("ratio: job polls / ideal", num("%.2f", func(p phaseResult) float64 { return p.Ratios["jobPolls"] }))
	row("ratio: p50 / job duration", num("%.2f", func(p phaseResult) float64 { return p.Ratios["p50"] }))
	row("ratio: p99 / job duration", num("%.2f", func(p phaseResult) float64 { return p.Ratios["p99"] }))
	_ = tw.Flush()
	for _, p := range r.Phases {
		if st := p.Storm; st != nil {
			fmt.Fprintf(w, "503 storm in the %s phase: %.1f s, %d requests received = %.2f per Deployment, %.1f per second (second half %.1f/s, peak %d/s)\n",
				p.Name, st.Seconds, st.Requests, st.PerDeployment, st.PerSecond, st.SecondHalfPerSecond, st.PeakPerSecond)
		}
	}
	fmt.Fprintf(w, "load average (1 min) before the run: %.1f\n", r.LoadAverage)
	fmt.Fprintf(w, "manager total: %.1f s CPU, peak RSS %.0f MiB = %.1f MiB per 1,000 Deployments (idle %.0f MiB, %.1f MiB per 1,000 above it); duplicate deploys: %d\n",
		r.CPUSeconds, r.PeakRSSMiB, r.PeakRSSMiBPer1000, r.IdleRSSMiB, r.AboveIdleMiBPer1000, r.Duplicates)
}

// bytesCell shows the manager's mean body and the ceiling's, which should
// be the same.
func bytesCell(manager int, c *ceilingResult, status bool) string {
	if c == nil {
		return fmt.Sprint(manager)
	}
	ceiling := c.EventBytes
	if status {
		ceiling = c.StatusPatchBytes
	}
	return fmt.Sprintf("%d (%d)", manager, ceiling)
}

// keys is the sorted union of a map's keys over the phases.
func keys(phases []phaseResult, m func(phaseResult) map[string]float64) []string {
	set := map[string]bool{}
	for _, p := range phases {
		for k := range m(p) {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
