package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// The ceiling. After the phases, with the manager stopped, the bench
// sends the kube-apiserver the writes of each phase again with no
// operator: the bench's own N writes, then for each Deployment the
// manager's writes as measured in that phase (object patches, status
// patches, Event creates and series updates, in the same numbers and with
// bodies of the same mean size), from as many workers as the manager
// has reconcilers. Its time is the least the control plane needs for the
// phase; the operator's time divided by it says how much of the phase is
// the operator's own.

// ceilingNamespace holds the ceiling's objects, apart from the bench's.
const ceilingNamespace = "bench-ceiling"

// managerFieldOwner is the manager's field manager (its user agent), so
// the ceiling's objects carry the same managed fields as the operator's.
const managerFieldOwner = "dbrest-operator"

// ceilingResult is how long the kube-apiserver took one phase's writes
// with no operator.
type ceilingResult struct {
	Seconds float64 `json:"seconds"`
	// Writes counts the writes sent (the bench's own N and the manager's
	// replayed), as the kube-apiserver counted them.
	Writes          int     `json:"writes"`
	WritesPerSecond float64 `json:"writesPerSecond"`
	// Ratio is the operator's wall time divided by Seconds.
	Ratio float64 `json:"operatorOverCeiling"`
	// Replayed is the manager's writes per Deployment that the ceiling
	// sent, by kind, as the kube-apiserver counted them.
	Replayed writeCounts `json:"replayedWritesPerDeployment"`
	// StatusPatchBytes and EventBytes are the mean bodies the
	// kube-apiserver received from the ceiling, to compare with the
	// manager's.
	StatusPatchBytes int `json:"statusPatchBytes"`
	EventBytes       int `json:"eventBytes"`
	// Workers is how many sent the manager's writes at once.
	Workers int `json:"workers"`
}

// ceilingRun is what the ceiling's phases share: the Events client, and
// per object its UID (for the Events' references) and whether it holds
// the finalizer. Object i is handled by one worker at a time, and the
// phases follow one another, so the slices need no lock.
type ceilingRun struct {
	b         *bench
	events    eventsv1client.EventsV1Interface
	n         int
	uid       []types.UID
	finalizer []bool
}

// ceiling measures every phase of rep again with no operator and stores
// the result in it. The manager must be stopped.
func (b *bench) ceiling(ctx context.Context, rep *report) (err error) {
	fmt.Fprintf(b.c.out, "ceiling: the same writes with the manager stopped (%d workers)...\n", b.c.concurrency)
	// Events go through client-go's typed client, in JSON, as the
	// manager's event recorder sends them.
	events, err := eventsv1client.NewForConfig(b.cfg)
	if err != nil {
		return err
	}
	if err := b.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ceilingNamespace}}); err != nil {
		return fmt.Errorf("creating the ceiling's namespace: %w", err)
	}
	r := &ceilingRun{b: b, events: events, n: b.c.n, uid: make([]types.UID, b.c.n), finalizer: make([]bool, b.c.n)}
	defer func() { err = errors.Join(err, r.cleanup(context.WithoutCancel(ctx))) }()
	// The operator's run had two watches on the Deployments, the manager's
	// cache and the bench's tracker; sending each write to its watchers is
	// part of its cost.
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	for range 2 {
		if _, err := startTracker(watchCtx, b.cfg, ceilingNamespace); err != nil {
			return err
		}
	}
	for i := range rep.Phases {
		p := &rep.Phases[i]
		if p.Name == "delete" {
			if err := r.prepareDelete(ctx, p.mix); err != nil {
				return err
			}
		}
		res, err := r.replay(ctx, p)
		if err != nil {
			return fmt.Errorf("ceiling %s: %w", p.Name, err)
		}
		res.Ratio = p.Wall / res.Seconds
		p.Ceiling = &res
		fmt.Fprintf(b.c.out, "  %s: %d writes in %.1f s (%.0f writes/s); the operator took %.2f times as long\n",
			p.Name, res.Writes, res.Seconds, res.WritesPerSecond, res.Ratio)
	}
	return nil
}

// ownWrites is the bench's own writes in a phase of n Deployments, by
// apiserver_request_total key and by apiserver_request_body_size_bytes
// key where they share one with the manager's.
func ownWrites(phase string, n int) (own, ownBytes map[string]float64) {
	switch phase {
	case "create":
		return map[string]float64{"POST deployments": float64(n)}, nil
	case "redeploy":
		return map[string]float64{"PATCH deployments": float64(n)},
			map[string]float64{bodyDeploymentPatch: float64(n * len(redeployPatch))}
	default:
		return map[string]float64{"DELETE deployments": float64(n)}, nil
	}
}

