package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/restapi"
)

// One owner per application per server. Two Deployments claim the same
// application when their DatabaseAPIs, in any namespace the manager
// watches, point at the same server (restapi.ServerIdentity of the url)
// and they name the same application. The oldest one owns it; the others
// make no call at all, so two objects can never send overlapping mutating
// calls for one application, nor undeploy what the other deployed.

func applicationKey(d *dbrestv1.Deployment) string {
	return d.Spec.DatabaseAPIRef.Name + "/" + d.Spec.Application.Name
}

// serverKey is the identity of a DatabaseAPI's server. A url that does
// not parse (the DatabaseAPI is then not Ready, and its Deployments make
// no call) gets a key of its own, shared with nobody.
func serverKey(api *dbrestv1.DatabaseAPI) string {
	if id, err := restapi.ServerIdentity(api.Spec.URL); err == nil {
		return id
	}
	return "invalid:" + api.Namespace + "/" + api.Name
}

// contends says whether d takes part in the contest for its application:
// an ObserveOnly Deployment only reads, so it neither owns nor loses.
func contends(d *dbrestv1.Deployment) bool {
	return d.Spec.ManagementPolicy != dbrestv1.ManagementObserveOnly
}

// owner names ("namespace/name") another Deployment that owns obj's
// application on obj's server, "" when obj owns it or does not contend.
// api is obj's DatabaseAPI, nil when it is missing.
func (r *DeploymentReconciler) owner(ctx context.Context, obj *dbrestv1.Deployment, api *dbrestv1.DatabaseAPI) (string, error) {
	if !contends(obj) {
		return "", nil
	}
	claimants, err := r.claimants(ctx, obj, api)
	if err != nil {
		return "", err
	}
	for i := range claimants {
		other := &claimants[i]
		if other.UID != obj.UID && contends(other) && owns(other, obj) {
			return other.Namespace + "/" + other.Name, nil
		}
	}
	return "", nil
}

// claimants lists the Deployments, obj included, that name obj's
// application on obj's server. Without a DatabaseAPI the server is
// unknown, and only the Deployments naming the same DatabaseAPI in obj's
// namespace are compared.
func (r *DeploymentReconciler) claimants(ctx context.Context, obj *dbrestv1.Deployment, api *dbrestv1.DatabaseAPI) ([]dbrestv1.Deployment, error) {
	apis := []types.NamespacedName{{Namespace: obj.Namespace, Name: obj.Spec.DatabaseAPIRef.Name}}
	if api != nil {
		peers, err := r.apisOnServer(ctx, serverKey(api))
		if err != nil {
			return nil, err
		}
		apis = append(apis[:0], peers...)
	}
	var out []dbrestv1.Deployment
	for _, a := range apis {
		var list dbrestv1.DeploymentList
		if err := r.List(ctx, &list, client.InNamespace(a.Namespace),
			client.MatchingFields{indexApplication: a.Name + "/" + obj.Spec.Application.Name}); err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
	}
	return out, nil
}

// apisOnServer lists the DatabaseAPIs, in every watched namespace, whose
// url has the server identity key.
func (r *DeploymentReconciler) apisOnServer(ctx context.Context, key string) ([]types.NamespacedName, error) {
	var list dbrestv1.DatabaseAPIList
	if err := r.List(ctx, &list, client.MatchingFields{indexServer: key}); err != nil {
		return nil, err
	}
	out := make([]types.NamespacedName, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, client.ObjectKeyFromObject(&list.Items[i]))
	}
	return out, nil
}

// owns says whether a takes precedence over b for their shared
// application: the older one, then the first by namespace and name, a
// rule every reconcile of either object computes alike.
func owns(a, b *dbrestv1.Deployment) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// rivals are the other Deployments that claim the same application on
// the same server as o: when o goes, one of them may own it now.
func (r *DeploymentReconciler) rivals(ctx context.Context, o client.Object) []reconcile.Request {
	d, ok := o.(*dbrestv1.Deployment)
	if !ok {
		return nil
	}
	var api *dbrestv1.DatabaseAPI
	if a, err := r.getAPI(ctx, d); err == nil {
		api = a
	}
	claimants, err := r.claimants(ctx, d, api)
	if err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(claimants))
	for i := range claimants {
		if claimants[i].UID != d.UID {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&claimants[i])})
		}
	}
	return reqs
}

// deploymentsOnServer are the Deployments of every DatabaseAPI on the
// same server as o (o's own included): when a DatabaseAPI appears, goes
// or changes its url, the owner of an application may change.
func (r *DeploymentReconciler) deploymentsOnServer(ctx context.Context, o client.Object) []reconcile.Request {
	api, ok := o.(*dbrestv1.DatabaseAPI)
	if !ok {
		return nil
	}
	peers, err := r.apisOnServer(ctx, serverKey(api))
	if err != nil {
		return nil
	}
	seen := map[types.NamespacedName]bool{client.ObjectKeyFromObject(api): true}
	reqs := r.deploymentsUsing(ctx, api)
	for _, p := range peers {
		if seen[p] {
			continue
		}
		seen[p] = true
		stub := &dbrestv1.DatabaseAPI{}
		stub.Namespace, stub.Name = p.Namespace, p.Name
		reqs = append(reqs, r.deploymentsUsing(ctx, stub)...)
	}
	return reqs
}
