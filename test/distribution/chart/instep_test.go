package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/dbrest-io/dbrest-operator/config/installer"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// The chart reads these copies of config/ files; `make chart` writes them.
var copies = map[string]string{
	"files/rbac/role.yaml":                 "config/rbac/role.yaml",
	"files/rbac/leader_election_role.yaml": "config/rbac/leader_election_role.yaml",
	"files/rbac/metrics_auth_role.yaml":    "config/rbac/metrics_auth_role.yaml",
	"files/rbac/metrics_reader_role.yaml":  "config/rbac/metrics_reader_role.yaml",
	"files/prometheus/rules.yaml":          "config/prometheus/rules.yaml",
	"files/grafana/dbrest-operator.json":   "config/grafana/dbrest-operator.json",
}

// TestCopiesAreCurrent fails when config/ changed and `make chart` was not run.
func TestCopiesAreCurrent(t *testing.T) {
	g := NewWithT(t)
	root := testenv.Root()
	want := map[string]string{}
	for k, v := range copies {
		want[k] = v
	}
	crds, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(crds).NotTo(BeEmpty())
	for _, crd := range crds {
		want["files/crds/"+filepath.Base(crd)] = "config/crd/bases/" + filepath.Base(crd)
	}
	got, err := filepath.Glob(filepath.Join(chartDir(), "files", "*", "*"))
	g.Expect(err).NotTo(HaveOccurred())
	var gotNames []string
	for _, p := range got {
		rel, _ := filepath.Rel(chartDir(), p)
		gotNames = append(gotNames, filepath.ToSlash(rel))
	}
	wantNames := make([]string, 0, len(want))
	for k := range want {
		wantNames = append(wantNames, k)
	}
	g.Expect(gotNames).To(ConsistOf(wantNames), "charts/dbrest-operator/files is stale: run 'make chart'")
	for copyPath, src := range want {
		a, err := os.ReadFile(filepath.Join(chartDir(), copyPath))
		g.Expect(err).NotTo(HaveOccurred())
		b, err := os.ReadFile(filepath.Join(root, src))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bytes.Equal(a, b)).To(BeTrue(), "charts/dbrest-operator/%s differs from %s: run 'make chart'", copyPath, src)
	}
}

// kustomize builds a config/ directory with kustomize's Go API.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.Root(), "config", dir))
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	b, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

// byKey indexes objects by key, failing on a duplicate.
func byKey(t *testing.T, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		if _, dup := out[key(u)]; dup {
			t.Fatalf("two objects %s", key(u))
		}
		out[key(u)] = u
	}
	return out
}

// same expects the chart's value to equal config/'s, showing a diff.
func same(g Gomega, chart, config any, what string) {
	g.Expect(cmp.Diff(config, chart)).To(BeEmpty(), "%s differs from config/ (-config +chart); run 'make chart' if config/ changed", what)
}

// expectSameContent compares what the chart and config/ say about one
// object: the fields that make it work, not labels or annotations of
// bookkeeping.
func expectSameContent(g Gomega, chart, config *unstructured.Unstructured) {
	k := key(chart)
	switch chart.GetKind() {
	case "CustomResourceDefinition":
		same(g, nested(chart, "spec"), nested(config, "spec"), k)
	case "ClusterRole", "Role":
		same(g, nested(chart, "rules"), nested(config, "rules"), k)
	case "ClusterRoleBinding", "RoleBinding":
		same(g, nested(chart, "roleRef"), nested(config, "roleRef"), k)
		same(g, nested(chart, "subjects"), nested(config, "subjects"), k)
	case "Service":
		same(g, nested(chart, "spec", "ports"), nested(config, "spec", "ports"), k)
	case "Deployment":
		same(g, nested(chart, "spec", "replicas"), nested(config, "spec", "replicas"), k)
		same(g, nested(chart, "spec", "template", "metadata", "annotations"),
			nested(config, "spec", "template", "metadata", "annotations"), k)
		// The chart sets imagePullPolicy from its values; kustomize leaves
		// the API server's default. Everything else in the pod is the same.
		pod := chart.DeepCopy()
		for _, c := range nested(pod, "spec", "template", "spec", "containers").([]any) {
			delete(c.(map[string]any), "imagePullPolicy")
		}
		same(g, nested(pod, "spec", "template", "spec"), nested(config, "spec", "template", "spec"), k)
	case "ServiceAccount":
	default:
		g.Expect(chart.GetKind()).To(BeEmpty(), "no comparison for %s", k)
	}
}

