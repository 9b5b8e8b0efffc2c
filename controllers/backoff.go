package controllers

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Backoff is the retry policy for retryable failures (429, 5xx,
// transport): capped exponential backoff with jitter, honouring the
// server's Retry-After.
type Backoff struct {
	// Base is the first delay. Default 2s.
	Base time.Duration
	// Max caps the delay. Default 5m.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = 2 * time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	return b
}

// retryTracker counts consecutive failures per object in memory. Losing
// it on restart only restarts the backoff, which is safe; keeping it out
// of status saves a write per retry.
type retryTracker struct {
	policy Backoff
	mu     sync.Mutex
	counts map[types.UID]int
}

func newRetryTracker(policy Backoff) *retryTracker {
	return &retryTracker{policy: policy.withDefaults(), counts: map[types.UID]int{}}
}

// next records one more failure and returns the delay before the retry:
// the server's Retry-After when it gave one (capped), else Base·2^n with
// ±20% jitter so that many objects failing together do not retry together.
func (t *retryTracker) next(uid types.UID, retryAfter time.Duration) time.Duration {
	t.mu.Lock()
	n := t.counts[uid]
	t.counts[uid] = n + 1
	t.mu.Unlock()
	if retryAfter > 0 {
		return min(retryAfter, t.policy.Max)
	}
	d := t.policy.Base
	for i := 0; i < n && d < t.policy.Max; i++ {
		d *= 2
	}
	d = min(d, t.policy.Max)
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return max(d+jitter, time.Second)
}

// reset forgets the failures of an object after a success.
func (t *retryTracker) reset(uid types.UID) {
	t.mu.Lock()
	delete(t.counts, uid)
	t.mu.Unlock()
}

// forget drops everything about an object that is gone.
func (t *retryTracker) forget(uid types.UID) {
	t.mu.Lock()
	delete(t.counts, uid)
	t.mu.Unlock()
}
