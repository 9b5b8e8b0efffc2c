package chart

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// namespace is the release namespace of most tests, config/default's.
const namespace = "dbrest-operator-system"

// clusterScoped are the kinds the chart makes that have no namespace.
var clusterScoped = map[string]bool{"CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}

func TestDefaults(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "dbrest-operator", namespace, nil)

	g.Expect(args(t, objs)).To(Equal([]string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"}))
	g.Expect(manager(t, objs)).To(HaveKeyWithValue("image", "dbrest-operator:"+loadChart(t).Metadata.AppVersion))
	g.Expect(nested(one(t, objs, "Deployment"), "spec", "replicas")).To(BeEquivalentTo(1))

	crds := find(objs, "CustomResourceDefinition")
	g.Expect(crds).To(HaveLen(2))
	for _, crd := range crds {
		g.Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"), crd.GetName())
		// controller-gen's own annotation survives the template.
		g.Expect(crd.GetAnnotations()).To(HaveKey("controller-gen.kubebuilder.io/version"), crd.GetName())
	}
	g.Expect(find(objs, "ClusterRole")).To(HaveLen(3)) // manager, metrics auth, metrics reader
	g.Expect(find(objs, "ServiceMonitor")).To(BeEmpty())
	g.Expect(find(objs, "PrometheusRule")).To(BeEmpty())
	g.Expect(find(objs, "ConfigMap")).To(BeEmpty())
	for _, u := range objs {
		if !clusterScoped[u.GetKind()] {
			g.Expect(u.GetNamespace()).To(Equal(namespace), key(u))
		}
		g.Expect(u.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/instance", "dbrest-operator"), key(u))
	}
}

func TestOverrides(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "dbrest-operator", namespace, values(t, overrides["everything"]))

	d := one(t, objs, "Deployment")
	c := manager(t, objs)
	g.Expect(c).To(HaveKeyWithValue("image", "registry.example.com/dbrest/dbrest-operator:v9.8.7"))
	g.Expect(c).To(HaveKeyWithValue("imagePullPolicy", "Always"))
	g.Expect(args(t, objs)).To(Equal([]string{
		"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081",
		"--shard-selector=dbrest.io/shard in (a,b)",
		"--max-concurrent-reconciles=64", "--resync-interval=30m",
	}))
	g.Expect(nested(d, "spec", "replicas")).To(BeEquivalentTo(3))
	g.Expect(c["resources"]).To(HaveKeyWithValue("limits", HaveKeyWithValue("memory", "1Gi")))
	pod := nested(d, "spec", "template", "spec").(map[string]any)
	g.Expect(pod).To(HaveKeyWithValue("nodeSelector", HaveKeyWithValue("kubernetes.io/os", "linux")))
	g.Expect(pod).To(HaveKeyWithValue("tolerations", ContainElement(HaveKeyWithValue("key", "dedicated"))))
	g.Expect(pod).To(HaveKeyWithValue("affinity", HaveKey("podAntiAffinity")))
	g.Expect(pod).To(HaveKeyWithValue("priorityClassName", "system-cluster-critical"))
	g.Expect(pod).To(HaveKeyWithValue("imagePullSecrets", ConsistOf(HaveKeyWithValue("name", "registry"))))
	g.Expect(pod).To(HaveKeyWithValue("securityContext", HaveKeyWithValue("runAsUser", BeEquivalentTo(65532))))
	g.Expect(nested(d, "spec", "template", "metadata", "annotations")).To(HaveKeyWithValue("example.com/team", "platform"))
	g.Expect(nested(d, "spec", "template", "metadata", "labels")).To(HaveKeyWithValue("example.com/tier", "control"))
	g.Expect(one(t, objs, "ServiceAccount").GetAnnotations()).To(HaveKeyWithValue("example.com/role", "dbrest"))

	sm := one(t, objs, "ServiceMonitor")
	g.Expect(sm.GetLabels()).To(HaveKeyWithValue("release", "kube-prometheus-stack"))
	g.Expect(nested(sm, "spec", "endpoints")).To(ConsistOf(And(
		HaveKeyWithValue("interval", "30s"), HaveKeyWithValue("scrapeTimeout", "10s"))))
	g.Expect(one(t, objs, "PrometheusRule").GetLabels()).To(HaveKeyWithValue("release", "kube-prometheus-stack"))

	cm := one(t, objs, "ConfigMap")
	g.Expect(cm.GetLabels()).To(HaveKeyWithValue("grafana_dashboard", "1"))
	dashboard, _ := nested(cm, "data", "dbrest-operator.json").(string)
	var parsed map[string]any
	g.Expect(json.Unmarshal([]byte(dashboard), &parsed)).To(Succeed())
	g.Expect(parsed).To(HaveKeyWithValue("uid", "dbrest-operator"))
}

func TestImageDigest(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "dbrest-operator", namespace, values(t, overrides["digest"]))
	g.Expect(manager(t, objs)).To(HaveKeyWithValue("image",
		"ghcr.io/dbrest-io/dbrest-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
}

// TestWatchNamespaces checks the namespaced mode: the manager's rules in a
// Role and RoleBinding in each watched namespace, and no ClusterRole
// granting them.
func TestWatchNamespaces(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "dbrest-operator", namespace, values(t, overrides["namespaced"]))
	g.Expect(args(t, objs)).To(ContainElement("--watch-namespaces=team-a,team-b"))
	g.Expect(keys(find(objs, "Role"))).To(ConsistOf(
		"Role team-a/dbrest-operator-manager-role", "Role team-b/dbrest-operator-manager-role",
		"Role "+namespace+"/dbrest-operator-leader-election-role"))
	g.Expect(keys(find(objs, "RoleBinding"))).To(ConsistOf(
		"RoleBinding team-a/dbrest-operator-manager-rolebinding", "RoleBinding team-b/dbrest-operator-manager-rolebinding",
		"RoleBinding "+namespace+"/dbrest-operator-leader-election-rolebinding"))
	for _, u := range find(objs, "ClusterRole") {
		g.Expect(u.GetName()).NotTo(Equal("dbrest-operator-manager-role"))
	}
	g.Expect(find(objs, "ClusterRoleBinding")).NotTo(ContainElement(WithTransform(
		func(u *unstructured.Unstructured) string { return u.GetName() }, Equal("dbrest-operator-manager-rolebinding"))))
}

// TestTenant checks that with watchNamespaces, crds.install=false and
// metrics.enabled=false the chart makes no cluster-scoped object, so a
// namespace admin can install it.
func TestTenant(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "dbrest-operator", namespace, values(t, overrides["tenant"]))
	for _, u := range objs {
		g.Expect(clusterScoped[u.GetKind()]).To(BeFalse(), key(u))
		g.Expect(u.GetNamespace()).To(Equal(namespace), key(u))
	}
	g.Expect(find(objs, "Service")).To(BeEmpty())
	g.Expect(args(t, objs)).To(ContainElement("--metrics-bind-address=0"))
	g.Expect(manager(t, objs)).NotTo(HaveKey("ports"))
}

func TestNoLeaderElectionNoKeep(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "dbrest-operator", namespace, values(t, overrides["no-leader-election"]))
	g.Expect(args(t, objs)).NotTo(ContainElement("--leader-elect"))
	for _, crd := range find(objs, "CustomResourceDefinition") {
		g.Expect(crd.GetAnnotations()).NotTo(HaveKey("helm.sh/resource-policy"), crd.GetName())
	}
}

