package circuit

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var t0 = time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)

var trouble = Outcome{Trouble: true, Reason: "ServiceUnavailable", Message: "HTTP 503"}

func newBreaker(limits Limits, seed Snapshot) (*Breaker, *int) {
	changes := 0
	b := New(Policy{}, limits, seed, func() { changes++ })
	b.jitter = func(time.Duration) time.Duration { return 0 }
	return b, &changes
}

var roomy = Limits{MaxInFlight: 100, PerSecond: 0, Burst: 1}

// admit takes a ticket and records one answer under it.
func admit(g Gomega, b *Breaker, now time.Time, o Outcome) {
	t, refused := b.Admit(now)
	g.Expect(refused).To(BeNil())
	t.Observe(now, o)
	t.Release(now)
}

func TestBreakerOpensAfterConsecutiveTrouble(t *testing.T) {
	g := NewWithT(t)
	b, changes := newBreaker(roomy, Snapshot{})
	admit(g, b, t0, trouble)
	admit(g, b, t0, trouble)
	admit(g, b, t0, Outcome{}) // a good answer in between: the count starts over
	admit(g, b, t0, trouble)
	admit(g, b, t0, trouble)
	g.Expect(b.Snapshot().State).To(Equal(Closed))
	g.Expect(*changes).To(BeZero())
	admit(g, b, t0, trouble)
	s := b.Snapshot()
	g.Expect(s.State).To(Equal(Open))
	g.Expect(s.OpenedAt).To(Equal(t0))
	g.Expect(s.NextProbeAt).To(Equal(t0.Add(time.Second)))
	g.Expect(s.Reason).To(Equal("ServiceUnavailable"))
	g.Expect(*changes).To(Equal(1))

	// Open: every Deployment is refused until after the next probe.
	_, refused := b.Admit(t0.Add(5 * time.Second))
	g.Expect(refused).NotTo(BeNil())
	g.Expect(refused.Reason).To(Equal(RefusedOpen))
	g.Expect(refused.Wait).To(Equal(time.Second), "the probe is due: one probe interval more")
}

func TestBreakerHonoursRetryAfterToTheSecond(t *testing.T) {
	g := NewWithT(t)
	b, _ := newBreaker(roomy, Snapshot{})
	admit(g, b, t0, Outcome{Trouble: true, RetryAfter: 7 * time.Second, Reason: "TooManyRequests"})
	s := b.Snapshot()
	g.Expect(s.State).To(Equal(Open), "a Retry-After opens the circuit at once")
	g.Expect(s.NextProbeAt).To(Equal(t0.Add(7 * time.Second)))

	_, ok := b.ProbeTicket(t0.Add(6999 * time.Millisecond))
	g.Expect(ok).To(BeFalse(), "no probe before the server's Retry-After")
	p, ok := b.ProbeTicket(t0.Add(7 * time.Second))
	g.Expect(ok).To(BeTrue())
	_, again := b.ProbeTicket(t0.Add(7 * time.Second))
	g.Expect(again).To(BeFalse(), "one probe at a time")
	p.Observe(t0.Add(7*time.Second), Outcome{Trouble: true, RetryAfter: 3 * time.Second})
	p.Release(t0.Add(7 * time.Second))
	g.Expect(b.Snapshot().NextProbeAt).To(Equal(t0.Add(10 * time.Second)))
}

func TestBreakerProbeBackoffAndRecovery(t *testing.T) {
	g := NewWithT(t)
	b, changes := newBreaker(roomy, Snapshot{})
	for range 3 {
		admit(g, b, t0, trouble)
	}
	var now time.Time
	// Failed probes double the interval: 1s, 2s, 4s, ... up to 1m.
	for _, want := range []time.Duration{2, 4, 8, 16, 32, 60, 60} {
		now = b.Snapshot().NextProbeAt
		p, ok := b.ProbeTicket(now)
		g.Expect(ok).To(BeTrue())
		p.Observe(now, trouble)
		p.Release(now)
		g.Expect(b.Snapshot().NextProbeAt.Sub(now)).To(Equal(want*time.Second), "after probe at %s", now)
	}
	// A probe that made no request gives its turn back.
	now = b.Snapshot().NextProbeAt
	p, _ := b.ProbeTicket(now)
	p.Release(now)
	p, ok := b.ProbeTicket(now)
	g.Expect(ok).To(BeTrue())
	before := *changes
	p.Observe(now, Outcome{})
	p.Release(now)
	g.Expect(b.Snapshot()).To(Equal(Snapshot{State: Closed}))
	g.Expect(*changes).To(Equal(before + 1))
	_, refused := b.Admit(now)
	g.Expect(refused).To(BeNil())
}

func TestBreakerStartsFromTheSnapshotInStatus(t *testing.T) {
	g := NewWithT(t)
	seed := Snapshot{State: Open, OpenedAt: t0, NextProbeAt: t0.Add(30 * time.Second), Probes: 4}
	b, _ := newBreaker(roomy, seed)
	_, refused := b.Admit(t0.Add(time.Second))
	g.Expect(refused).NotTo(BeNil(), "a restarted manager keeps the circuit open")
	_, ok := b.ProbeTicket(t0.Add(29 * time.Second))
	g.Expect(ok).To(BeFalse())
	_, ok = b.ProbeTicket(t0.Add(30 * time.Second))
	g.Expect(ok).To(BeTrue())
}

