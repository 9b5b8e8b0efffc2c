package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// tracker follows the bench's Deployments through one watch and records,
// with this process's clock, when each became Ready at a generation and
// when it was gone. One watch costs the kube-apiserver far less than
// polling thousands of objects, and its times have millisecond
// resolution, where the Ready condition's lastTransitionTime has seconds.
type tracker struct {
	mu      sync.Mutex
	objects map[string]*tracked
	gone    map[string]time.Time
}

type tracked struct {
	// readyGen is the latest generation seen Ready, and readyAt when.
	readyGen int64
	readyAt  time.Time
}

// startTracker watches the Deployments of namespace ns.
func startTracker(ctx context.Context, cfg *rest.Config, ns string) (*tracker, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &dbrestv1.Deployment{})
	if err != nil {
		return nil, err
	}
	t := &tracker{objects: map[string]*tracked{}, gone: map[string]time.Time{}}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.observe(o) },
		UpdateFunc: func(_, o any) { t.observe(o) },
		DeleteFunc: t.deleted,
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("watching Deployments: %w", ctx.Err())
	}
	return t, nil
}

func (t *tracker) observe(o any) {
	d, ok := o.(*dbrestv1.Deployment)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.objects[d.Name]
	if s == nil {
		s = &tracked{}
		t.objects[d.Name] = s
	}
	c := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition)
	if c != nil && c.Status == "True" && c.ObservedGeneration == d.Generation && d.Generation > s.readyGen {
		s.readyGen, s.readyAt = d.Generation, now
	}
}

func (t *tracker) deleted(o any) {
	if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = tomb.Obj
	}
	d, ok := o.(*dbrestv1.Deployment)
	if !ok {
		return
	}
	t.mu.Lock()
	t.gone[d.Name] = time.Now()
	delete(t.objects, d.Name)
	t.mu.Unlock()
}

// readyAt returns when each named object was first seen Ready at
// generation gen or later; objects not yet there are left out.
func (t *tracker) readyAt(gens map[string]int64) map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Time, len(gens))
	for name, gen := range gens {
		if s := t.objects[name]; s != nil && s.readyGen >= gen {
			out[name] = s.readyAt
		}
	}
	return out
}

// goneAt returns when each named object was seen deleted.
func (t *tracker) goneAt(names map[string]int64) map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Time, len(names))
	for name := range names {
		if at, ok := t.gone[name]; ok {
			out[name] = at
		}
	}
	return out
}

// waitFor polls a cheap in-memory view until it covers every object of
// want, ctx ends, or the manager dies; it prints progress to out every
// progressEvery. It returns the view.
func waitFor(ctx context.Context, out io.Writer, want map[string]int64, view func(map[string]int64) map[string]time.Time, died <-chan struct{}) (map[string]time.Time, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start, printed := time.Now(), time.Now()
	for {
		got := view(want)
		if len(got) == len(want) {
			return got, nil
		}
		if time.Since(printed) >= progressEvery {
			printed = time.Now()
			fmt.Fprintf(out, "  %d of %d done after %s\n", len(got), len(want), time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("%d of %d done: %w", len(got), len(want), ctx.Err())
		case <-died:
			return got, fmt.Errorf("the manager exited with %d of %d done", len(got), len(want))
		case <-tick.C:
		}
	}
}

// progressEvery is how often a long wait says how far it got.
const progressEvery = 10 * time.Second