// TestRejects checks values the chart refuses, with a message that says why.
func TestRejects(t *testing.T) {
	for name, tc := range map[string]struct{ values, message string }{
		"replicas without leader election": {"replicaCount: 2\nleaderElection: {enabled: false}", "leaderElection"},
		"ServiceMonitor without metrics":   {"serviceMonitor: {enabled: true}\nmetrics: {enabled: false}", "metrics.enabled"},
		"unknown value":                    {"replicas: 2", "replicas"},
		"misspelt nested value":            {"crds: {instal: false}", "instal"},
		"wrong type":                       {"replicaCount: two", "replicaCount"},
		"namespace that is not a name":     {"watchNamespaces: [Team_A]", "watchNamespaces"},
		"pull policy":                      {"image: {pullPolicy: Sometimes}", "pullPolicy"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := render(t, "dbrest-operator", namespace, values(t, tc.values))
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

// TestReleaseNames checks the names for releases not called
// dbrest-operator, and that a long release name still gives a metrics
// Service name the API server accepts (a 63-character DNS label).
func TestReleaseNames(t *testing.T) {
	g := NewWithT(t)
	objs := mustRender(t, "shard-a", namespace, nil)
	g.Expect(one(t, objs, "Deployment").GetName()).To(Equal("shard-a-dbrest-operator-controller-manager"))

	long := "a-release-name-of-fifty-three-characters-for-testing"
	objs = mustRender(t, long, namespace, nil)
	svc := one(t, objs, "Service").GetName()
	g.Expect(len(svc)).To(BeNumerically("<=", 63), svc)
	g.Expect(strings.HasSuffix(svc, "-controller-manager-metrics-service")).To(BeTrue(), svc)
}
