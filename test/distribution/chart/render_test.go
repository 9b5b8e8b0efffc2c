package chart

import (
	"bufio"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// chartDir is the chart under test.
func chartDir() string { return filepath.Join(testenv.Root(), "charts", "dbrest-operator") }

// kubeVersion is the version Helm renders for: the test control plane's.
func kubeVersion(t *testing.T) *common.KubeVersion {
	t.Helper()
	kv, err := common.ParseKubeVersion("v" + testenv.K8sVersion)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// loadChart loads the chart from its directory, as `helm install ./dir` does.
func loadChart(t *testing.T) *chartv2.Chart {
	t.Helper()
	c, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

// values parses a values file given inline.
func values(t *testing.T, y string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatalf("values %q: %v", y, err)
	}
	return v
}

// render renders the chart as `helm template --namespace ns release
// charts/dbrest-operator -f vals` does (a client-only install dry run, so
// values.schema.json is checked too) and decodes the manifest.
func render(t *testing.T, releaseName, ns string, vals map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	inst := action.NewInstall(action.NewConfiguration())
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = releaseName
	inst.Namespace = ns
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.KubeVersion = kubeVersion(t)
	r, err := inst.Run(loadChart(t), vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		t.Fatalf("unexpected release type %T", r)
	}
	if len(rel.Hooks) > 0 {
		t.Fatalf("the chart has hooks, which this test does not apply: %v", rel.Hooks)
	}
	return decode(t, rel.Manifest), nil
}

// mustRender is render for values that must render.
func mustRender(t *testing.T, releaseName, ns string, vals map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render(t, releaseName, ns, vals)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return objs
}

// decode splits a multi-document manifest into objects, skipping empty
// documents and documents holding only comments.
func decode(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		if string(j) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		objs = append(objs, u)
	}
}

// key names an object as the API server tells objects apart.
func key(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// keys lists the keys of objs.
func keys(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, u := range objs {
		out = append(out, key(u))
	}
	return out
}

// find returns the objects of kind in objs.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// one returns the only object of kind in objs, failing otherwise.
func one(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want one %s, got %d: %v", kind, len(found), keys(found))
	}
	return found[0]
}

// nested returns the value at path in u, or nil.
func nested(u *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
	return v
}

// manager returns the manager container of the one Deployment in objs.
func manager(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	containers, _ := nested(one(t, objs, "Deployment"), "spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	return containers[0].(map[string]any)
}

// args returns the manager container's arguments.
func args(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	list, _ := manager(t, objs)["args"].([]any)
	for _, a := range list {
		out = append(out, a.(string))
	}
	return out
}
