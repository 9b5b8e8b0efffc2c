// Package circuit shares one DatabaseAPI's capacity among every Deployment
// that uses it: a circuit breaker that stops all calls while the server is
// in trouble and lets one probe through per interval, a bound on requests
// in flight that refuses instead of blocking, and a token bucket for the
// request rate. The reconcilers ask before they talk to the server and
// requeue when refused, so no worker ever waits on a server.
//
// It knows nothing of Kubernetes: the clock is passed in, and the state is
// a Snapshot that the DatabaseAPI's status carries across restarts.
package circuit

import (
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// State is the circuit's state.
type State string

// The circuit's states. Half-open (one probe in flight) is Open with
// Probing set in the Snapshot.
const (
	// Closed lets requests through.
	Closed State = "Closed"
	// Open refuses every request except the probe.
	Open State = "Open"
)

// Policy tunes a Breaker.
type Policy struct {
	// Threshold is the number of consecutive trouble answers, from any
	// Deployment, that opens the circuit. A trouble answer with a
	// Retry-After opens it at once. Default 3.
	Threshold int
	// BaseProbe is the first probe interval when the server gave no
	// Retry-After; it doubles with each failed probe. Default 1s.
	BaseProbe time.Duration
	// MaxProbe caps the probe interval. Default 1m.
	MaxProbe time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Threshold <= 0 {
		p.Threshold = 3
	}
	if p.BaseProbe <= 0 {
		p.BaseProbe = time.Second
	}
	if p.MaxProbe <= 0 {
		p.MaxProbe = time.Minute
	}
	return p
}

// Limits are the DatabaseAPI's request limits.
type Limits struct {
	// MaxInFlight bounds the requests in flight: those a reconcile is
	// waiting on, and those that went on without their worker.
	MaxInFlight int
	// PerSecond is the token bucket's rate; Burst its size.
	PerSecond float64
	Burst     int
}

// Snapshot is the circuit's state as the DatabaseAPI's status shows it.
type Snapshot struct {
	State State
	// OpenedAt is when the circuit opened; zero when closed.
	OpenedAt time.Time
	// NextProbeAt is when the next probe may go; zero when closed.
	NextProbeAt time.Time
	// Failures counts the trouble answers since the last good one.
	Failures int
	// Probes counts the failed probes since the circuit opened; it drives
	// the probe backoff.
	Probes int
	// Reason and Message describe the last trouble answer.
	Reason  string
	Message string
}

// Outcome is what one request showed of the server.
type Outcome struct {
	// Trouble is set when the answer says the server, not the request, is
	// in trouble: 429, 5xx, no answer (refused, reset, time-out).
	Trouble bool
	// RetryAfter is the server's Retry-After, when it gave one.
	RetryAfter time.Duration
	// Reason and Message describe it, for status.
	Reason  string
	Message string
}

// RefusalReason says why a request was refused locally.
type RefusalReason string

// Refusal reasons; they label the refused-requests metric.
const (
	RefusedOpen      RefusalReason = "circuit_open"
	RefusedInFlight  RefusalReason = "max_in_flight"
	RefusedRateLimit RefusalReason = "rate_limit"
)

// Ticket is a permission to talk to the server, returned with Release.
type Ticket struct {
	b      *Breaker
	probe  bool
	issued time.Time
}

// Breaker is one DatabaseAPI's circuit, in-flight bound and token bucket.
// It is safe for concurrent use.
type Breaker struct {
	mu       sync.Mutex
	policy   Policy
	snap     Snapshot
	probing  bool
	inFlight int
	// held is a moving average of how long a ticket is held: how long a
	// refused Deployment can expect to wait for a free slot.
	held    time.Duration
	limits  Limits
	limiter *rate.Limiter
	// changed is called, without the lock, when the circuit opens,
	// closes or moves its next probe: the DatabaseAPI's status follows.
	changed func()
	jitter  func(max time.Duration) time.Duration
}

// New returns a breaker that starts from seed (the state a previous
// manager left in status; the zero Snapshot is closed).
func New(policy Policy, limits Limits, seed Snapshot, changed func()) *Breaker {
	if seed.State != Open {
		seed = Snapshot{State: Closed}
	}
	b := &Breaker{policy: policy.withDefaults(), snap: seed, changed: changed,
		jitter: func(max time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(max) + 1)) }}
	b.SetLimits(limits)
	return b
}

// SetLimits applies new limits (the DatabaseAPI's spec changed).
func (b *Breaker) SetLimits(l Limits) {
	l.MaxInFlight = max(l.MaxInFlight, 1)
	l.Burst = max(l.Burst, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limiter == nil {
		b.limiter = rate.NewLimiter(rate.Limit(l.PerSecond), l.Burst)
	} else if l != b.limits {
		b.limiter.SetLimit(rate.Limit(l.PerSecond))
		b.limiter.SetBurst(l.Burst)
	}
	if l.PerSecond <= 0 {
		b.limiter.SetLimit(rate.Inf)
	}
	b.limits = l
}

// Snapshot returns the circuit's state.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snap
}

