package simulator

import (
	"strconv"
	"strings"
	"time"
)

// The store holds applications and jobs behind Server.mu. Jobs advance
// lazily: every access first calls advance, which finishes the jobs whose
// time has come and forgets the ones past their TTL. Because every job
// lasts the same JobDuration, jobs finish in the order they were created,
// and expire in the order they finished; two FIFO queues therefore make
// advance O(1) amortised per request, with no timers and no goroutines.

// appRecord is a stored application and the newest job that changes it, so
// an older job that finishes late cannot overwrite a newer outcome.
type appRecord struct {
	app     Application
	lastJob string
}

// jobRecord is a stored job with its schedule.
type jobRecord struct {
	job      Job
	doneAt   time.Time
	expireAt time.Time
	fail     bool
	// pending is the redeploy an in-place swap server (Options.
	// RedeployInPlace) applies only when the job completes; nil otherwise.
	pending *appRequest
}

// jobQueue is a FIFO of jobs that reuses its backing array.
type jobQueue struct {
	items []*jobRecord
	head  int
}

func (q *jobQueue) push(j *jobRecord) { q.items = append(q.items, j) }

func (q *jobQueue) front() *jobRecord {
	if q.head == len(q.items) {
		return nil
	}
	return q.items[q.head]
}

func (q *jobQueue) pop() {
	q.items[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.items):
		// Compact once the dead prefix dominates, so the array does not
		// grow for ever under steady traffic.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

func (q *jobQueue) each(fn func(*jobRecord)) {
	for _, j := range q.items[q.head:] {
		fn(j)
	}
}

// store is the simulated server's data. Guarded by Server.mu.
type store struct {
	apps     map[string]*appRecord
	jobs     map[string]*jobRecord
	running  jobQueue
	finished jobQueue
	nextID   int
	// inflight counts, per application, the mutating requests being
	// handled plus the jobs still in progress.
	inflight map[string]int
}

func newStore() store {
	return store{
		apps:     make(map[string]*appRecord),
		jobs:     make(map[string]*jobRecord),
		inflight: make(map[string]int),
	}
}

// advance finishes due jobs and drops expired ones. Caller holds s.mu.
func (s *Server) advance(now time.Time) {
	st := &s.store
	for j := st.running.front(); j != nil && !now.Before(j.doneAt); j = st.running.front() {
		st.running.pop()
		s.finishJob(j)
	}
	for j := st.finished.front(); j != nil && !now.Before(j.expireAt); j = st.finished.front() {
		st.finished.pop()
		delete(st.jobs, j.job.ID)
		delete(s.stats.polls, j.job.ID)
	}
}

// finishJob ends a job at its scheduled time and applies its outcome to
// the application, unless a newer job or an out-of-band change took over.
func (s *Server) finishJob(j *jobRecord) {
	st := &s.store
	status := JobCompleted
	if j.fail {
		status = JobFailed
		j.job.Description = strings.TrimSuffix(j.job.Description, ".") + " failed."
	}
	j.job.Status = status
	j.job.EndTime = j.doneAt.UnixMilli()
	for i := range j.job.Targets {
		t := &j.job.Targets[i]
		t.Status = status
		if j.fail {
			t.Errors = append(t.Errors, failureMessage(j.job.Operation, j.job.DeploymentName, t.Name))
		}
	}
	name := j.job.DeploymentName
	if rec, ok := st.apps[name]; ok && rec.lastJob == j.job.ID {
		switch {
		case j.job.Operation == OpRemove:
			delete(st.apps, name)
		case j.fail:
			rec.app.State = StateFailed
		default:
			if j.pending != nil {
				j.pending.apply(&rec.app)
			}
			rec.app.State = StateActive
		}
	}
	// A superseded swap is dropped with its job, and the request's memory
	// need not wait for the job's expiry.
	j.pending = nil
	s.endMutating(name)
	j.expireAt = j.doneAt.Add(s.opts.JobTTL)
	st.finished.push(j)
}

func failureMessage(op, app, target string) string {
	return `[Deployer:149193]Operation "` + op + `" on application "` + app +
		`" has failed on "` + target + `": simulated failure (the name matches the fail pattern).`
}

// newJob starts a job for op on app and makes it the app's newest job. The
// job takes over the in-flight slot of the request that created it, and
// gives it back when it finishes. A non-nil pending is a redeploy applied
// only when the job completes (an in-place swap); the job already works on
// its targets. Caller holds s.mu.
func (s *Server) newJob(op string, rec *appRecord, now time.Time, pending *appRequest) *jobRecord {
	st := &s.store
	st.nextID++
	id := strconv.Itoa(st.nextID)
	app := &rec.app
	names := app.Targets
	if pending != nil && pending.Targets != nil {
		names = *pending.Targets
	}
	targets := make([]JobTarget, len(names))
	for i, t := range names {
		targets[i] = JobTarget{Name: t, Type: targetType(t), Status: JobInProgress, Errors: []string{}}
	}
	j := &jobRecord{
		job: Job{
			ID:             id,
			Name:           "ADTR-" + id,
			Operation:      op,
			DeploymentName: app.Name,
			Status:         JobInProgress,
			BeginTime:      now.UnixMilli(),
			Description:    "[Deployer:149026]" + op + " application " + app.Name + " on " + strings.Join(names, ", ") + ".",
			Targets:        targets,
		},
		doneAt:  s.jobEnd(now),
		fail:    op != OpRemove && s.shouldFail(app.Name),
		pending: pending,
	}
	st.jobs[id] = j
	st.running.push(j)
	rec.lastJob = id
	return j
}

// targetType guesses a target's kind from its name, as WebLogic names its
// clusters "cluster…" and everything else is a server.
func targetType(name string) string {
	if strings.HasPrefix(strings.ToLower(name), "cluster") {
		return "cluster"
	}
	return "server"
}

// cloneJob deep-copies a job so it can leave the lock or be encoded while
// another request finishes it.
func cloneJob(j Job) Job {
	ts := make([]JobTarget, len(j.Targets))
	for i, t := range j.Targets {
		t.Errors = append([]string{}, t.Errors...)
		ts[i] = t
	}
	j.Targets = ts
	return j
}

// beginMutating marks one more mutating operation in flight for name,
// records the new high-water mark, and counts the arrival as an overlap
// when another operation was already in flight. Caller holds s.mu.
func (s *Server) beginMutating(name string) {
	n := s.store.inflight[name] + 1
	s.store.inflight[name] = n
	if n > 1 {
		s.stats.overlapping++
		s.stats.overlappingByApp[name]++
	}
	if n > s.stats.maxConcurrent[name] {
		s.stats.maxConcurrent[name] = n
	}
	if n > s.stats.maxConcurrentOverall {
		s.stats.maxConcurrentOverall = n
	}
}

// endMutating ends one mutating operation for name. Caller holds s.mu.
func (s *Server) endMutating(name string) {
	if n := s.store.inflight[name] - 1; n > 0 {
		s.store.inflight[name] = n
	} else {
		delete(s.store.inflight, name)
	}
}

// jobEnd is when a job created now finishes. All jobs last the same, so
// they finish in creation order (the running queue relies on it).
func (s *Server) jobEnd(now time.Time) time.Time {
	if s.opts.JobDoneAtAcceptance {
		return now
	}
	return now.Add(s.opts.JobDuration)
}
