package simulator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// faultsJSON is the wire form of Faults: the same fields, with Latency as a
// Go duration string, which reads better in a curl command than nanoseconds.
type faultsJSON struct {
	Latency         string    `json:"latency,omitempty"`
	ErrorEveryN     int       `json:"errorEveryN"`
	ErrorRate       float64   `json:"errorRate"`
	ErrorCode       int       `json:"errorCode"`
	ErrorRetryAfter bool      `json:"errorRetryAfter"`
	HTMLErrors      bool      `json:"htmlErrors"`
	ResetEveryN     int       `json:"resetEveryN"`
	Down            bool      `json:"down"`
	DownUntil       time.Time `json:"downUntil,omitzero"`
}

// MarshalJSON writes Latency as a Go duration string ("150ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	w := faultsJSON{
		ErrorEveryN: f.ErrorEveryN, ErrorRate: f.ErrorRate, ErrorCode: f.ErrorCode,
		ErrorRetryAfter: f.ErrorRetryAfter, HTMLErrors: f.HTMLErrors,
		ResetEveryN: f.ResetEveryN, Down: f.Down, DownUntil: f.DownUntil,
	}
	if f.Latency != 0 {
		w.Latency = f.Latency.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads Latency as a Go duration string ("150ms", "2s").
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var latency time.Duration
	if w.Latency != "" {
		d, err := time.ParseDuration(w.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		latency = d
	}
	*f = Faults{
		Latency: latency, ErrorEveryN: w.ErrorEveryN, ErrorRate: w.ErrorRate,
		ErrorCode: w.ErrorCode, ErrorRetryAfter: w.ErrorRetryAfter,
		HTMLErrors: w.HTMLErrors, ResetEveryN: w.ResetEveryN,
		Down: w.Down, DownUntil: w.DownUntil,
	}
	return nil
}

func (f Faults) validate() error {
	var errs []error
	if f.Latency < 0 || f.ErrorEveryN < 0 || f.ResetEveryN < 0 {
		errs = append(errs, errors.New("faults: latency and counts must not be negative"))
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || math.IsNaN(f.ErrorRate) {
		errs = append(errs, fmt.Errorf("faults: error rate %v is not within 0..1", f.ErrorRate))
	}
	if f.ErrorCode != 0 && (f.ErrorCode < 400 || f.ErrorCode > 599) {
		errs = append(errs, fmt.Errorf("faults: error code %d is not an HTTP error", f.ErrorCode))
	}
	return errors.Join(errs...)
}

// faultKind is what the fault injector decided for one API request.
type faultKind int

const (
	faultNone faultKind = iota
	faultDown
	faultError
	faultReset
)

// faultDecision carries the decision and the faults it was taken from, so
// the answer is written from one consistent snapshot even if SetFaults runs
// in between.
type faultDecision struct {
	kind   faultKind
	faults Faults
}

// SetFaults replaces the injected faults at run time. It is safe for
// concurrent use. It restarts the ErrorEveryN and ResetEveryN count and
// reseeds the ErrorRate source.
func (s *Server) SetFaults(f Faults) {
	if f.ErrorCode == 0 {
		f.ErrorCode = http.StatusInternalServerError
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	s.faultSeq = 0
	s.rng = newRand(s.opts.Seed)
}

// Faults returns the faults in force.
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// decideFault counts one API request and picks its fault. Downtime wins over
// an injected error, which wins over a reset: a request that is refused is
// never also processed.
func (s *Server) decideFault(now time.Time) faultDecision {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	s.faultSeq++
	d := faultDecision{faults: f}
	switch {
	case f.Down && (f.DownUntil.IsZero() || now.Before(f.DownUntil)):
		d.kind = faultDown
	case f.ErrorEveryN > 0 && s.faultSeq%f.ErrorEveryN == 0:
		d.kind = faultError
	// Draw only when a rate is set, so turning it on does not shift the
	// sequence of a run that never used it.
	case f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate:
		d.kind = faultError
	case f.ResetEveryN > 0 && s.faultSeq%f.ResetEveryN == 0:
		d.kind = faultReset
	}
	return d
}

// sleep waits d, or less when the client goes away; it reports whether the
// full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeFault answers a downtime or injected-error decision.
func (s *Server) writeFault(w http.ResponseWriter, d faultDecision, now time.Time) {
	f := d.faults
	code, msg := f.ErrorCode, "injected fault"
	retry := ""
	if d.kind == faultDown {
		code, msg = http.StatusServiceUnavailable, "the REST application is not running (simulated downtime)"
		delay := s.opts.RetryAfterValue
		if !f.DownUntil.IsZero() {
			delay = f.DownUntil.Sub(now)
		}
		retry = retryAfterValue(s.opts.RetryAfter, delay, now)
	} else if f.ErrorRetryAfter {
		style := s.opts.RetryAfter
		if style == RetryAfterNone {
			style = RetryAfterSeconds
		}
		retry = retryAfterValue(style, s.opts.RetryAfterValue, now)
	}
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	if f.HTMLErrors {
		writeHTMLError(w, code)
		return
	}
	writeFailure(w, code, msg)
}

// proxyStatusText is what a typical reverse proxy puts in its error page.
func proxyStatusText(code int) string {
	if code == http.StatusServiceUnavailable {
		return "Service Temporarily Unavailable"
	}
	return http.StatusText(code)
}

func writeHTMLError(w http.ResponseWriter, code int) {
	body := "<html><body><h1>" + strconv.Itoa(code) + " " + proxyStatusText(code) + "</h1></body></html>"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// retryAfterValue formats a delay as a Retry-After value in the given
// style; "" means no header. Seconds round up, so a client never comes back
// before the delay the simulator meant.
func retryAfterValue(style RetryAfterStyle, d time.Duration, now time.Time) string {
	if d < 0 {
		d = 0
	}
	switch style {
	case RetryAfterSeconds:
		return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
	case RetryAfterDate:
		return now.Add(d + time.Second - 1).UTC().Truncate(time.Second).Format(http.TimeFormat)
	default:
		return ""
	}
}

// resetConnection drops the client's connection without an answer. Over
// HTTP/1 it hijacks the connection and closes it with SO_LINGER 0, so the
// client sees a reset rather than a clean end of stream; where hijacking is
// not possible (HTTP/2) it aborts the handler, which resets the stream.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}
