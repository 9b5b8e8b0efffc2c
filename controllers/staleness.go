package controllers

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// writeTracker bridges the gap between this reconciler's own writes and
// the informer cache, which lags behind them (by seconds on a loaded
// control plane). For each object with a write the cache has not shown
// yet, it keeps the resourceVersions that our writes superseded and the
// object as our last successful write left it.
//
// A reconcile that reads a superseded version from the cache uses our copy
// instead: acting on the older version would repeat the step just taken
// (retry a call that failed terminally, or send a second call), and
// waiting for the cache would either spin or need an event that the
// generation predicate hides. The informer tells the tracker of each new
// version (seen), and the entry goes as soon as the cache holds a version
// we did not supersede, so the tracker holds only objects with writes in
// flight. Resource versions are opaque: only equality is used, and a
// version not in the set is newer.
type writeTracker struct {
	mu      sync.Mutex
	entries map[types.UID]*trackedWrites
}

// trackedWrites is what the tracker holds for one object.
type trackedWrites struct {
	superseded []string
	// latest is the object as our last successful write returned it; nil
	// until a write succeeded.
	latest *dbrestv1.Deployment
}

func newWriteTracker() *writeTracker {
	return &writeTracker{entries: map[types.UID]*trackedWrites{}}
}

// writing is called before a write of obj: the version it has now is
// about to be superseded. It is recorded first, so that the informer's
// event for the new version, which may arrive before the write returns,
// finds the entry and ends it.
func (w *writeTracker) writing(obj *dbrestv1.Deployment) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entries[obj.UID]
	if e == nil {
		e = &trackedWrites{}
		w.entries[obj.UID] = e
	}
	e.superseded = append(e.superseded, obj.ResourceVersion)
}

// written is called after a write: on success with the object the server
// returned, on failure with the version that was not superseded after all.
func (w *writeTracker) written(obj *dbrestv1.Deployment, before string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entries[obj.UID]
	if e == nil {
		return // the cache already holds the new version
	}
	if err != nil {
		e.superseded = slices.DeleteFunc(e.superseded, func(v string) bool { return v == before })
		if len(e.superseded) == 0 {
			delete(w.entries, obj.UID)
		}
		return
	}
	e.latest = obj.DeepCopy()
}

// current returns the object to reconcile: cached itself, unless it is a
// version our writes superseded, then our copy of the newer one. ok is
// false when the cache is behind and no copy exists (a reconcile then
// waits briefly).
func (w *writeTracker) current(cached *dbrestv1.Deployment) (obj *dbrestv1.Deployment, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entries[cached.UID]
	switch {
	case e == nil:
		return cached, true
	case !slices.Contains(e.superseded, cached.ResourceVersion):
		delete(w.entries, cached.UID) // the cache caught up
		return cached, true
	case e.latest == nil:
		return nil, false
	}
	return e.latest.DeepCopy(), true
}

// seen is told of each version the informer delivers; a version we did
// not supersede means the cache caught up with our writes.
func (w *writeTracker) seen(uid types.UID, resourceVersion string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.entries[uid]; e != nil && !slices.Contains(e.superseded, resourceVersion) {
		delete(w.entries, uid)
	}
}

// forget drops an object that is gone.
func (w *writeTracker) forget(uid types.UID) {
	w.mu.Lock()
	delete(w.entries, uid)
	w.mu.Unlock()
}
