package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions completes base (which may already select Deployments by
// label, for a shard) with what the reconcilers need from the cache, and
// no more:
//
//   - namespaces, when given, are the only ones cached and watched, for
//     every kind: a manager limited to them needs Roles in them, no
//     ClusterRole. None means all namespaces.
//   - Every cached object drops its managed fields and kubectl's
//     last-applied annotation (StripUnusedFields). Only metadata of
//     Secrets and ConfigMaps is cached (Setup's watches), and the
//     annotation of a Secret applied with kubectl holds its whole data.
//
// The manager binary and the playground share it, so both run the cache
// that ships.
func CacheOptions(base cache.Options, namespaces []string) cache.Options {
	if len(namespaces) > 0 {
		base.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			base.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	base.DefaultTransform = StripUnusedFields()
	return base
}

// ClientOptions makes the manager's client read Secrets, ConfigMaps and
// Namespaces from the API server, never from the cache. Through a cached
// client, a Get of a whole Secret would start an informer that lists and
// keeps every Secret in reach; the connection registry reads the few it
// needs uncached, when their version changes. A Namespace is read only
// when a Deployment is deleted while blocked, and a manager limited to
// some namespaces may get a namespace but not list them all.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{
		DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Namespace{}},
	}}
}

// StripUnusedFields returns the cache transform that removes what no
// reconciler reads:
//
//   - from an object cached as metadata only (the Secrets and ConfigMaps
//     of every namespace, most of them other people's), everything but its
//     name, namespace and resourceVersion: that is all the watches' map
//     functions and the connection registry read, and labels and
//     annotations may be large and may hold data;
//   - from every other object, managedFields and the
//     kubectl.kubernetes.io/last-applied-configuration annotation, a copy
//     of the whole object as last applied. The operator writes only merge
//     patches, which carry just the fields it changes, so what is
//     stripped from the cached copy is never written back.
func StripUnusedFields() toolscache.TransformFunc {
	stripManaged := cache.TransformStripManagedFields()
	return func(in any) (any, error) {
		if m, ok := in.(*metav1.PartialObjectMetadata); ok {
			// A new object, so that nothing else of the decoded one is
			// kept alive.
			return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
				Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion,
			}}, nil
		}
		out, err := stripManaged(in)
		if err != nil {
			return out, err
		}
		obj, ok := out.(metav1.Object)
		if !ok {
			return out, nil // not an object (a tombstone): nothing to strip
		}
		// The object is freshly decoded and not yet shared: changing it
		// in place is what transforms are for. SetAnnotations because an
		// unstructured object's GetAnnotations returns a copy.
		a := obj.GetAnnotations()
		if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
			delete(a, corev1.LastAppliedConfigAnnotation)
			obj.SetAnnotations(a)
		}
		return out, nil
	}
}
