package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// sendTracker bounds, per object, when the mutating call of its pending
// intent left. status.job.startedAt is taken before the intent is
// written, and on a loaded control plane that write can take longer than
// a second, so the call may leave well after startedAt. Settling a call
// whose outcome is unknown must wait the request timeout after the call
// left, not after startedAt, or it can find no job yet and send the call
// again. The bound is the moment this process got the call's answer, or,
// for an intent that a stopped process left, the moment this one first
// saw it: that call left before the other process stopped.
type sendTracker struct {
	mu      sync.Mutex
	entries map[types.UID]sendRecord
}

// sendRecord is the bound for the intent begun at startedAt.
type sendRecord struct {
	startedAt time.Time
	by        time.Time
}

func newSendTracker() *sendTracker { return &sendTracker{entries: map[types.UID]sendRecord{}} }

// sent records that the call of the intent begun at startedAt has left by
// now.
func (s *sendTracker) sent(uid types.UID, startedAt, now time.Time) {
	s.mu.Lock()
	s.entries[uid] = sendRecord{startedAt: startedAt, by: now}
	s.mu.Unlock()
}

// sentBy returns the bound for the intent begun at startedAt, recording
// now when this process has none for it.
func (s *sendTracker) sentBy(uid types.UID, startedAt, now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[uid]; ok && e.startedAt.Equal(startedAt) {
		return e.by
	}
	s.entries[uid] = sendRecord{startedAt: startedAt, by: now}
	return now
}

// forget drops the bound of an object with no pending intent.
func (s *sendTracker) forget(uid types.UID) {
	s.mu.Lock()
	delete(s.entries, uid)
	s.mu.Unlock()
}
