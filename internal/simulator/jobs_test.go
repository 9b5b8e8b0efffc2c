package simulator

import (
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestJobLifecycle(t *testing.T) {
	tests := []struct {
		name       string
		app        string
		wantStatus string
		wantState  string
	}{
		{name: "completes", app: "orders", wantStatus: JobCompleted, wantState: StateActive},
		{name: "fails", app: "broken-orders", wantStatus: JobFailed, wantState: StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{JobDuration: 2 * time.Second, FailAppPattern: regexp.MustCompile("^broken")})
			begin := h.clock.Now()
			job := h.deployDetached(tt.app)
			if job.Status != JobInProgress || job.BeginTime != begin.UnixMilli() || job.EndTime != 0 ||
				job.DeploymentName != tt.app || job.Name != "ADTR-"+job.ID || len(job.Targets) != 1 ||
				job.Targets[0].Type != "cluster" || job.Targets[0].Errors == nil {
				t.Fatalf("accepted job %+v", job)
			}
			if app, _ := h.sim.Application(tt.app); app.State != StateNew {
				t.Fatalf("state while running %s", app.State)
			}
			h.clock.Advance(time.Second)
			if j := decodeItem[Job](t, h.getJob(job.ID)); j.Status != JobInProgress {
				t.Fatalf("job finished early: %+v", j)
			}
			h.clock.Advance(time.Second)
			j := decodeItem[Job](t, h.getJob(job.ID))
			if j.Status != tt.wantStatus || j.EndTime != begin.Add(2*time.Second).UnixMilli() || j.Targets[0].Status != tt.wantStatus {
				t.Fatalf("finished job %+v", j)
			}
			if failed := tt.wantStatus == JobFailed; failed != (len(j.Targets[0].Errors) == 1) {
				t.Fatalf("target errors %q", j.Targets[0].Errors)
			}
			if app, _ := h.sim.Application(tt.app); app.State != tt.wantState {
				t.Fatalf("state %s, want %s", app.State, tt.wantState)
			}
			if got, ok := h.sim.Job(job.ID); !ok || got.Status != tt.wantStatus {
				t.Fatalf("Job(%s) = %+v, %v", job.ID, got, ok)
			}
			if st := h.sim.Stats(); st.PollsPerJob[job.ID] != 2 {
				t.Fatalf("Job() counted as a poll: %v", st.PollsPerJob)
			}
		})
	}
}

