package simulator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// fakeTimers replaces Server.newTimer so a test fires the slow path's
// delays by hand, in order, instead of sleeping.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	d    time.Duration
	c    chan time.Time
	done bool // fired or stopped
}

func (f *fakeTimers) newTimer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := &fakeTimer{d: d, c: make(chan time.Time, 1)}
	f.timers = append(f.timers, ft)
	return ft.c, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		was := !ft.done
		ft.done = true
		return was
	}
}

// armed counts the timers of d neither fired nor stopped.
func (f *fakeTimers) armed(d time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ft := range f.timers {
		if ft.d == d && !ft.done {
			n++
		}
	}
	return n
}

// fire fires the oldest armed timer of d.
func (f *fakeTimers) fire(t *testing.T, d time.Duration) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.timers {
		if ft.d == d && !ft.done {
			ft.done = true
			ft.c <- time.Time{}
			return
		}
	}
	t.Fatalf("no armed %v timer", d)
}

// newSlowG is NewWithT with room for a loaded machine: Eventually here
// only waits for goroutines the test has already released.
func newSlowG(t *testing.T) *WithT {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(10 * time.Second)
	return g
}

// newSlowHarness is a harness whose slow-path timers the test fires.
func newSlowHarness(t *testing.T, opts Options) (*harness, *fakeTimers) {
	h := newHarness(t, opts)
	ft := &fakeTimers{}
	h.sim.newTimer = ft.newTimer
	return h, ft
}

// doAsync sends a request from another goroutine; the recorder arrives on
// the channel once the handler returns.
func (h *harness) doAsync(r *http.Request) <-chan *httptest.ResponseRecorder {
	ch := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.sim.Handler().ServeHTTP(rec, r)
		ch <- rec
	}()
	return ch
}

func TestSlowMutation(t *testing.T) {
	const (
		short = time.Second
		long  = time.Minute
	)
	tests := []struct {
		name      string
		delay     time.Duration
		proxy     time.Duration
		leave     bool          // the client goes away before anything fires
		fireFirst time.Duration // else this timer fires first
		wantCode  int           // 0: no answer written
		wantCount string
		want504s  int
	}{
		{name: "processed before the proxy gives up", delay: short, proxy: long, fireFirst: short,
			wantCode: http.StatusAccepted, wantCount: "POST 202"},
		{name: "no proxy", delay: short, fireFirst: short, wantCode: http.StatusAccepted, wantCount: "POST 202"},
		{name: "proxy answers 504, server goes on", delay: long, proxy: short, fireFirst: short,
			wantCode: http.StatusGatewayTimeout, wantCount: "POST 504", want504s: 1},
		{name: "client leaves, server goes on", delay: short, proxy: long, leave: true, wantCount: "POST canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newSlowG(t)
			h, ft := newSlowHarness(t, Options{MutationDelay: tt.delay, ProxyTimeout: tt.proxy})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			answer := h.doAsync(h.newRequest("POST", "deployments/application?__detached=true", deployBody("a")).WithContext(ctx))

			g.Eventually(func() int { return ft.armed(tt.delay) }).Should(Equal(1))
			if tt.proxy > 0 {
				g.Eventually(func() int { return ft.armed(tt.proxy) }).Should(Equal(1))
			}
			// In flight from its arrival, but neither processed nor answered.
			g.Expect(h.sim.Stats().MaxConcurrentMutating).To(Equal(map[string]int{"a": 1}))
			g.Expect(h.view("a")).To(BeNil())
			g.Expect(answer).NotTo(Receive())

			if tt.leave {
				cancel()
			} else {
				ft.fire(t, tt.fireFirst)
			}
			var rec *httptest.ResponseRecorder
			g.Eventually(answer).Should(Receive(&rec))
			if tt.wantCode == 0 {
				g.Expect(rec.Body.Len()).To(BeZero())
			} else {
				expectCode(t, rec, tt.wantCode)
			}
			if tt.wantCode == http.StatusGatewayTimeout {
				g.Expect(rec.Header().Get("Content-Type")).To(Equal("text/html"))
				g.Expect(rec.Body.String()).To(Equal(proxyTimeoutPage))
				g.Expect(rec.Body.String()).To(ContainSubstring("<h1>504 Gateway Time-out</h1>"))
			}
			if tt.wantCode != http.StatusAccepted {
				// The answer is gone, the call is not: still unprocessed
				// and in flight until its delay ends.
				g.Expect(h.view("a")).To(BeNil())
				ft.fire(t, tt.delay)
			}
			h.sim.detached.Wait()

			g.Expect(h.view("a")).NotTo(BeNil())
			g.Expect(h.view("a").State).To(Equal(StateNew))
			st := h.sim.Stats()
			g.Expect(st.Requests).To(Equal(map[string]int{tt.wantCount: 1}))
			g.Expect(st.ProxyTimeouts).To(Equal(tt.want504s))
			g.Expect(st.DeploysAccepted).To(Equal(map[string]int{"a": 1}))
			g.Expect(st.JobsLive).To(Equal(1))
			g.Expect(ft.armed(tt.delay)+ft.armed(tt.proxy)).To(BeZero(), "timers left armed")
		})
	}
}