// replay sends one phase's writes: the bench's own from submitWorkers, and
// each object's share of the manager's, once its own write is done, from
// the manager's number of workers. Events are sent without waiting, as
// the manager's recorder does.
func (r *ceilingRun) replay(parent context.Context, p *phaseResult) (ceilingResult, error) {
	status, err := newStatusBody(p.Name, p.sample, p.mix.statusBytes)
	if err != nil {
		return ceilingResult{}, err
	}
	before, err := r.b.obs.serverSnapshot(parent)
	if err != nil {
		return ceilingResult{}, err
	}
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	var once sync.Once
	fail := func(err error) { once.Do(func() { cancel(err) }) }
	ev := r.newEventBody(p)

	indexes := make(chan int)
	// Buffered like the manager's queue, so the bench's writes never wait
	// for the manager's.
	queued := make(chan int, r.n)
	var senders, workers, events sync.WaitGroup
	start := time.Now()
	for range submitWorkers {
		senders.Go(func() {
			for i := range indexes {
				if err := r.own(ctx, p.Name, i); err != nil {
					fail(fmt.Errorf("%s: %w", appName(i), err))
					continue
				}
				queued <- i
			}
		})
	}
	for range r.b.c.concurrency {
		workers.Go(func() {
			for i := range queued {
				if err := r.manager(ctx, p, i, status, ev, &events, fail); err != nil {
					fail(fmt.Errorf("%s: %w", appName(i), err))
				}
			}
		})
	}
feed:
	for i := range r.n {
		select {
		case indexes <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(indexes)
	senders.Wait()
	close(queued)
	workers.Wait()
	events.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return ceilingResult{}, err
	}
	after, err := r.b.obs.serverSnapshot(parent)
	if err != nil {
		return ceilingResult{}, err
	}
	server, body := delta(before.server, after.server), delta(before.bodyBytes, after.bodyBytes)
	own, ownBytes := ownWrites(p.Name, r.n)
	for k, v := range own {
		server[k] -= v
	}
	for k, v := range ownBytes {
		body[k] -= v
	}
	mix := mixOf(server, body, len(finalizerPatch(p.Name != "delete")))
	res := ceilingResult{
		Seconds: elapsed.Seconds(), Writes: r.n + mix.total(), Replayed: mix.perDeployment(r.n),
		StatusPatchBytes: mix.statusBytes, EventBytes: mix.eventBytes, Workers: r.b.c.concurrency,
	}
	res.WritesPerSecond = float64(res.Writes) / res.Seconds
	return res, nil
}

// own sends the bench's write of phase for object i.
func (r *ceilingRun) own(ctx context.Context, phase string, i int) error {
	switch phase {
	case "create":
		d := r.b.newDeployment(ceilingNamespace, appName(i))
		if err := r.b.k8s.Create(ctx, d); err != nil {
			return err
		}
		r.uid[i], r.finalizer[i] = d.UID, controllerutil.ContainsFinalizer(d, dbrestv1.FinalizerName)
		return nil
	case "redeploy":
		return r.b.k8s.Patch(ctx, r.object(i), client.RawPatch(types.MergePatchType, redeployPatch))
	default:
		return r.b.k8s.Delete(ctx, r.object(i))
	}
}

// manager sends object i's share of the manager's writes in phase p: in
// the create phase the object patch (the finalizer) first; then status
// patches, each followed by an Event; in the other phases the object
// patches last (in the delete phase the last removes the finalizer).
func (r *ceilingRun) manager(ctx context.Context, p *phaseResult, i int, status statusBody, ev eventBody,
	events *sync.WaitGroup, fail func(error)) error {
	objects := share(p.mix.objectPatches, r.n, i)
	statuses := share(p.mix.statusPatches, r.n, i)
	creates := share(p.mix.eventCreates, r.n, i)
	// Series updates go to objects that have an Event of their own: the
	// first min(eventCreates, N).
	var updates int
	if withEvents := min(p.mix.eventCreates, r.n); i < withEvents {
		updates = share(p.mix.eventPatches, withEvents, i)
	}
	patchObjects := func() error {
		for k := range objects {
			if err := r.objectPatch(ctx, p.Name, i, k, k == objects-1); err != nil {
				return err
			}
		}
		return nil
	}
	if p.Name == "create" {
		if err := patchObjects(); err != nil {
			return err
		}
	}
	for k := range max(statuses, creates) {
		if k < statuses {
			err := r.b.k8s.Status().Patch(ctx, r.object(i), client.RawPatch(types.MergePatchType, status.at(k)),
				client.FieldOwner(managerFieldOwner))
			if err != nil {
				return err
			}
		}
		if k < creates {
			series := 0
			if k == creates-1 {
				series = updates
			}
			events.Go(func() {
				if err := r.sendEvent(ctx, ev, i, series); err != nil {
					fail(fmt.Errorf("%s: event: %w", appName(i), err))
				}
			})
		}
	}
	if p.Name != "create" {
		return patchObjects()
	}
	return nil
}

// objectPatch sends object patch k of object i: the finalizer's addition
// when the object lacks it (create, redeploy), its removal when it is the
// object's last patch of the delete phase, and otherwise an annotation,
// so that every patch changes the object as the manager's do.
func (r *ceilingRun) objectPatch(ctx context.Context, phase string, i, k int, last bool) error {
	var body []byte
	switch {
	case phase == "delete" && last && r.finalizer[i]:
		body = finalizerPatch(false)
	case phase != "delete" && !r.finalizer[i]:
		body = finalizerPatch(true)
	default:
		body = fmt.Appendf(nil, `{"metadata":{"annotations":{"bench.dbrest.io/step":"%s-%d"}}}`, phase, k)
	}
	d := r.object(i)
	err := r.b.k8s.Patch(ctx, d, client.RawPatch(types.MergePatchType, body), client.FieldOwner(managerFieldOwner))
	if err != nil {
		return err
	}
	r.finalizer[i] = controllerutil.ContainsFinalizer(d, dbrestv1.FinalizerName)
	return nil
}

// finalizerPatch is the manager's merge patch that adds its finalizer to
// a Deployment with none, or removes it from one that holds only it.
func finalizerPatch(add bool) []byte {
	if add {
		return []byte(`{"metadata":{"finalizers":["` + dbrestv1.FinalizerName + `"]}}`)
	}
	return []byte(`{"metadata":{"finalizers":null}}`)
}

// prepareDelete gives the finalizer to the objects that remove it in the
// delete phase, and takes it from the others, so that every delete ends
// with the object gone, as in the operator's run. It is not timed; with
// the mix of the current controller it has nothing to do.
func (r *ceilingRun) prepareDelete(ctx context.Context, mix writeMix) error {
	return parallel(ctx, r.b.c.concurrency, r.n, func(ctx context.Context, i int) error {
		want := share(mix.objectPatches, r.n, i) > 0
		if r.finalizer[i] == want {
			return nil
		}
		d := r.object(i)
		if err := r.b.k8s.Patch(ctx, d, client.RawPatch(types.MergePatchType, finalizerPatch(want))); err != nil {
			return err
		}
		r.finalizer[i] = want
		return nil
	})
}

func (r *ceilingRun) object(i int) *dbrestv1.Deployment {
	return &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: appName(i), Namespace: ceilingNamespace}}
}