// TestJobLifecycleRealClock runs one job on the wall clock, polling a
// bounded number of times rather than asserting on elapsed time.
func TestJobLifecycleRealClock(t *testing.T) {
	sim := New(Options{JobDuration: 50 * time.Millisecond})
	defer sim.Close()
	h := &harness{t: t, sim: sim}
	job := h.deployDetached("orders")
	for attempt := 0; ; attempt++ {
		j := decodeItem[Job](t, h.getJob(job.ID))
		if j.Status == JobCompleted {
			break
		}
		if attempt == 200 {
			t.Fatalf("job still %q after %d polls", j.Status, attempt)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not synchronisation
	}
	if app, _ := sim.Application("orders"); app.State != StateActive {
		t.Fatalf("state %s", app.State)
	}
}

func TestJobExpiry(t *testing.T) {
	h := newHarness(t, Options{JobDuration: time.Second, JobTTL: time.Minute})
	job := h.deployDetached("a")
	h.getJob(job.ID)
	h.clock.Advance(time.Second + time.Minute - time.Millisecond)
	expectCode(t, h.getJob(job.ID), http.StatusOK)
	if st := h.sim.Stats(); st.JobsLive != 1 || st.PollsPerJob[job.ID] != 2 {
		t.Fatalf("before expiry: jobs %d polls %v", st.JobsLive, st.PollsPerJob)
	}
	h.clock.Advance(time.Millisecond)
	expectCode(t, h.getJob(job.ID), http.StatusNotFound)
	st := h.sim.Stats()
	if st.JobsLive != 0 || len(st.PollsPerJob) != 0 || st.MaxPollsPerJob != 2 || st.Applications != 1 {
		t.Fatalf("after expiry: %+v", st)
	}
}

// TestJobExpiryBoundsMemory checks that a long run keeps only the jobs
// within their TTL.
func TestJobExpiryBoundsMemory(t *testing.T) {
	h := newHarness(t, Options{JobDuration: time.Second, JobTTL: 10 * time.Second})
	for i := range 3000 {
		h.deployDetached("app-" + strconv.Itoa(i))
		h.clock.Advance(100 * time.Millisecond)
	}
	// Jobs of the last 11s (1s running + 10s kept) at 10 per second.
	if st := h.sim.Stats(); st.JobsLive > 111 || st.JobsLive < 100 {
		t.Fatalf("JobsLive %d, want about 110", st.JobsLive)
	}
}

func TestPollsPerJob(t *testing.T) {
	h := newHarness(t, Options{})
	a, b := h.deployDetached("a"), h.deployDetached("b")
	for range 3 {
		h.getJob(a.ID)
	}
	h.getJob(b.ID)
	h.getJob("404")
	st := h.sim.Stats()
	if st.PollsPerJob[a.ID] != 3 || st.PollsPerJob[b.ID] != 1 || len(st.PollsPerJob) != 2 || st.MaxPollsPerJob != 3 {
		t.Fatalf("PollsPerJob %v max %d", st.PollsPerJob, st.MaxPollsPerJob)
	}
	if st.RequestsByOp["getJob"] != 5 {
		t.Fatalf("getJob count %d", st.RequestsByOp["getJob"])
	}
}

func TestMaxConcurrentMutating(t *testing.T) {
	h := newHarness(t, Options{})
	h.deployDetached("a")
	// A redeploy while the deploy job runs: two in flight.
	rec := h.do("POST", "deployments/application/id/a/redeploy?__detached=true", map[string]any{"name": "a", "version": "2"})
	expectCode(t, rec, http.StatusAccepted)
	// A well-behaved client on b: one at a time.
	h.deployDetached("b")
	h.clock.Advance(time.Second)
	expectCode(t, h.do("DELETE", "deployments/application/id/b?__detached=true", nil), http.StatusAccepted)
	h.clock.Advance(time.Second)
	expectCode(t, h.do("DELETE", "deployments/application/id/a", nil), http.StatusOK)

	st := h.sim.Stats()
	if st.MaxConcurrentMutating["a"] != 2 || st.MaxConcurrentMutating["b"] != 1 || st.MaxConcurrentMutatingOverall != 2 {
		t.Fatalf("MaxConcurrentMutating %v overall %d", st.MaxConcurrentMutating, st.MaxConcurrentMutatingOverall)
	}
	// Nothing is left in flight once the jobs and answers are done.
	h.sim.ResetStats()
	if st := h.sim.Stats(); len(st.MaxConcurrentMutating) != 0 || st.MaxConcurrentMutatingOverall != 0 {
		t.Fatalf("after reset %v", st.MaxConcurrentMutating)
	}
}

func TestOlderJobDoesNotOverrideNewer(t *testing.T) {
	h := newHarness(t, Options{JobDuration: 2 * time.Second, FailAppPattern: regexp.MustCompile("^$")})
	h.deployDetached("a")
	h.clock.Advance(time.Second)
	expectCode(t, h.do("POST", "deployments/application/id/a/redeploy?__detached=true", map[string]any{"name": "a"}), http.StatusAccepted)
	h.clock.Advance(time.Second) // the deploy job ends; the redeploy runs on
	if app, _ := h.sim.Application("a"); app.State != StateNew {
		t.Fatalf("state %s, want %s until the redeploy ends", app.State, StateNew)
	}
	h.clock.Advance(time.Second)
	if app, _ := h.sim.Application("a"); app.State != StateActive {
		t.Fatalf("state %s", app.State)
	}
}

// TestConcurrentUse hammers one simulator from many goroutines, so the race
// detector sees every shared structure, and checks the books balance.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, Options{JobDuration: time.Second, JobTTL: 5 * time.Second})
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				name := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				job := h.deployDetached(name)
				h.getJob(job.ID)
				h.do("GET", "deployments/application", nil)
				h.clock.Advance(10 * time.Millisecond)
				h.do("DELETE", "deployments/application/id/"+name, nil)
				if i%10 == 0 {
					h.sim.SetFaults(Faults{})
					h.sim.Stats()
				}
			}
		})
	}
	wg.Wait()
	st := h.sim.Stats()
	if n := st.RequestsByOp["deploy"]; n != workers*perWorker {
		t.Fatalf("deploys counted %d", n)
	}
	// Each name gets a deploy job, then a synchronous undeploy that may
	// arrive while that job still runs: one or two in flight, never more.
	if len(st.MaxConcurrentMutating) != workers*perWorker {
		t.Fatalf("%d apps in MaxConcurrentMutating", len(st.MaxConcurrentMutating))
	}
	for name, n := range st.MaxConcurrentMutating {
		if n < 1 || n > 2 {
			t.Fatalf("MaxConcurrentMutating[%s] = %d", name, n)
		}
	}
	h.clock.Advance(time.Minute)
	if st := h.sim.Stats(); st.JobsLive != 0 || st.Applications != 0 {
		t.Fatalf("left over: %d jobs, %d apps", st.JobsLive, st.Applications)
	}
}