func TestBreakerBoundsRequestsInFlight(t *testing.T) {
	g := NewWithT(t)
	b, _ := newBreaker(Limits{MaxInFlight: 2}, Snapshot{})
	t1, _ := b.Admit(t0)
	t2, _ := b.Admit(t0)
	_, refused := b.Admit(t0)
	g.Expect(refused).NotTo(BeNil())
	g.Expect(refused.Reason).To(Equal(RefusedInFlight))
	g.Expect(refused.Wait).To(Equal(200*time.Millisecond), "no slot was held yet: the shortest wait")
	t1.Release(t0.Add(8 * time.Second))
	_, _ = b.Admit(t0)
	_, refused = b.Admit(t0)
	g.Expect(refused.Wait).To(Equal(2*time.Second), "a quarter of the way to the 8s a slot was held")
	t2.Release(t0)
	_, refused = b.Admit(t0)
	g.Expect(refused).To(BeNil(), "a released slot is free")
}

// TestBreakerPeriodicProbeKeepsTheBound: the probe of a closed circuit
// is a request like the Deployments', and its release gives back only
// what it took: probes, however many, neither widen the bound nor move
// the wait a refusal gives.
func TestBreakerPeriodicProbeKeepsTheBound(t *testing.T) {
	g := NewWithT(t)
	b, _ := newBreaker(Limits{MaxInFlight: 2}, Snapshot{})
	for i := range 5 {
		p, due := b.ProbeTicket(t0.Add(time.Duration(i) * time.Minute))
		g.Expect(due).To(BeTrue())
		p.Observe(t0, Outcome{})
		p.Release(t0.Add(time.Duration(i)*time.Minute + 100*time.Millisecond))
	}
	_, _ = b.Admit(t0)
	_, _ = b.Admit(t0)
	_, refused := b.Admit(t0)
	g.Expect(refused).NotTo(BeNil(), "two slots, two held")
	g.Expect(refused.Wait).To(Equal(200*time.Millisecond), "the probes took 100ms each: the shortest wait")

	// A probe while both slots are held is granted, and holds a third
	// until it ends.
	p, due := b.ProbeTicket(t0)
	g.Expect(due).To(BeTrue(), "the DatabaseAPI's probe is never refused by a closed circuit")
	p.Release(t0)
	_, refused = b.Admit(t0)
	g.Expect(refused).NotTo(BeNil(), "the probe's release gave back its own slot, not one of the Deployments'")
}

func TestBreakerRateLimit(t *testing.T) {
	g := NewWithT(t)
	b, _ := newBreaker(Limits{MaxInFlight: 100, PerSecond: 10, Burst: 2}, Snapshot{})
	for range 2 {
		tk, refused := b.Admit(t0)
		g.Expect(refused).To(BeNil())
		tk.Release(t0)
	}
	_, refused := b.Admit(t0)
	g.Expect(refused).NotTo(BeNil())
	g.Expect(refused.Reason).To(Equal(RefusedRateLimit))
	g.Expect(refused.Wait).To(Equal(100 * time.Millisecond))
	// A refusal takes no token: at t0+100ms exactly one is there.
	tk, refused := b.Admit(t0.Add(100 * time.Millisecond))
	g.Expect(refused).To(BeNil())
	tk.Release(t0)
	_, refused = b.Admit(t0.Add(100 * time.Millisecond))
	g.Expect(refused).NotTo(BeNil())

	// A new rate applies at once.
	b.SetLimits(Limits{MaxInFlight: 100, PerSecond: 0, Burst: 1})
	_, refused = b.Admit(t0.Add(100 * time.Millisecond))
	g.Expect(refused).To(BeNil(), "no rate: no limit")
}

func TestRegistry(t *testing.T) {
	g := NewWithT(t)
	var changed []string
	r := NewRegistry(Policy{}, func(key string) { changed = append(changed, key) })
	a := r.For("ns/db", "uid-1", roomy, Snapshot{})
	g.Expect(r.For("ns/db", "uid-1", roomy, Snapshot{State: Open})).To(BeIdenticalTo(a), "the seed only makes a new breaker")
	g.Expect(r.For("ns/db", "uid-2", roomy, Snapshot{})).NotTo(BeIdenticalTo(a), "a DatabaseAPI made again starts afresh")
	b := r.For("ns/db", "uid-2", roomy, Snapshot{})
	for range 3 {
		tk, _ := b.Admit(t0)
		tk.Observe(t0, trouble)
		tk.Release(t0)
	}
	g.Expect(changed).To(Equal([]string{"ns/db"}))
	n := 0
	r.Each(func(string, *Breaker) { n++ })
	g.Expect(n).To(Equal(1))
	r.Forget("ns/db")
	r.Each(func(string, *Breaker) { n++ })
	g.Expect(n).To(Equal(1))
}
