package simulator

import (
	"maps"
	"strconv"
)

// Stats is a snapshot of what the simulator saw, for tests that check how a
// client behaves (GET /_sim/stats serves it as JSON).
type Stats struct {
	// Requests counts API requests by "METHOD CODE", e.g. "POST 202".
	// A dropped connection counts as "METHOD reset", and a request whose
	// client left during injected latency as "METHOD canceled".
	Requests map[string]int `json:"requests"`
	// RequestsByOp counts API requests by operation: getApp, listApps,
	// deploy, redeploy, undeploy, getJob, listJobs, and other for paths and
	// methods that match none. Faulted requests count too.
	RequestsByOp map[string]int `json:"requestsByOp"`
	// DeploysAccepted counts, per application, deploys answered 200, 201
	// or 202.
	DeploysAccepted map[string]int `json:"deploysAccepted"`
	// DuplicateDeploys counts deploys of a name that already existed
	// (answered 400 "application <name> is already deployed").
	DuplicateDeploys int `json:"duplicateDeploys"`
	// DuplicateDeploysByApp is DuplicateDeploys per application.
	DuplicateDeploysByApp map[string]int `json:"duplicateDeploysByApp"`
	// MaxConcurrentMutating is, per application, the most mutating
	// operations (deploy, redeploy, undeploy) in flight at once. One is in
	// flight from the moment its request names the application until its
	// job finishes, or until its synchronous answer is sent (with
	// Options.MutationDelay or ProxyTimeout: until it is processed, which
	// may be after a 504 or after the client left).
	MaxConcurrentMutating map[string]int `json:"maxConcurrentMutating"`
	// MaxConcurrentMutatingOverall is the largest MaxConcurrentMutating.
	MaxConcurrentMutatingOverall int `json:"maxConcurrentMutatingOverall"`
	// OverlappingMutating counts mutating requests (deploy, redeploy,
	// undeploy) that arrived for an application while another mutating
	// request or a job was already in flight for it, whatever their answer.
	// The operator promises at most one call in flight per application,
	// so against it this stays 0.
	OverlappingMutating int `json:"overlappingMutating"`
	// OverlappingMutatingByApp is OverlappingMutating per application.
	OverlappingMutatingByApp map[string]int `json:"overlappingMutatingByApp"`
	// PollsPerJob counts GETs of each job that is still kept; an entry goes
	// with its job when the job expires, so memory stays bounded.
	PollsPerJob map[string]int `json:"pollsPerJob"`
	// MaxPollsPerJob is the most GETs any one job received, expired or not.
	MaxPollsPerJob int `json:"maxPollsPerJob"`
	// FaultsInjected counts answers replaced by an injected error or by
	// downtime.
	FaultsInjected int `json:"faultsInjected"`
	// ConnectionResets counts connections dropped by Faults.ResetEveryN.
	ConnectionResets int `json:"connectionResets"`
	// ProxyTimeouts counts answers replaced by the proxy's 504
	// (Options.ProxyTimeout) while the server went on with the call.
	ProxyTimeouts int `json:"proxyTimeouts"`
	// Applications is the number of stored applications.
	Applications int `json:"applications"`
	// JobsLive is the number of jobs kept in memory (running, or finished
	// and not yet expired).
	JobsLive int `json:"jobsLive"`
}

// Operation names used as RequestsByOp keys.
const (
	opGetApp   = "getApp"
	opListApps = "listApps"
	opDeploy   = "deploy"
	opRedeploy = "redeploy"
	opUndeploy = "undeploy"
	opGetJob   = "getJob"
	opListJobs = "listJobs"
	opOther    = "other"
)

// statsState holds the counters behind Stats. Guarded by Server.mu.
type statsState struct {
	requests             map[string]int
	byOp                 map[string]int
	deploysAccepted      map[string]int
	duplicates           int
	duplicatesByApp      map[string]int
	maxConcurrent        map[string]int
	maxConcurrentOverall int
	overlapping          int
	overlappingByApp     map[string]int
	polls                map[string]int
	maxPolls             int
	faults               int
	resets               int
	proxyTimeouts        int
}

func newStats() statsState {
	return statsState{
		requests:         make(map[string]int),
		byOp:             make(map[string]int),
		deploysAccepted:  make(map[string]int),
		duplicatesByApp:  make(map[string]int),
		maxConcurrent:    make(map[string]int),
		overlappingByApp: make(map[string]int),
		polls:            make(map[string]int),
	}
}

// Stats returns a snapshot of the counters. It first advances jobs, so
// JobsLive and Applications reflect the clock.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	st := &s.stats
	return Stats{
		Requests:                     maps.Clone(st.requests),
		RequestsByOp:                 maps.Clone(st.byOp),
		DeploysAccepted:              maps.Clone(st.deploysAccepted),
		DuplicateDeploys:             st.duplicates,
		DuplicateDeploysByApp:        maps.Clone(st.duplicatesByApp),
		MaxConcurrentMutating:        maps.Clone(st.maxConcurrent),
		MaxConcurrentMutatingOverall: st.maxConcurrentOverall,
		OverlappingMutating:          st.overlapping,
		OverlappingMutatingByApp:     maps.Clone(st.overlappingByApp),
		PollsPerJob:                  maps.Clone(st.polls),
		MaxPollsPerJob:               st.maxPolls,
		FaultsInjected:               st.faults,
		ConnectionResets:             st.resets,
		ProxyTimeouts:                st.proxyTimeouts,
		Applications:                 len(s.store.apps),
		JobsLive:                     len(s.store.jobs),
	}
}

// ResetStats zeroes the counters. The concurrency high-water marks restart
// from the operations in flight now, so they stay true.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
	for name, n := range s.store.inflight {
		s.stats.maxConcurrent[name] = n
		s.stats.maxConcurrentOverall = max(s.stats.maxConcurrentOverall, n)
	}
}

// countRequest records one finished API request.
func (s *Server) countRequest(method, op, outcome string, fault faultKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.requests[method+" "+outcome]++
	s.stats.byOp[op]++
	switch fault {
	case faultDown, faultError:
		s.stats.faults++
	case faultReset:
		s.stats.resets++
	}
}

// countPoll records one GET of a kept job. Caller holds s.mu.
func (s *Server) countPoll(id string) {
	n := s.stats.polls[id] + 1
	s.stats.polls[id] = n
	s.stats.maxPolls = max(s.stats.maxPolls, n)
}

// Outcome labels for requests that got no status code.
const (
	outcomeReset    = "reset"
	outcomeCanceled = "canceled"
)

func codeLabel(code int) string {
	if code == 0 {
		code = 200
	}
	return strconv.Itoa(code)
}
