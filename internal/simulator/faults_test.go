package simulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestInjectedErrors(t *testing.T) {
	tests := []struct {
		name      string
		style     RetryAfterStyle
		faults    Faults
		wantCode  int
		wantRetry string // "" none, "date" an HTTP-date, else exact
		wantHTML  string
	}{
		{name: "500 default code", faults: Faults{ErrorEveryN: 1}, wantCode: 500},
		{name: "503 json", faults: Faults{ErrorEveryN: 1, ErrorCode: 503}, wantCode: 503},
		{name: "503 retry seconds when style none", faults: Faults{ErrorEveryN: 1, ErrorCode: 503, ErrorRetryAfter: true}, wantCode: 503, wantRetry: "1"},
		{name: "429 retry date", style: RetryAfterDate, faults: Faults{ErrorEveryN: 1, ErrorCode: 429, ErrorRetryAfter: true}, wantCode: 429, wantRetry: "date"},
		{name: "429 without retry", style: RetryAfterSeconds, faults: Faults{ErrorEveryN: 1, ErrorCode: 429}, wantCode: 429},
		{name: "503 html", faults: Faults{ErrorEveryN: 1, ErrorCode: 503, HTMLErrors: true}, wantCode: 503,
			wantHTML: "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"},
		{name: "500 html with retry", faults: Faults{ErrorRate: 1, HTMLErrors: true, ErrorRetryAfter: true}, wantCode: 500, wantRetry: "1",
			wantHTML: "<html><body><h1>500 Internal Server Error</h1></body></html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{RetryAfter: tt.style, Faults: tt.faults})
			// Faults come before auth: even a request without credentials
			// gets the injected answer.
			rec := h.do("POST", "deployments/application", deployBody("a"), withoutHeader("Authorization"))
			expectCode(t, rec, tt.wantCode)
			retry := rec.Header().Get("Retry-After")
			switch tt.wantRetry {
			case "date":
				if _, err := http.ParseTime(retry); err != nil {
					t.Errorf("Retry-After %q: %v", retry, err)
				}
			default:
				if retry != tt.wantRetry {
					t.Errorf("Retry-After %q, want %q", retry, tt.wantRetry)
				}
			}
			if tt.wantHTML != "" {
				if rec.Body.String() != tt.wantHTML || rec.Header().Get("Content-Type") != "text/html" {
					t.Errorf("body %q (%s)", rec.Body.String(), rec.Header().Get("Content-Type"))
				}
			} else if m := firstMessage(t, rec); m.Severity != "FAILURE" {
				t.Errorf("message %+v", m)
			}
			if _, ok := h.sim.Application("a"); ok {
				t.Error("a refused deploy was applied")
			}
			st := h.sim.Stats()
			if st.FaultsInjected != 1 || st.RequestsByOp["deploy"] != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestErrorEveryN(t *testing.T) {
	h := newHarness(t, Options{})
	h.sim.SetFaults(Faults{ErrorEveryN: 3})
	var codes []int
	for range 6 {
		codes = append(codes, h.do("GET", "deployments/application", nil).Code)
	}
	want := []int{200, 200, 500, 200, 200, 500}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	}
	// Admin endpoints are never faulted and do not count.
	h.sim.SetFaults(Faults{ErrorEveryN: 1})
	rec := httptest.NewRecorder()
	h.sim.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/_sim/stats", nil))
	expectCode(t, rec, http.StatusOK)
}

func TestErrorRateIsDeterministic(t *testing.T) {
	run := func(seed int64) string {
		h := newHarness(t, Options{Seed: seed, Faults: Faults{ErrorRate: 0.5}})
		var b strings.Builder
		for range 64 {
			if h.do("GET", "deployments/application", nil).Code == 500 {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b := run(7), run(7)
	if a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	if n := strings.Count(a, "x"); n < 16 || n > 48 {
		t.Fatalf("%d of 64 failed at rate 0.5: %s", n, a)
	}
	if run(8) == a {
		t.Fatalf("another seed gave the same sequence %s", a)
	}
}

func TestDowntimeWindow(t *testing.T) {
	h := newHarness(t, Options{RetryAfter: RetryAfterSeconds})
	h.sim.SetFaults(Faults{Down: true, DownUntil: h.clock.Now().Add(30 * time.Second)})
	rec := h.do("GET", "deployments/application", nil)
	expectCode(t, rec, http.StatusServiceUnavailable)
	if got := rec.Header().Get("Retry-After"); got != "30" {
		t.Fatalf("Retry-After %q, want the rest of the window", got)
	}
	h.clock.Advance(29 * time.Second)
	if got := h.do("GET", "deployments/application", nil).Header().Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q late in the window", got)
	}
	h.clock.Advance(time.Second)
	expectCode(t, h.do("GET", "deployments/application", nil), http.StatusOK)

	h.sim.SetFaults(Faults{Down: true})
	rec = h.do("GET", "deployments/application", nil)
	expectCode(t, rec, http.StatusServiceUnavailable)
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Fatalf("open-ended downtime Retry-After %q, want RetryAfterValue", got)
	}
	h.sim.SetFaults(Faults{})
	expectCode(t, h.do("GET", "deployments/application", nil), http.StatusOK)
}

func TestLatencyHonoursClientContext(t *testing.T) {
	h := newHarness(t, Options{Faults: Faults{Latency: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.sim.Handler().ServeHTTP(rec, h.newRequest("GET", "deployments/application", nil).WithContext(ctx))
	if st := h.sim.Stats(); st.Requests["GET canceled"] != 1 {
		t.Fatalf("requests %v", st.Requests)
	}
}

// TestConnectionReset checks that a reset request is processed, but its
// answer is lost: the client sees a transport error.
func TestConnectionReset(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			sim := New(Options{Faults: Faults{ResetEveryN: 2}})
			defer sim.Close()
			srv := httptest.NewUnstartedServer(sim.Handler())
			if scheme == "https" {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := srv.Client()
			// A fresh connection per request, so the transport cannot
			// quietly retry a request on a reused connection.
			client.Transport.(*http.Transport).DisableKeepAlives = true
			base := srv.URL + sim.BasePath()

			if r := send(t, client, "GET", base+"deployments/application", ""); r.code != 200 {
				t.Fatalf("first request: %d", r.code)
			}
			req, _ := http.NewRequest("POST", base+"deployments/application?__detached=true",
				strings.NewReader(`{"name":"a","deploymentPath":"/a.war","targets":["c1"]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Requested-By", "test")
			req.SetBasicAuth("admin", "admin")
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("want a transport error, got %d", resp.StatusCode)
			}
			if app, ok := sim.Application("a"); !ok || app.State != StateNew {
				t.Fatalf("the deploy whose answer was lost was not applied: %+v", app)
			}
			st := sim.Stats()
			if st.ConnectionResets != 1 || st.Requests["POST reset"] != 1 || st.DeploysAccepted["a"] != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestFaultsJSON(t *testing.T) {
	in := Faults{Latency: 150 * time.Millisecond, ErrorEveryN: 2, ErrorCode: 503, Down: true,
		DownUntil: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, err := in.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"latency":"150ms"`) {
		t.Fatalf("json %s", b)
	}
	var out Faults
	if err := out.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip %+v, want %+v", out, in)
	}
	if err := out.UnmarshalJSON([]byte(`{"latency":"soon"}`)); err == nil {
		t.Fatal("bad duration accepted")
	}
}