// TestDefaultsMatchConfigDefault renders the chart with its defaults as
// release dbrest-operator in config/default's namespace: it must make the
// objects of config/default (but the Namespace, which Helm does not own),
// with the same names and content.
func TestDefaultsMatchConfigDefault(t *testing.T) {
	g := NewWithT(t)
	chartObjs := mustRender(t, "dbrest-operator", namespace, nil)
	image := manager(t, chartObjs)["image"].(string)
	b, err := installer.Build(filepath.Join(testenv.Root(), "config"), image)
	g.Expect(err).NotTo(HaveOccurred())
	var configObjs []*unstructured.Unstructured
	for _, u := range decode(t, string(b)) {
		if u.GetKind() != "Namespace" {
			configObjs = append(configObjs, u)
		}
	}
	want := byKey(t, configObjs)
	g.Expect(keys(chartObjs)).To(ConsistOf(keys(configObjs)))
	for _, u := range chartObjs {
		if w, ok := want[key(u)]; ok {
			expectSameContent(g, u, w)
		}
	}
}

// TestTenantMatchesConfigNamespaced renders the chart as a namespace admin
// would install it (no CRDs, no metrics, watching its own namespace) and
// compares it with config/namespaced, the kustomize form of that mode.
func TestTenantMatchesConfigNamespaced(t *testing.T) {
	g := NewWithT(t)
	configObjs := kustomize(t, "namespaced")
	d := one(t, configObjs, "Deployment")
	ns := d.GetNamespace()
	chartObjs := mustRender(t, "dbrest-operator", ns, values(t, "watchNamespaces: ["+ns+"]\ncrds: {install: false}\nmetrics: {enabled: false}"))
	g.Expect(keys(chartObjs)).To(ConsistOf(keys(configObjs)))
	want := byKey(t, configObjs)
	for _, u := range chartObjs {
		if w, ok := want[key(u)]; ok && u.GetKind() != "Deployment" {
			expectSameContent(g, u, w)
		}
	}
}

// TestMonitoringMatchesConfigPrometheus compares the ServiceMonitor and
// PrometheusRule the chart makes with those of config/prometheus, and
// checks that the ServiceMonitor selects the chart's metrics Service.
func TestMonitoringMatchesConfigPrometheus(t *testing.T) {
	g := NewWithT(t)
	chartObjs := mustRender(t, "dbrest-operator", namespace, values(t, "serviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}"))
	configObjs := kustomize(t, "prometheus")

	sm := one(t, chartObjs, "ServiceMonitor")
	same(g, nested(sm, "spec", "endpoints"), nested(one(t, configObjs, "ServiceMonitor"), "spec", "endpoints"), "ServiceMonitor endpoints")
	svc := one(t, chartObjs, "Service")
	selector, _, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(selector).NotTo(BeEmpty())
	for k, v := range selector {
		g.Expect(svc.GetLabels()).To(HaveKeyWithValue(k, v))
	}
	port := nested(sm, "spec", "endpoints").([]any)[0].(map[string]any)["port"]
	g.Expect(nested(svc, "spec", "ports")).To(ContainElement(HaveKeyWithValue("name", port)))

	same(g, nested(one(t, chartObjs, "PrometheusRule"), "spec"), nested(one(t, configObjs, "PrometheusRule"), "spec"), "PrometheusRule spec")
}
