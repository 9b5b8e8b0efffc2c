package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// Field indexes, so that a change of a Secret or a DatabaseAPI finds the
// objects that use it in the cache instead of listing them all.
const (
	// indexDatabaseAPI indexes Deployments by spec.databaseAPIRef.name.
	indexDatabaseAPI = ".spec.databaseAPIRef.name"
	// indexApplication indexes Deployments by "databaseAPI/application",
	// to find two Deployments that claim the same application.
	indexApplication = ".spec.application.key"
	// indexServer indexes DatabaseAPIs by the identity of their server
	// (restapi.ServerIdentity of spec.url), to find the Deployments that
	// claim one application on one server through several DatabaseAPIs.
	indexServer = ".spec.url.identity"
	// indexReferencedObject indexes DatabaseAPIs by the Secrets and
	// ConfigMaps they read, as "Secret/name" and "ConfigMap/name".
	indexReferencedObject = ".spec.referencedObjects"
)

// SetupIndexes registers the field indexes both reconcilers use.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &dbrestv1.Deployment{}, indexDatabaseAPI, func(o client.Object) []string {
		return []string{o.(*dbrestv1.Deployment).Spec.DatabaseAPIRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &dbrestv1.Deployment{}, indexApplication, func(o client.Object) []string {
		return []string{applicationKey(o.(*dbrestv1.Deployment))}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &dbrestv1.DatabaseAPI{}, indexServer, func(o client.Object) []string {
		return []string{serverKey(o.(*dbrestv1.DatabaseAPI))}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &dbrestv1.DatabaseAPI{}, indexReferencedObject, func(o client.Object) []string {
		return referencedObjects(o.(*dbrestv1.DatabaseAPI))
	})
}

func referencedObjects(api *dbrestv1.DatabaseAPI) []string {
	refs := []string{"Secret/" + api.Spec.CredentialsSecretRef.Name}
	if ca := api.Spec.CABundleRef; ca != nil {
		refs = append(refs, kindOrDefault(ca.Kind)+"/"+ca.Name)
	}
	return refs
}

func kindOrDefault(kind string) string {
	if kind == "" {
		return "ConfigMap"
	}
	return kind
}

// SetupWithManager registers the DatabaseAPI reconciler: it reacts to
// spec changes and to changes of the Secrets and ConfigMaps it reads.
func (r *DatabaseAPIReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	r.retries = newRetryTracker(r.Backoff)
	r.probes = newProbeFlights()
	// Probes on their way are cancelled when the manager stops, and when
	// their DatabaseAPI is deleted.
	if err := stopWithManager(mgr, r.probes.stop); err != nil {
		return err
	}
	inf, err := mgr.GetCache().GetInformer(context.Background(), &dbrestv1.DatabaseAPI{})
	if err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		DeleteFunc: func(o any) {
			if api, ok := deletedObject(o).(*dbrestv1.DatabaseAPI); ok {
				r.probes.forget(api.UID)
			}
		},
	}); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("databaseapi").
		For(&dbrestv1.DatabaseAPI{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{})))
	if r.wake != nil {
		// A circuit that opened, closed or moved its next probe.
		b = b.WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{}))
	}
	return b.
		// A probe that ended without a worker waiting for it.
		WatchesRawSource(source.TypedChannel(r.probes.wakes, wakeHandler())).
		// Metadata only: a change's name and namespace are all the map
		// needs, and the registry reads the data of the few objects in use
		// uncached, so no other Secret's data is ever held in memory.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.apisReading("Secret"))).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.apisReading("ConfigMap"))).
		WithOptions(opts).
		Complete(r)
}

func (r *DatabaseAPIReconciler) apisReading(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return apisReferencing(ctx, r.Client, kind, o)
	}
}

