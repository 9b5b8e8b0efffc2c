package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

func applicationKey(d *dbrestv1.Deployment) string {
	return d.Spec.DatabaseAPIRef.Name + "/" + d.Spec.Application.Name
}

// owner names another Deployment that owns the same application on the
// same DatabaseAPI, "" when obj owns it. The oldest one (then the first
// by name) owns it; the others make no call at all, so two objects can
// never send overlapping mutating calls for one application, nor undeploy
// what the other deployed.
func (r *DeploymentReconciler) owner(ctx context.Context, obj *dbrestv1.Deployment) (string, error) {
	var list dbrestv1.DeploymentList
	if err := r.List(ctx, &list, client.InNamespace(obj.Namespace),
		client.MatchingFields{indexApplication: applicationKey(obj)}); err != nil {
		return "", err
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == obj.UID || !owns(other, obj) {
			continue
		}
		return other.Name, nil
	}
	return "", nil
}

// owns says whether a takes precedence over b for their shared application.
func owns(a, b *dbrestv1.Deployment) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
