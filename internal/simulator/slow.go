package simulator

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// A slow server behind a proxy (Options.MutationDelay and ProxyTimeout).
// A mutating call counts as in flight from its arrival; its processing runs
// in a goroutine detached from the request, so it happens even when the
// proxy answered 504 or the client left, which is the case the operator
// must survive without a second deploy. Server.Close ends the remaining
// delays and waits for these goroutines.

// proxyTimeoutPage is the body nginx sends when its upstream is too slow.
const proxyTimeoutPage = `<html><head><title>504 Gateway Time-out</title></head>` +
	`<body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>`

// timerFunc starts a timer and returns its channel and its Stop. Tests
// replace Server.newTimer to fire the delays by hand instead of sleeping.
type timerFunc func(d time.Duration) (<-chan time.Time, func() bool)

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// slow reports whether mutations take the slow path.
func (s *Server) slow() bool { return s.opts.MutationDelay > 0 || s.opts.ProxyTimeout > 0 }

// mutateSlow runs fn MutationDelay after the call arrived, in a detached
// goroutine, and answers with its result, or with the proxy's 504 if
// ProxyTimeout comes first, or not at all if the client leaves first.
func (s *Server) mutateSlow(w http.ResponseWriter, r *http.Request, name string, fn mutation) {
	s.mu.Lock()
	s.advance(s.now())
	s.beginMutating(name)
	s.mu.Unlock()

	// The delay's timer belongs to the processing, which may outlive this
	// handler; it is armed here so both clocks start at the arrival.
	var delay <-chan time.Time
	stopDelay := func() bool { return false }
	if s.opts.MutationDelay > 0 {
		delay, stopDelay = s.newTimer(s.opts.MutationDelay)
	}
	var timeout <-chan time.Time
	// A connection about to be reset (Faults.ResetEveryN) loses the answer
	// anyway: there the call is processed first, as ResetEveryN promises.
	if _, lost := w.(*discardWriter); !lost && s.opts.ProxyTimeout > 0 {
		c, stop := s.newTimer(s.opts.ProxyTimeout)
		defer stop()
		timeout = c
	}

	done := make(chan response, 1)
	process := func() {
		defer stopDelay()
		if delay != nil {
			select {
			case <-delay:
			case <-s.stop:
			}
		}
		now := s.now()
		s.mu.Lock()
		s.advance(now)
		resp, handed := fn(now)
		if !handed {
			s.endMutating(name)
		}
		s.mu.Unlock()
		done <- resp
	}
	if !s.detach(process) {
		process()
	}

	select {
	case resp := <-done:
		resp.write(w)
	case <-timeout:
		// An answer ready at the same instant reached the proxy in time.
		select {
		case resp := <-done:
			resp.write(w)
			return
		default:
		}
		s.mu.Lock()
		s.stats.proxyTimeouts++
		s.mu.Unlock()
		writeProxyTimeout(w)
	case <-r.Context().Done():
		// The client left; the server goes on without it, and serveAPI
		// counts the request as canceled.
	}
}

// detach runs f in a goroutine that Close waits for. Once Close has begun
// it reports false and the caller runs f itself, so no goroutine starts
// that Close would not wait for.
func (s *Server) detach(f func()) bool {
	s.detachMu.Lock()
	defer s.detachMu.Unlock()
	if s.detachClosed {
		return false
	}
	s.detached.Add(1)
	go func() {
		defer s.detached.Done()
		f()
	}()
	return true
}

// writeProxyTimeout answers as nginx does when its upstream is too slow.
func writeProxyTimeout(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(proxyTimeoutPage)))
	w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = io.WriteString(w, proxyTimeoutPage)
}
