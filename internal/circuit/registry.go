package circuit

import "sync"

// Registry holds one Breaker per DatabaseAPI, shared by every reconciler
// of the manager.
type Registry struct {
	mu       sync.Mutex
	policy   Policy
	breakers map[string]*entry
	changed  func(key string)
}

type entry struct {
	id string
	b  *Breaker
}

// NewRegistry returns an empty registry; changed is told the key of a
// breaker whose circuit opened, closed or moved its next probe.
func NewRegistry(policy Policy, changed func(key string)) *Registry {
	return &Registry{policy: policy, breakers: map[string]*entry{}, changed: changed}
}

// For returns the breaker of key (a DatabaseAPI's namespace/name), made
// from seed when there is none yet or when id (its UID) changed: a
// DatabaseAPI deleted and created again starts afresh. Limits are applied
// every time, so a spec change takes effect at once.
func (r *Registry) For(key, id string, limits Limits, seed Snapshot) *Breaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.breakers[key]; e != nil && e.id == id {
		e.b.SetLimits(limits)
		return e.b
	}
	var changed func()
	if r.changed != nil {
		changed = func() { r.changed(key) }
	}
	b := New(r.policy, limits, seed, changed)
	r.breakers[key] = &entry{id: id, b: b}
	return b
}

// Forget drops the breaker of a DatabaseAPI that is gone.
func (r *Registry) Forget(key string) {
	r.mu.Lock()
	delete(r.breakers, key)
	r.mu.Unlock()
}

// Each calls f with every breaker, for metrics.
func (r *Registry) Each(f func(key string, b *Breaker)) {
	r.mu.Lock()
	all := make(map[string]*Breaker, len(r.breakers))
	for k, e := range r.breakers {
		all[k] = e.b
	}
	r.mu.Unlock()
	for k, b := range all {
		f(k, b)
	}
}
