package simulator

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a simulated database REST API. All its methods are safe for
// concurrent use.
type Server struct {
	opts   Options
	base   string            // BasePath with a leading and a trailing "/"
	now    func() time.Time  // Options.Clock
	tokens map[string]string // bearer token to user name
	mux    http.Handler

	faultMu  sync.Mutex
	faults   Faults
	faultSeq int
	rng      *rand.Rand

	// mu guards store and stats. One lock suffices: each request does O(1)
	// work under it, and responses are written after it is released.
	mu    sync.Mutex
	store store
	stats statsState

	// failPattern is Options.FailAppPattern, replaceable at run time.
	failPattern atomic.Pointer[regexp.Regexp]

	// newTimer starts the timers of the slow path; tests replace it.
	newTimer timerFunc
	// detached tracks the slow path's processing goroutines, so Close can
	// wait for them; detachMu and detachClosed keep Add from racing Wait.
	detached     sync.WaitGroup
	detachMu     sync.Mutex
	detachClosed bool

	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// DefaultBasePath is where the API is mounted unless Options.BasePath says
// otherwise.
const DefaultBasePath = "/management/wls/latest/"

// New builds a simulator with defaults applied to opts. It panics if
// opts.Validate fails, as a misconfigured test double would only mislead.
// Call Close when done, to stop the background pruning of expired jobs.
func New(opts Options) *Server {
	if err := opts.Validate(); err != nil {
		panic("simulator: " + err.Error())
	}
	opts = withDefaults(opts)
	s := &Server{
		opts:     opts,
		base:     opts.BasePath,
		now:      opts.Clock,
		tokens:   make(map[string]string),
		store:    newStore(),
		stats:    newStats(),
		newTimer: realTimer,
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	s.failPattern.Store(opts.FailAppPattern)
	for name, u := range opts.Users {
		if u.Token != "" {
			s.tokens[u.Token] = name
		}
	}
	s.SetFaults(opts.Faults)
	s.mux = s.newMux()
	go s.prune(pruneInterval(opts.JobTTL))
	return s
}

func withDefaults(o Options) Options {
	o.BasePath = normalizeBase(o.BasePath)
	if len(o.Users) == 0 {
		o.Users = map[string]User{"admin": {Password: "admin", Token: "admin-token"}}
	}
	if o.JobDuration == 0 {
		o.JobDuration = 2 * time.Second
	}
	if o.JobTTL == 0 {
		o.JobTTL = 10 * time.Minute
	}
	if o.Location == "" {
		o.Location = LocationAbsolute
	}
	if o.RetryAfter == "" {
		o.RetryAfter = RetryAfterNone
	}
	if o.RetryAfterValue == 0 {
		o.RetryAfterValue = time.Second
	}
	if o.SyncCreateCode == 0 {
		o.SyncCreateCode = http.StatusCreated
	}
	if o.DeleteCode == 0 {
		o.DeleteCode = http.StatusOK
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

func normalizeBase(p string) string {
	if p == "" {
		return DefaultBasePath
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// pruneInterval picks how often idle memory is released: requests already
// prune as they come, so this only matters for a quiet server.
func pruneInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/2, 100*time.Millisecond), 30*time.Second)
}

func (s *Server) prune(every time.Duration) {
	defer close(s.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.advance(s.now())
			s.mu.Unlock()
		}
	}
}

// Close stops the background pruning goroutine. Mutations still waiting
// out Options.MutationDelay are processed at once, and Close waits for
// them, so no goroutine outlives it. The handler keeps working afterwards
// (it prunes as requests come, and processes mutations without delay);
// Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.detachMu.Lock()
		s.detachClosed = true
		s.detachMu.Unlock()
		s.detached.Wait()
		<-s.stopped
	})
}

// Handler serves the API under Options.BasePath and the admin endpoints
// under /_sim/.
func (s *Server) Handler() http.Handler { return s.mux }

// BasePath is the normalized path the API is mounted on.
func (s *Server) BasePath() string { return s.base }

func (s *Server) newMux() http.Handler {
	admin := s.adminMux()
	api := http.HandlerFunc(s.serveAPI)
	// Dispatch by prefix rather than through ServeMux patterns, because
	// ServeMux would clean and redirect odd API paths that a real server
	// answers with 404.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, adminPrefix) {
			admin.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// route is what a request path and method address.
type route struct {
	op      string // RequestsByOp key
	inAPI   bool   // the path is under BasePath
	allowed string // for a known path with the wrong method: its methods
	name    string // application name or job id from the path
}

// route resolves the request without allocating for the known paths.
func (s *Server) route(r *http.Request) route {
	path := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(path, s.base)
	if !ok {
		return route{op: opOther}
	}
	rt := route{op: opOther, inAPI: true}
	rest = strings.TrimSuffix(rest, "/")
	kind, arg, tail := splitRoute(rest)
	var byMethod map[string]string
	switch {
	case kind == "deployments/application" && arg == "" && !tail:
		byMethod = appsCollection
	case kind == "deployments/application" && arg != "" && !tail:
		byMethod = appsItem
	case kind == "deployments/application/redeploy" && arg != "":
		byMethod = appsRedeploy
	case kind == "jobs/deployment" && arg == "" && !tail:
		byMethod = jobsCollection
	case kind == "jobs/deployment" && arg != "" && !tail:
		byMethod = jobsItem
	default:
		return rt
	}
	if op, ok := byMethod[r.Method]; ok {
		rt.op = op
	} else {
		rt.allowed = byMethod[allowKey]
	}
	rt.name = arg
	return rt
}

// allowKey holds the Allow header value in the method tables.
const allowKey = ""

var (
	appsCollection = map[string]string{http.MethodGet: opListApps, http.MethodPost: opDeploy, allowKey: "GET, POST"}
	appsItem       = map[string]string{http.MethodGet: opGetApp, http.MethodDelete: opUndeploy, allowKey: "GET, DELETE"}
	appsRedeploy   = map[string]string{http.MethodPost: opRedeploy, allowKey: "POST"}
	jobsCollection = map[string]string{http.MethodGet: opListJobs, allowKey: "GET"}
	jobsItem       = map[string]string{http.MethodGet: opGetJob, allowKey: "GET"}
)

// splitRoute splits "a/b/id/X[/c]" into ("a/b[/c]", unescaped X, false)
// and "a/b" into ("a/b", "", false); tail reports segments left over.
func splitRoute(rest string) (kind, arg string, tail bool) {
	before, after, found := strings.Cut(rest, "/id/")
	if !found {
		return rest, "", false
	}
	raw, suffix, hasSuffix := strings.Cut(after, "/")
	arg, err := unescapeSegment(raw)
	if err != nil || arg == "" {
		return "", "", true
	}
	switch {
	case !hasSuffix:
		return before, arg, false
	case suffix == "redeploy":
		return before + "/redeploy", arg, false
	default:
		return before, arg, true
	}
}

// unescapeSegment decodes one path segment; the common case has no escape
// and costs nothing.
func unescapeSegment(seg string) (string, error) {
	if !strings.Contains(seg, "%") {
		return seg, nil
	}
	return url.PathUnescape(seg)
}

// SetFailAppPattern replaces Options.FailAppPattern at run time; nil makes
// no job fail. Jobs already running keep the outcome they were given.
func (s *Server) SetFailAppPattern(re *regexp.Regexp) { s.failPattern.Store(re) }

// shouldFail says whether a deploy or redeploy of name fails.
func (s *Server) shouldFail(name string) bool {
	re := s.failPattern.Load()
	return re != nil && re.MatchString(name)
}
