// Package v1alpha1 holds the apps.dbrest.io/v1alpha1 API: Deployment, which
// says what application to deploy through a database REST API, and
// DatabaseAPI, which says how to reach that API.
//
// +kubebuilder:object:generate=true
// +groupName=apps.dbrest.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "apps.dbrest.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	// It depends on apimachinery only, so the API package stays light to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Deployment{}, &DeploymentList{}, &DatabaseAPI{}, &DatabaseAPIList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
