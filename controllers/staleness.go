package controllers

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// writeTracker remembers, per object, the resourceVersions that this
// reconciler's own writes superseded. The informer cache lags behind
// writes, so the next event may deliver one of them (the version read
// before the reconcile, or the one between the finalizer patch and the
// status patch); acting on it would repeat the step just taken, for
// example retry a call that failed terminally. Resource versions are
// opaque, so only equality is used: a version not in the set is newer.
type writeTracker struct {
	mu    sync.Mutex
	stale map[types.UID][]string
}

func newWriteTracker() *writeTracker { return &writeTracker{stale: map[types.UID][]string{}} }

// wrote records versions of uid superseded by our writes.
func (w *writeTracker) wrote(uid types.UID, versions ...string) {
	w.mu.Lock()
	w.stale[uid] = append(w.stale[uid], versions...)
	w.mu.Unlock()
}

// isStale says whether a read of version rv is older than our last write.
// Any other version is newer, and the set is dropped.
func (w *writeTracker) isStale(uid types.UID, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, ok := w.stale[uid]
	if !ok {
		return false
	}
	if slices.Contains(old, rv) {
		return true
	}
	delete(w.stale, uid)
	return false
}

// forget drops an object that is gone.
func (w *writeTracker) forget(uid types.UID) {
	w.mu.Lock()
	delete(w.stale, uid)
	w.mu.Unlock()
}
