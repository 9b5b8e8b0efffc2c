package restapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingServer holds every request until the client gives up or the test
// ends; arrived receives one value per request.
func blockingServer(t *testing.T, writeHeader bool) (*httptest.Server, chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 100)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if writeHeader {
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"item":`))
			w.(http.Flusher).Flush()
		}
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv, arrived
}

func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

func TestTransportErrors(t *testing.T) {
	resetRec := &recorder{}
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resetRec.add(r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST rather than FIN
			}
			_ = conn.Close()
		}
	}))
	defer reset.Close()
	slowHeaders, _ := blockingServer(t, false)
	slowBody, _ := blockingServer(t, true)
	refused := closedPortURL(t)
	fast := func(c *Config) { c.RequestTimeout = 100 * time.Millisecond }

	cases := []struct {
		name           string
		url            string
		mutating       bool
		outcomeUnknown bool
		timeout        bool
	}{
		{"refused GET", refused, false, false, false},
		{"refused POST is known not sent", refused, true, false, false},
		{"reset GET", reset.URL, false, false, false},
		{"reset POST leaves the outcome unknown", reset.URL, true, true, false},
		{"no answer before time-out", slowHeaders.URL, true, true, true},
		{"body slower than the time-out", slowBody.URL, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs := &fakeObserver{}
			c := newTestClient(t, tc.url, fast, func(c *Config) { c.Observer = obs })
			var err error
			if tc.mutating {
				_, err = c.Deploy(context.Background(), ordersSpec)
			} else {
				_, err = c.GetApplication(context.Background(), "orders")
			}
			var te *TransportError
			if !errors.As(err, &te) {
				t.Fatalf("got %T %v", err, err)
			}
			if te.Mutating != tc.mutating || te.OutcomeUnknown() != tc.outcomeUnknown || te.Timeout != tc.timeout {
				t.Errorf("Mutating %v OutcomeUnknown %v Timeout %v: %v", te.Mutating, te.OutcomeUnknown(), te.Timeout, err)
			}
			if !IsRetryable(err) || StatusCode(err) != 0 || te.TLS {
				t.Errorf("retryable %v code %d TLS %v", IsRetryable(err), StatusCode(err), te.TLS)
			}
			if o := obs.all(); len(o) != 1 || (o[0].code != 0 && o[0].code != 200) {
				t.Errorf("observations %+v", o)
			}
			noSecrets(t, "error", err.Error())
		})
	}
	// The client never retries a POST on its own.
	posts := 0
	resetRec.mu.Lock()
	defer resetRec.mu.Unlock()
	for _, r := range resetRec.reqs {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("the reset server saw %d POSTs, want 1", posts)
	}
}

func TestCallerCancellation(t *testing.T) {
	srv, arrived := blockingServer(t, false)
	c := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Undeploy(ctx, "orders")
	var te *TransportError
	if !errors.As(err, &te) || !errors.Is(err, context.Canceled) || !te.OutcomeUnknown() || te.Timeout {
		t.Fatalf("got %T %v", err, err)
	}
	// An already cancelled context sends nothing.
	obs := &fakeObserver{}
	c2 := newTestClient(t, srv.URL, func(c *Config) { c.Observer = obs })
	_, err = c2.Deploy(ctx, ordersSpec)
	if !errors.As(err, &te) || te.OutcomeUnknown() || !te.NotSent || len(obs.all()) != 0 {
		t.Fatalf("got %T %v, observations %v", err, err, obs.all())
	}
}

func TestConcurrencyLimit(t *testing.T) {
	const limit, callers = 3, 12
	var inFlight, maxInFlight atomic.Int32
	arrived := make(chan struct{}, callers+1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		inFlight.Add(-1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseAll() // also on a failed assertion, so Close does not hang
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxConcurrentRequests = limit })

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := c.Undeploy(context.Background(), "orders")
			errs <- err
		})
	}
	for range limit {
		<-arrived
	}
	// With the slots full, a caller whose context ends gives up waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := c.Deploy(ctx, ordersSpec)
	cancel()
	var te *TransportError
	if !errors.As(err, &te) || !te.NotSent || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a slot: got %T %v", err, err)
	}
	if n := inFlight.Load(); n != limit {
		releaseAll()
		wg.Wait()
		t.Fatalf("%d requests in flight with the slots full, want %d", n, limit)
	}
	releaseAll()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m := maxInFlight.Load(); m != limit {
		t.Fatalf("max in flight %d, want %d", m, limit)
	}
}

func TestObserverSeesEveryRequest(t *testing.T) {
	srv, _ := cannedServer(t, wire{404, nil, ""})
	obs := &fakeObserver{}
	c := newTestClient(t, srv.URL, func(c *Config) { c.Observer = obs })
	ctx := context.Background()
	_, _ = c.GetApplication(ctx, "a")
	_, _ = c.ListApplications(ctx)
	_, _ = c.Deploy(ctx, ordersSpec)
	_, _ = c.Redeploy(ctx, ordersSpec)
	_, _ = c.Undeploy(ctx, "a")
	_, _ = c.GetJob(ctx, srv.URL+"/j")
	_, _ = c.GetJob(ctx, "http://other.example/j") // refused: no request, no observation
	_, _ = c.ListJobs(ctx)
	_ = c.Probe(ctx)
	want := []observation{{OpGetApplication, 404}, {OpListApplications, 404}, {OpDeploy, 404}, {OpRedeploy, 404},
		{OpUndeploy, 404}, {OpGetJob, 404}, {OpListJobs, 404}, {OpProbe, 404}}
	got := obs.all()
	if len(got) != len(want) {
		t.Fatalf("observations %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("observation %d: %v, want %v", i, got[i], want[i])
		}
	}
}
