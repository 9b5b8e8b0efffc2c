package controllers_test

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// Field managers of the writes in this test: kubectl's own names, so the
// managedFields read as they would on a cluster.
const (
	managerServerSide = "kubectl"
	managerClientSide = "kubectl-client-side-apply"
)

// operatorFieldManager is the field manager the API server records for the
// operator's writes: with no explicit manager, the user agent up to its
// first "/". The test managers use the rest config's default user agent
// (for example "controllers.test"); the shipped binary sets its user agent
// to "dbrest-operator", which is then the manager name on a cluster.
func operatorFieldManager() string {
	ua := restConfig.UserAgent
	if ua == "" {
		ua = rest.DefaultKubernetesUserAgent()
	}
	return strings.SplitN(ua, "/", 2)[0]
}

// manifest is a Deployment as a user keeps it in Git: only the fields
// they set, so the API server's defaults (detached, timeout,
// deletionPolicy) are not in it.
func (f *fixture) manifest(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": dbrestv1.GroupVersion.String(),
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name, "namespace": f.ns, "labels": map[string]any{"team": "shop"}},
		"spec": map[string]any{
			"databaseAPIRef": map[string]any{"name": "db"},
			"pollInterval":   "1s",
			"application": map[string]any{
				"name": name, "deploymentPath": "/apps/" + name + "-1.0.war",
				"targets": []any{"cluster2", "cluster1"}, "properties": map[string]any{"heap": "512m"},
			},
		},
	}}
}

// applyManifest is `kubectl apply --server-side --force-conflicts`; it
// returns the object the API server answered with.
func (f *fixture) applyManifest(name string, opts ...client.ApplyOption) *unstructured.Unstructured {
	f.t.Helper()
	u := f.manifest(name)
	opts = append([]client.ApplyOption{client.FieldOwner(managerServerSide), client.ForceOwnership}, opts...)
	f.g.Expect(k8s.Apply(f.ctx, client.ApplyConfigurationFromUnstructured(u), opts...)).To(Succeed())
	return u
}

func TestServerSideApply(t *testing.T) {
	f := newFixture(t)
	f.applyManifest("orders")
	f.waitReady("orders")
	live := f.get("orders")

	// Applying the same manifest again is a no-op: no new resourceVersion,
	// so no watch event, no reconcile, nothing for GitOps to report.
	again := f.applyManifest("orders")
	f.g.Expect(again.GetResourceVersion()).To(Equal(live.ResourceVersion))
	f.g.Expect(again.GetGeneration()).To(Equal(live.Generation))

	// `kubectl diff --server-side` is a dry-run apply compared with the
	// live object: the same version comes back, so the diff is empty.
	dry := f.applyManifest("orders", client.DryRunAll)
	liveU := &unstructured.Unstructured{}
	liveU.SetGroupVersionKind(dbrestv1.GroupVersion.WithKind("Deployment"))
	f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "orders"}, liveU)).To(Succeed())
	f.g.Expect(dry.GetResourceVersion()).To(Equal(liveU.GetResourceVersion()))
	f.g.Expect(dry.Object["spec"]).To(Equal(liveU.Object["spec"]))
	f.g.Expect(dry.GetLabels()).To(Equal(liveU.GetLabels()))
	f.g.Expect(dry.GetFinalizers()).To(Equal(liveU.GetFinalizers()))

	// Client-side: an Update carrying the manifest's spec (without the
	// server's defaults, which the API server fills in again) and a merge
	// patch of the whole manifest, as kubectl sends for an object it did
	// not create. Neither changes the spec, so the generation stays.
	var spec dbrestv1.DeploymentSpec
	f.g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(
		f.manifest("orders").Object["spec"].(map[string]any), &spec)).To(Succeed())
	d := f.get("orders")
	d.Spec = spec
	f.g.Expect(k8s.Update(f.ctx, d, client.FieldOwner(managerClientSide))).To(Succeed())
	f.g.Expect(d.Generation).To(Equal(live.Generation))
	f.g.Expect(d.Spec).To(Equal(live.Spec))

	body, err := json.Marshal(f.manifest("orders").Object)
	f.g.Expect(err).NotTo(HaveOccurred())
	d = f.get("orders")
	f.g.Expect(k8s.Patch(f.ctx, d, client.RawPatch(types.MergePatchType, body), client.FieldOwner(managerClientSide))).To(Succeed())
	f.g.Expect(d.Generation).To(Equal(live.Generation))
	f.g.Expect(d.Spec).To(Equal(live.Spec))

	// Nothing made the operator act again: still Ready, same generation.
	f.waitReady("orders")
	f.expectOperatorOwnsNoSpec("orders")
}

// expectOperatorOwnsNoSpec checks the operator's managedFields entries:
// the finalizer and the status, never a spec field, so it cannot conflict
// with (or be overwritten by) a user's or a GitOps tool's apply.
func (f *fixture) expectOperatorOwnsNoSpec(name string) {
	f.t.Helper()
	operator := operatorFieldManager()
	var entries []metav1.ManagedFieldsEntry
	for _, e := range f.get(name).ManagedFields {
		if e.Manager == operator {
			entries = append(entries, e)
		} else {
			// Every other writer of this object is this test, as kubectl.
			f.g.Expect(e.Manager).To(HavePrefix(managerServerSide), "unexpected field manager %q", e.Manager)
		}
	}
	var status, finalizers bool
	for _, e := range entries {
		var fields map[string]map[string]any
		f.g.Expect(json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields)).To(Succeed())
		f.g.Expect(fields).NotTo(HaveKey("f:spec"), "the operator owns spec fields: %s", e.FieldsV1.GetRawString())
		f.g.Expect(e.Operation).To(Equal(metav1.ManagedFieldsOperationUpdate))
		status = status || (e.Subresource == "status" && fields["f:status"] != nil)
		_, hasFinalizers := fields["f:metadata"]["f:finalizers"]
		finalizers = finalizers || (e.Subresource == "" && hasFinalizers)
	}
	// Both writes are found under the operator's name, so the check above
	// looked at the right manager.
	f.g.Expect(status).To(BeTrue(), "no status entry by %q in %v", operator, entries)
	f.g.Expect(finalizers).To(BeTrue(), "no finalizer entry by %q in %v", operator, entries)
}