// TestSlowMutationOverlap shows why the in-flight count starts at the
// arrival: a client that retries after a 504 sends a second deploy while
// the first is still being processed.
func TestSlowMutationOverlap(t *testing.T) {
	g := newSlowG(t)
	const delay, proxy = time.Minute, time.Second
	h, ft := newSlowHarness(t, Options{MutationDelay: delay, ProxyTimeout: proxy})
	deploy := func() *httptest.ResponseRecorder {
		answer := h.doAsync(h.newRequest("POST", "deployments/application?__detached=true", deployBody("a")))
		g.Eventually(func() int { return ft.armed(proxy) }).Should(Equal(1))
		ft.fire(t, proxy)
		var rec *httptest.ResponseRecorder
		g.Eventually(answer).Should(Receive(&rec))
		return rec
	}
	expectCode(t, deploy(), http.StatusGatewayTimeout)
	expectCode(t, deploy(), http.StatusGatewayTimeout)

	st := h.sim.Stats()
	g.Expect(st.OverlappingMutating).To(Equal(1))
	g.Expect(st.OverlappingMutatingByApp).To(Equal(map[string]int{"a": 1}))
	g.Expect(st.MaxConcurrentMutating).To(Equal(map[string]int{"a": 2}))
	g.Expect(st.Applications).To(BeZero())

	ft.fire(t, delay) // the first deploy lands
	ft.fire(t, delay) // the retry is a duplicate
	h.sim.detached.Wait()
	st = h.sim.Stats()
	g.Expect(st.DeploysAccepted).To(Equal(map[string]int{"a": 1}))
	g.Expect(st.DuplicateDeploys).To(Equal(1))
	g.Expect(st.ProxyTimeouts).To(Equal(2))
	g.Expect(st.Requests).To(Equal(map[string]int{"POST 504": 2}))

	// The duplicate's slot ended with its processing, the job's with the
	// job: a redeploy now overlaps only the running job.
	expectCodeAsync(t, h, ft, delay, h.newRequest("POST", "deployments/application/id/a/redeploy?__detached=true", redeployBody("a", "2.0")), http.StatusAccepted)
	g.Expect(h.sim.Stats().MaxConcurrentMutating).To(Equal(map[string]int{"a": 2}))
	g.Expect(h.sim.Stats().OverlappingMutating).To(Equal(2))
}

// expectCodeAsync sends r, fires its delay and checks the answer.
func expectCodeAsync(t *testing.T, h *harness, ft *fakeTimers, delay time.Duration, r *http.Request, want int) {
	t.Helper()
	g := newSlowG(t)
	answer := h.doAsync(r)
	g.Eventually(func() int { return ft.armed(delay) }).Should(Equal(1))
	ft.fire(t, delay)
	var rec *httptest.ResponseRecorder
	g.Eventually(answer).Should(Receive(&rec))
	expectCode(t, rec, want)
}

// TestSlowMutationValidatesAtOnce checks that what needs no stored state
// is answered without the delay, and does not count as in flight.
func TestSlowMutationValidatesAtOnce(t *testing.T) {
	tests := []struct {
		name string
		path string
		body any
	}{
		{name: "bad JSON", path: "deployments/application?__detached=true", body: "{"},
		{name: "missing name", path: "deployments/application?__detached=true", body: map[string]any{"deploymentPath": "/a.war"}},
		{name: "bad __detached", path: "deployments/application/id/a/redeploy?__detached=maybe", body: redeployBody("a", "2.0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newSlowG(t)
			h, ft := newSlowHarness(t, Options{MutationDelay: time.Hour, ProxyTimeout: time.Minute})
			expectCode(t, h.do("POST", tt.path, tt.body), http.StatusBadRequest)
			g.Expect(ft.armed(time.Hour)).To(BeZero())
			g.Expect(h.sim.Stats().MaxConcurrentMutating).To(BeEmpty())
		})
	}
}

// TestProxyTimeoutOverHTTP runs the 504 on real timers through a real
// connection, and checks that Close processes the pending call at once and
// waits for it.
func TestProxyTimeoutOverHTTP(t *testing.T) {
	g := NewWithT(t)
	sim := New(Options{MutationDelay: time.Hour, ProxyTimeout: 20 * time.Millisecond})
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	send := func(method, path, body string) (int, string, string) {
		req, err := http.NewRequest(method, srv.URL+sim.BasePath()+path, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Requested-By", "test")
		req.SetBasicAuth("admin", "admin")
		resp, err := srv.Client().Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		g.Expect(err).NotTo(HaveOccurred())
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	code, ctype, body := send("POST", "deployments/application?__detached=true", `{"name":"a","deploymentPath":"/a.war","targets":["c1"]}`)
	g.Expect(code).To(Equal(http.StatusGatewayTimeout))
	g.Expect(ctype).To(Equal("text/html"))
	g.Expect(body).To(Equal(proxyTimeoutPage))
	_, ok := sim.Application("a")
	g.Expect(ok).To(BeFalse(), "processed before MutationDelay")

	sim.Close()
	app, ok := sim.Application("a")
	g.Expect(ok).To(BeTrue(), "Close did not process the pending deploy")
	g.Expect(app.State).To(Equal(StateNew))
	st := sim.Stats()
	g.Expect(st.ProxyTimeouts).To(Equal(1))
	g.Expect(st.Requests).To(Equal(map[string]int{"POST 504": 1}))

	// A closed server processes mutations at once.
	code, _, _ = send("DELETE", "deployments/application/id/a?__detached=false", "")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(sim.Stats().Applications).To(BeZero())
}

func TestValidateSlowOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "zero", opts: Options{}},
		{name: "both set", opts: Options{MutationDelay: time.Second, ProxyTimeout: time.Second, RedeployInPlace: true}},
		{name: "negative delay", opts: Options{MutationDelay: -time.Second}, wantErr: true},
		{name: "negative proxy timeout", opts: Options{ProxyTimeout: -time.Nanosecond}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			if tt.wantErr {
				g.Expect(tt.opts.Validate()).To(HaveOccurred())
			} else {
				g.Expect(tt.opts.Validate()).To(Succeed())
			}
		})
	}
}