// cleanup deletes what the ceiling created: any Deployment left (its
// finalizer removed first), the Events and the namespace. envtest runs no
// namespace controller, so the namespace itself stays Terminating until
// the control plane stops.
func (r *ceilingRun) cleanup(ctx context.Context) error {
	var list dbrestv1.DeploymentList
	if err := r.b.k8s.List(ctx, &list, client.InNamespace(ceilingNamespace)); err != nil {
		return fmt.Errorf("listing the ceiling's Deployments: %w", err)
	}
	err := parallel(ctx, submitWorkers, len(list.Items), func(ctx context.Context, i int) error {
		d := &list.Items[i]
		if len(d.Finalizers) > 0 {
			if err := r.b.k8s.Patch(ctx, d, client.RawPatch(types.MergePatchType, finalizerPatch(false))); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
		return client.IgnoreNotFound(r.b.k8s.Delete(ctx, d))
	})
	if err != nil {
		return fmt.Errorf("deleting the ceiling's Deployments: %w", err)
	}
	if err := r.events.Events(ceilingNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("deleting the ceiling's Events: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ceilingNamespace}}
	if err := r.b.k8s.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the ceiling's namespace: %w", err)
	}
	return nil
}

// parallel calls fn for 0..n-1 from workers goroutines and returns the
// first error.
func parallel(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}
