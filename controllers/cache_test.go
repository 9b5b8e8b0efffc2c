package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

func TestStripUnusedFields(t *testing.T) {
	g := NewWithT(t)
	strip := StripUnusedFields()
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	lastApplied := `{"apiVersion":"v1","kind":"Secret","data":{"password":"c2VjcmV0"}}`

	// A Secret's metadata as the metadata-only informer decodes it keeps
	// its identity and version, nothing else.
	in := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "creds", Namespace: "ns", UID: "u-1", ResourceVersion: "7", ManagedFields: managed,
			Labels:      map[string]string{"owner": "helm"},
			Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: lastApplied, "team": "a"},
		},
	}
	out, err := strip(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(&metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns", ResourceVersion: "7"},
	}))

	// The operator's own kinds lose managed fields and last-applied only.
	d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders", ManagedFields: managed,
		Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}", "team": "a"}}}
	_, err = strip(d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.ManagedFields).To(BeNil())
	g.Expect(d.Annotations).To(Equal(map[string]string{"team": "a"}))

	// Unstructured objects return a copy of their annotations.
	u := &unstructured.Unstructured{}
	u.SetAnnotations(map[string]string{corev1.LastAppliedConfigAnnotation: "{}", "keep": "me"})
	_, err = strip(u)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(u.GetAnnotations()).To(Equal(map[string]string{"keep": "me"}))

	// A tombstone is passed through.
	tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/creds", Obj: in}
	out, err = strip(tomb)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(tomb))
}

func TestCacheOptions(t *testing.T) {
	g := NewWithT(t)
	all := CacheOptions(cache.Options{}, nil)
	g.Expect(all.DefaultNamespaces).To(BeEmpty(), "no namespaces: all of them")
	g.Expect(all.DefaultTransform).NotTo(BeNil())

	shard := cache.Options{ByObject: map[client.Object]cache.ByObject{&dbrestv1.Deployment{}: {}}}
	some := CacheOptions(shard, []string{"team-a", "team-b"})
	g.Expect(some.DefaultNamespaces).To(HaveLen(2))
	g.Expect(some.DefaultNamespaces).To(HaveKey("team-a"))
	g.Expect(some.DefaultNamespaces).To(HaveKey("team-b"))
	g.Expect(some.ByObject).To(HaveLen(1), "a shard's selection is kept")

	disabled := ClientOptions().Cache.DisableFor
	g.Expect(disabled).To(ContainElements(&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.Namespace{}))
}