// Refusal says why Admit refused, and when to ask again.
type Refusal struct {
	Reason RefusalReason
	// Wait is when to ask again, jittered so that refused Deployments do
	// not come back together.
	Wait time.Duration
	// Circuit is the state at the refusal.
	Circuit Snapshot
}

// Admit asks, for a Deployment, to talk to the server at now. While the
// circuit is open it always refuses: probing is the DatabaseAPI's job
// (ProbeTicket), so the number of requests to a server in trouble does not
// grow with the number of Deployments.
func (b *Breaker) Admit(now time.Time) (*Ticket, *Refusal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.snap.State == Open {
		// Come back after the next probe had time to answer.
		wait := max(b.snap.NextProbeAt.Sub(now), 0) + b.probeInterval() + b.jitter(time.Second)
		return nil, &Refusal{Reason: RefusedOpen, Wait: wait, Circuit: b.snap}
	}
	if b.inFlight >= b.limits.MaxInFlight {
		// Every slot is held by a reconcile that waits on the server:
		// come back in about the time one takes, so that a slow server's
		// Deployments do not churn through the queue.
		wait := min(max(b.held, 200*time.Millisecond), 10*time.Second)
		return nil, &Refusal{Reason: RefusedInFlight, Wait: wait + b.jitter(wait), Circuit: b.snap}
	}
	r := b.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, &Refusal{Reason: RefusedRateLimit, Wait: d + b.jitter(d/2+10*time.Millisecond), Circuit: b.snap}
	}
	b.inFlight++
	return &Ticket{b: b, issued: now}, nil
}

// ProbeTicket asks, for the DatabaseAPI's probe, to talk to the server at
// now. When the circuit is open it is granted once the next probe is due
// and no other probe is out; when closed, always (the periodic probe).
func (b *Breaker) ProbeTicket(now time.Time) (*Ticket, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.snap.State == Open {
		if b.probing || now.Before(b.snap.NextProbeAt) {
			return nil, false
		}
		b.probing = true
		return &Ticket{b: b, probe: true}, true
	}
	// A request like the Deployments': it holds a slot until released
	// (which gives one back), even when they hold every other.
	b.inFlight++
	return &Ticket{b: b, issued: now}, true
}

// Observe records what one request under t showed of the server.
func (t *Ticket) Observe(now time.Time, o Outcome) {
	b := t.b
	b.mu.Lock()
	changed := false
	if o.Trouble {
		b.snap.Failures++
		b.snap.Reason, b.snap.Message = o.Reason, o.Message
		if t.probe || (b.snap.State == Closed && (b.snap.Failures >= b.policy.Threshold || o.RetryAfter > 0)) {
			if b.snap.State == Closed {
				b.snap.State, b.snap.OpenedAt, b.snap.Probes = Open, now, 0
			} else {
				b.snap.Probes++
			}
			b.snap.NextProbeAt = now.Add(b.nextInterval(o.RetryAfter))
			b.probing = false
			changed = true
		}
	} else {
		b.snap.Failures = 0
		if b.snap.State == Open {
			b.snap = Snapshot{State: Closed}
			b.probing = false
			changed = true
		}
	}
	b.mu.Unlock()
	if changed && b.changed != nil {
		b.changed()
	}
}

// Release returns the ticket at now. A probe that made no request gives
// its turn back.
func (t *Ticket) Release(now time.Time) {
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe {
		b.probing = false
		return
	}
	b.inFlight--
	// An exponentially weighted average, a quarter weight to the newest.
	b.held += (now.Sub(t.issued) - b.held) / 4
}

// nextInterval is the wait before the next probe: the server's
// Retry-After to the second when it gave one, else BaseProbe doubled per
// failed probe, capped, with up to 10% jitter.
func (b *Breaker) nextInterval(retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, b.policy.MaxProbe)
	}
	d := b.policy.BaseProbe
	for i := 0; i < b.snap.Probes && d < b.policy.MaxProbe; i++ {
		d *= 2
	}
	d = min(d, b.policy.MaxProbe)
	return d + b.jitter(d/10)
}

// probeInterval is the current interval between probes, for a refused
// Deployment's wait.
func (b *Breaker) probeInterval() time.Duration {
	d := b.policy.BaseProbe
	for i := 0; i < b.snap.Probes && d < b.policy.MaxProbe; i++ {
		d *= 2
	}
	return min(d, b.policy.MaxProbe)
}
