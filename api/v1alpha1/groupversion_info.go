// Package v1alpha1 holds the apps.dbrest.io/v1alpha1 API: Deployment, which
// says what application to deploy through a database REST API, and
// DatabaseAPI, which says how to reach that API.
//
// +kubebuilder:object:generate=true
// +groupName=apps.dbrest.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "apps.dbrest.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