func apisReferencing(ctx context.Context, c client.Reader, kind string, o client.Object) []reconcile.Request {
	var list dbrestv1.DatabaseAPIList
	if err := c.List(ctx, &list, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexReferencedObject: kind + "/" + o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// SetupWithManager registers the Deployment reconciler. Its own status
// writes do not trigger it (generation predicate), so a poll happens when
// RequeueAfter says, not when the status patch lands. A DatabaseAPI, or a
// Secret it reads, triggers the Deployments that use it.
func (r *DeploymentReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	r.retries = newRetryTracker(r.Options.Backoff)
	r.writes = newWriteTracker()
	r.sends = newSendTracker()
	limit := r.Options.MaxRequestsInFlight
	if limit <= 0 {
		limit = defaultMaxRequestsInFlight
	}
	r.flights = newFlightTracker[flightKey, answer](limit)
	// Requests on their way are cancelled when the manager stops; their
	// intents, written before they left, say what was sent.
	if err := stopWithManager(mgr, r.flights.stop); err != nil {
		return err
	}
	// The write tracker learns from the informer itself when the cache has
	// caught up with our writes, whatever the predicates below let through.
	inf, err := mgr.GetCache().GetInformer(context.Background(), &dbrestv1.Deployment{})
	if err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, o any) {
			if d, ok := o.(*dbrestv1.Deployment); ok {
				r.writes.seen(d.UID, d.ResourceVersion)
			}
		},
		DeleteFunc: func(o any) {
			if d, ok := deletedObject(o).(*dbrestv1.Deployment); ok {
				r.writes.forget(d.UID)
				r.flights.forget(d.UID)
			}
		},
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("deployment").
		For(&dbrestv1.Deployment{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&dbrestv1.DatabaseAPI{}, handler.EnqueueRequestsFromMapFunc(r.deploymentsUsing),
			builder.WithPredicates(databaseAPIReadinessChanged())).
		// A DatabaseAPI that appears, goes or changes its url may change
		// who owns an application on its server: wake every Deployment
		// on that server (the old url's and the new one's).
		Watches(&dbrestv1.DatabaseAPI{}, handler.EnqueueRequestsFromMapFunc(r.deploymentsOnServer),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// When a Deployment goes, another one that lost the Conflict for
		// its application may own it now: wake it at once.
		Watches(&dbrestv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.rivals),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(ctrlevent.CreateEvent) bool { return false },
				UpdateFunc:  func(ctrlevent.UpdateEvent) bool { return false },
				GenericFunc: func(ctrlevent.GenericEvent) bool { return false },
			})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.deploymentsReading("Secret"))).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.deploymentsReading("ConfigMap"))).
		// The answer of a request that went on without its worker.
		WatchesRawSource(source.TypedChannel(r.flights.wakes, wakeHandler())).
		WithOptions(opts).
		Complete(r)
}

// defaultMaxRequestsInFlight is DeploymentOptions.MaxRequestsInFlight's
// default.
const defaultMaxRequestsInFlight = 1024

func (r *DeploymentReconciler) deploymentsUsing(ctx context.Context, o client.Object) []reconcile.Request {
	var list dbrestv1.DeploymentList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexDatabaseAPI: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

func (r *DeploymentReconciler) deploymentsReading(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		apis := apisReferencing(ctx, r.Client, kind, o)
		reqs := make([]reconcile.Request, 0, len(apis))
		for _, api := range apis {
			stub := &dbrestv1.DatabaseAPI{}
			stub.Namespace, stub.Name = api.Namespace, api.Name
			reqs = append(reqs, r.deploymentsUsing(ctx, stub)...)
		}
		return reqs
	}
}

// databaseAPIReadinessChanged lets through a DatabaseAPI event only when
// its Deployments may act differently: created, deleted, spec changed, or
// Ready changed status or reason. Probe results that change nothing do not
// wake thousands of Deployments.
func databaseAPIReadinessChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e ctrlevent.UpdateEvent) bool {
			oldAPI, ok1 := e.ObjectOld.(*dbrestv1.DatabaseAPI)
			newAPI, ok2 := e.ObjectNew.(*dbrestv1.DatabaseAPI)
			if !ok1 || !ok2 {
				return false
			}
			if oldAPI.Generation != newAPI.Generation {
				return true
			}
			o := meta.FindStatusCondition(oldAPI.Status.Conditions, dbrestv1.ReadyCondition)
			n := meta.FindStatusCondition(newAPI.Status.Conditions, dbrestv1.ReadyCondition)
			if o == nil || n == nil {
				return o != n
			}
			return o.Status != n.Status || o.Reason != n.Reason
		},
	}
}

// stopWithManager runs stop when the manager stops.
func stopWithManager(mgr ctrl.Manager, stop func()) error {
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		stop()
		return nil
	}))
}

// deletedObject is the object of an informer's delete event, also when
// the informer missed the delete and knows only the last state it saw.
func deletedObject(o any) any {
	if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return o
}
