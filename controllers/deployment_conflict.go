package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
)

func applicationKey(d *dbrestv1.Deployment) string {
	return d.Spec.DatabaseAPIRef.Name + "/" + d.Spec.Application.Name
}

// conflict returns a step when another Deployment owns the same
// application on the same DatabaseAPI. The oldest one (then the first by
// name) owns it; the others make no call at all, so two objects can never
// send overlapping mutating calls for one application, nor undeploy what
// the other deployed.
func (r *DeploymentReconciler) conflict(ctx context.Context, obj *dbrestv1.Deployment) (*step, error) {
	var list dbrestv1.DeploymentList
	if err := r.List(ctx, &list, client.InNamespace(obj.Namespace),
		client.MatchingFields{indexApplication: applicationKey(obj)}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == obj.UID || !owns(other, obj) {
			continue
		}
		return &step{phase: conditions.Stalled, reason: dbrestv1.ReasonConflict, message: fmt.Sprintf(
			"application %q on DatabaseAPI %q is managed by Deployment %q; this one makes no calls",
			obj.Spec.Application.Name, obj.Spec.DatabaseAPIRef.Name, other.Name)}, nil
	}
	return nil, nil
}

// owns says whether a takes precedence over b for their shared application.
func owns(a, b *dbrestv1.Deployment) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
