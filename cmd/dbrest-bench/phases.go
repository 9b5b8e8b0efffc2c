package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// submitWorkers is how many creates or patches the bench sends at once:
// enough to keep the kube-apiserver busy, few enough not to starve the
// manager of it.
const submitWorkers = 16

// submitted is what a phase sent: when each object's call was sent and
// the generation (or, for deletion, any value) it waits for.
type submitted struct {
	start map[string]time.Time
	want  map[string]int64
	// own counts the phase's own writes by apiserver_request_total key,
	// and ownBytes their bodies by apiserver_request_body_size_bytes key,
	// to be subtracted from the manager's.
	own, ownBytes map[string]float64
}

func appName(i int) string { return fmt.Sprintf("app-%05d", i) }

// newDeployment is the Deployment the bench creates as name in ns; the
// ceiling creates the same.
func (b *bench) newDeployment(ns, name string) *dbrestv1.Deployment {
	return &dbrestv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: dbrestv1.DeploymentSpec{
			DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
			PollInterval:   &metav1.Duration{Duration: b.c.pollInterval},
			Application: dbrestv1.ApplicationSpec{Name: name, DeploymentPath: "/u01/apps/" + name + ".war",
				Targets: []string{"cluster1"}, Version: "v1"},
		},
	}
}

// redeployPatch is the change the redeploy phase makes to every Deployment.
var redeployPatch = []byte(`{"spec":{"application":{"version":"v2"}}}`)

func (b *bench) createPhase(ctx context.Context) (phaseResult, error) {
	return b.measure(ctx, func(ctx context.Context) (submitted, error) {
		s, err := b.forEach(ctx, func(ctx context.Context, name string) (int64, error) {
			d := b.newDeployment(b.ns, name)
			if err := b.k8s.Create(ctx, d); err != nil {
				return 0, err
			}
			return d.Generation, nil
		})
		s.own, s.ownBytes = ownWrites("create", b.c.n)
		return s, err
	}, b.tracker.readyAt)
}

func (b *bench) redeployPhase(ctx context.Context) (phaseResult, error) {
	patch := client.RawPatch(types.MergePatchType, redeployPatch)
	res, err := b.measure(ctx, func(ctx context.Context) (submitted, error) {
		if b.c.fault == fault503Storm {
			// From before the first patch, so every Deployment meets it.
			b.storm.begin(b.c.stormDuration)
		}
		s, err := b.forEach(ctx, func(ctx context.Context, name string) (int64, error) {
			d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}}
			if err := b.k8s.Patch(ctx, d, patch); err != nil {
				return 0, err
			}
			return d.Generation, nil
		})
		s.own, s.ownBytes = ownWrites("redeploy", b.c.n)
		return s, err
	}, b.tracker.readyAt)
	if b.c.fault == fault503Storm {
		st := b.storm.result(b.c.n)
		res.Storm = &st
	}
	return res, err
}

func (b *bench) deletePhase(ctx context.Context) (phaseResult, error) {
	// One DELETE per object, in parallel: a collection delete would be one
	// call, but the kube-apiserver works through it one object at a time.
	return b.measure(ctx, func(ctx context.Context) (submitted, error) {
		s, err := b.forEach(ctx, func(ctx context.Context, name string) (int64, error) {
			return 0, b.k8s.Delete(ctx, &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns}})
		})
		s.own, s.ownBytes = ownWrites("delete", b.c.n)
		return s, err
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
	if waitErr == nil {
		b.settle(ctx)
	}
	after, err := b.obs.snapshot(ctx)
	if err != nil {
		return phaseResult{}, err
	}
	res := b.figures(before, after, s, submitEnd, done, b.sim.Stats())
	return res, waitErr
}

// How settle waits: until no write for settleQuiet, at most settleMax.
const (
	settleQuiet = 500 * time.Millisecond
	settleMax   = 5 * time.Second
)

// settle waits until the kube-apiserver has received no write on
// Deployments or Events for settleQuiet, at most settleMax, so that the
// phase's counts hold all its writes: the manager sends the Event of an
// object's last step after the step, and it could otherwise land in the
// next phase (or nowhere, after the last). The phase's times are not
// affected; they end at each object's last change.
func (b *bench) settle(ctx context.Context) {
	keys := slices.Concat(objectKeys, statusKeys, eventCreateKeys, eventUpdateKeys)
	tick := time.NewTicker(settleQuiet)
	defer tick.Stop()
	last := -1.0
	for deadline := time.Now().Add(settleMax); time.Now().Before(deadline); {
		s, err := b.obs.serverSnapshot(ctx)
		if err != nil {
			return
		}
		writes := sumKeys(s.server, keys)
		if writes == last {
			return
		}
		last = writes
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
