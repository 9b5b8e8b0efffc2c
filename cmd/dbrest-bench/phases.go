package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// submitWorkers is how many creates or patches the bench sends at once:
// enough to keep the kube-apiserver busy, few enough not to starve the
// manager of it.
const submitWorkers = 16

// minStorm is the shortest 503 storm, so a small run sees one too.
const minStorm = 5 * time.Second

// submitted is what a phase sent: when each object's call was sent and
// the generation (or, for deletion, any value) it waits for.
type submitted struct {
	start map[string]time.Time
	want  map[string]int64
	// own counts the phase's own writes by apiserver_request_total key,
	// to be subtracted from the manager's.
	own map[string]float64
}

func appName(i int) string { return fmt.Sprintf("app-%05d", i) }

func (b *bench) createPhase(ctx context.Context) (phaseResult, error) {
	return b.measure(ctx, func(ctx context.Context) (submitted, error) {
		if b.c.fault == fault503Storm {
			b.sim.SetFaults(simulator.Faults{ErrorEveryN: 2, ErrorCode: 503, ErrorRetryAfter: b.c.retryAfter})
			start := time.Now()
			defer func() {
				time.AfterFunc(max(minStorm-time.Since(start), 0), func() { b.sim.SetFaults(simulator.Faults{}) })
			}()
		}
		poll := &metav1.Duration{Duration: b.c.pollInterval}
		s, err := b.forEach(ctx, func(ctx context.Context, name string) (int64, error) {
			d := &dbrestv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns},
				Spec: dbrestv1.DeploymentSpec{
					DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
					PollInterval:   poll,
					Application: dbrestv1.ApplicationSpec{Name: name, DeploymentPath: "/u01/apps/" + name + ".war",
						Targets: []string{"cluster1"}, Version: "v1"},
				},
			}
			if err := b.k8s.Create(ctx, d); err != nil {
				return 0, err
			}
			return d.Generation, nil
		})
		s.own = map[string]float64{"POST deployments": float64(b.c.n)}
		return s, err
	}, b.tracker.readyAt)
}

func (b *bench) redeployPhase(ctx context.Context) (phaseResult, error) {
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"application":{"version":"v2"}}}`))
	return b.measure(ctx, func(ctx context.Context) (submitted, error) {
		s, err := b.forEach(ctx, func(ctx context.Context, name string) (int64, error) {
			d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
			if err := b.k8s.Patch(ctx, d, patch); err != nil {
				return 0, err
			}
			return d.Generation, nil
		})
		s.own = map[string]float64{"PATCH deployments": float64(b.c.n)}
		return s, err
	}, b.tracker.readyAt)
}

func (b *bench) deletePhase(ctx context.Context) (phaseResult, error) {
	// One DELETE per object, in parallel: a collection delete would be one
	// call, but the kube-apiserver works through it one object at a time.
	return b.measure(ctx, func(ctx context.Context) (submitted, error) {
		return b.forEach(ctx, func(ctx context.Context, name string) (int64, error) {
			return 0, b.k8s.Delete(ctx, &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}})
		})
	}, b.tracker.goneAt)
}

// forEach calls fn for every Deployment name with submitWorkers in
// parallel, recording when each call started and the generation it returned.
func (b *bench) forEach(ctx context.Context, fn func(context.Context, string) (int64, error)) (submitted, error) {
	s := submitted{start: make(map[string]time.Time, b.c.n), want: make(map[string]int64, b.c.n)}
	var mu sync.Mutex
	var firstErr error
	names := make(chan string)
	var wg sync.WaitGroup
	for range submitWorkers {
		wg.Go(func() {
			for name := range names {
				start := time.Now()
				gen, err := fn(ctx, name)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", name, err)
				}
				s.start[name], s.want[name] = start, gen
				mu.Unlock()
			}
		})
	}
	for i := range b.c.n {
		names <- appName(i)
	}
	close(names)
	wg.Wait()
	return s, firstErr
}

// measure runs one phase: snapshot, submit, wait until view covers every
// object, snapshot again; then it computes the phase's figures.
func (b *bench) measure(ctx context.Context, submit func(context.Context) (submitted, error),
	view func(map[string]int64) map[string]time.Time) (phaseResult, error) {
	b.sim.ResetStats()
	before, err := b.obs.snapshot(ctx)
	if err != nil {
		return phaseResult{}, err
	}
	s, err := submit(ctx)
	if err != nil {
		return phaseResult{}, err
	}
	submitEnd := time.Now()
	fmt.Fprintf(b.c.out, "  sent %d calls in %s\n", len(s.start), submitEnd.Sub(before.at).Round(100*time.Millisecond))
	waitCtx, cancel := context.WithTimeout(ctx, b.c.phaseTimeout)
	defer cancel()
	done, waitErr := waitFor(waitCtx, b.c.out, s.want, view, b.mgr.Done())
	after, err := b.obs.snapshot(ctx)
	if err != nil {
		return phaseResult{}, err
	}
	res := b.figures(before, after, s, submitEnd, done, b.sim.Stats())
	return res, waitErr
}
