// Package configtest checks the kustomize configuration in config/: that
// config/default builds, that the API server accepts every object it
// makes (server-side dry run, as `kubectl apply --dry-run=server -k`), and
// that the manager runs hardened.
package configtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// namespace is where config/default installs the operator.
const namespace = "dbrest-operator-system"

var restConfig *rest.Config

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restConfig = cfg
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// build runs kustomize (the library kubectl -k uses) on a config/ directory.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.Root(), "config", dir))
	if err != nil {
		t.Fatalf("kustomize build config/%s: %v", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, res.Size())
	for _, r := range res.Resources() {
		// Through JSON, so numbers are int64 as in any unstructured object.
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

// warnings collects the API server's warnings (deprecations, and Pod
// Security violations of a workload's pod template).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

func TestDefaultAppliesWithServerDryRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cfg := rest.CopyConfig(restConfig)
	warned := &warnings{}
	cfg.WarningHandler = warned
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	objs := build(t, "default")
	g.Expect(objs).NotTo(BeEmpty())
	apply := func(u *unstructured.Unstructured, opts ...client.ApplyOption) error {
		opts = append([]client.ApplyOption{client.FieldOwner("kubectl"), client.ForceOwnership}, opts...)
		return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...)
	}
	// A dry run of a namespaced object needs its namespace to exist, so
	// the namespace is created for real first.
	var ns *unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			ns = u
		}
	}
	g.Expect(ns).NotTo(BeNil(), "config/default makes no Namespace")
	g.Expect(ns.GetName()).To(Equal(namespace))
	g.Expect(apply(ns)).To(Succeed())

	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		if u == ns {
			continue
		}
		g.Expect(apply(u, client.DryRunAll)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
	}
	g.Expect(kinds).To(And(
		HaveKeyWithValue("CustomResourceDefinition", 2),
		HaveKeyWithValue("Deployment", 1),
		HaveKeyWithValue("Service", 1),
		HaveKeyWithValue("ServiceAccount", 1),
		HaveKey("ClusterRole"), HaveKey("ClusterRoleBinding"), HaveKey("Role"), HaveKey("RoleBinding"),
	))
	// The namespace enforces the "restricted" Pod Security level, which the
	// API server checks on the Deployment's pod template and reports as a
	// warning: none means the manager's pods would be admitted.
	g.Expect(ns.GetLabels()).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(warned.all()).To(BeEmpty())
}

// typed converts the one object of kind (and name, when set) to out.
func typed(g Gomega, objs []*unstructured.Unstructured, kind, name string, out runtime.Object) {
	var found []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind && (name == "" || u.GetName() == name) {
			found = append(found, u)
		}
	}
	g.Expect(found).To(HaveLen(1), "%s %s", kind, name)
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(found[0].Object, out)).To(Succeed())
}

// flagValue returns the value of --name=value in args, or "" when absent.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if a == "--"+name {
			return "true", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// port returns the port of a bind address such as ":8081".
func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

func TestManagerIsHardened(t *testing.T) {
	g := NewWithT(t)
	objs := build(t, "default")
	var d appsv1.Deployment
	typed(g, objs, "Deployment", "", &d)
	g.Expect(d.Namespace).To(Equal(namespace))
	pod := d.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Name).To(Equal("manager"))

	// Non-root, read-only, no privilege: the pod or the container says so.
	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(c.SecurityContext).NotTo(BeNil())
	nonRoot := (pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot) ||
		(c.SecurityContext.RunAsNonRoot != nil && *c.SecurityContext.RunAsNonRoot)
	g.Expect(nonRoot).To(BeTrue(), "runAsNonRoot is not set")
	g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.SecurityContext.Capabilities).NotTo(BeNil())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))

	// Requests let the scheduler place it; a memory limit bounds a leak.
	g.Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
	g.Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))
	g.Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory))

	// The probes hit the manager's health endpoint, on the port it binds.
	probeAddr, ok := flagValue(c.Args, "health-probe-bind-address")
	g.Expect(ok).To(BeTrue(), "args: %v", c.Args)
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		g.Expect(p).NotTo(BeNil(), "%s probe", name)
		g.Expect(p.HTTPGet).NotTo(BeNil(), "%s probe", name)
		g.Expect(p.HTTPGet.Port.String()).To(Equal(port(probeAddr)), "%s probe", name)
	}
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))

	// Leader election is on, so a second replica (or a rollout) never
	// reconciles at the same time as the first.
	leader, ok := flagValue(c.Args, "leader-elect")
	g.Expect(ok).To(BeTrue(), "args: %v", c.Args)
	g.Expect(leader).To(Equal("true"))

	// The metrics Service reaches the secure metrics port of these pods.
	metricsAddr, ok := flagValue(c.Args, "metrics-bind-address")
	g.Expect(ok).To(BeTrue(), "args: %v", c.Args)
	var svc corev1.Service
	typed(g, objs, "Service", "", &svc)
	g.Expect(d.Spec.Template.Labels).To(includesAll(svc.Spec.Selector))
	g.Expect(svc.Spec.Ports).To(HaveLen(1))
	g.Expect(svc.Spec.Ports[0].TargetPort.String()).To(Equal(port(metricsAddr)))
	g.Expect(c.Ports).To(ContainElement(HaveField("ContainerPort", svc.Spec.Ports[0].TargetPort.IntVal)))

	// The pod runs as the ServiceAccount the bindings grant.
	var sa corev1.ServiceAccount
	typed(g, objs, "ServiceAccount", "", &sa)
	g.Expect(pod.ServiceAccountName).To(Equal(sa.Name))
	for _, u := range objs {
		if u.GetKind() != "RoleBinding" && u.GetKind() != "ClusterRoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding // same subjects shape as ClusterRoleBinding
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b)).To(Succeed())
		g.Expect(b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: namespace}), u.GetName())
	}
}

// includesAll matches a label map that includes every pair of sel.
func includesAll(sel map[string]string) OmegaMatcher {
	g := make([]OmegaMatcher, 0, len(sel))
	for k, v := range sel {
		g = append(g, HaveKeyWithValue(k, v))
	}
	return And(append(g, Not(BeEmpty()))...)
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	g := NewWithT(t)
	for _, u := range build(t, "default") {
		if u.GetKind() != "Role" && u.GetKind() != "ClusterRole" {
			continue
		}
		var r rbacv1.ClusterRole // Role has the same rules shape
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r)).To(Succeed())
		for _, rule := range r.Rules {
			for _, list := range [][]string{rule.Verbs, rule.Resources, rule.APIGroups} {
				g.Expect(list).NotTo(ContainElement("*"), "%s %s: %+v", u.GetKind(), u.GetName(), rule)
			}
			// Secrets and ConfigMaps are read, never written: the operator
			// holds every namespace's credentials only to read them.
			if slices.Contains(rule.APIGroups, "") && (slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Resources, "configmaps")) {
				g.Expect(rule.Verbs).To(ConsistOf("get", "list", "watch"), "%s %s", u.GetKind(), u.GetName())
			}
		}
	}
}

// TestServiceMonitorSelectsTheMetricsService checks config/prometheus
// against config/default: its ServiceMonitor must select the metrics
// Service and scrape its port by name, or Prometheus silently finds nothing.
func TestServiceMonitorSelectsTheMetricsService(t *testing.T) {
	g := NewWithT(t)
	var svc corev1.Service
	typed(g, build(t, "default"), "Service", "", &svc)

	var monitors []*unstructured.Unstructured
	for _, u := range build(t, "prometheus") {
		if u.GetKind() == "ServiceMonitor" {
			monitors = append(monitors, u)
		}
	}
	g.Expect(monitors).To(HaveLen(1))
	m := monitors[0]
	selector, _, err := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(svc.Labels).To(includesAll(selector))
	endpoints, _, err := unstructured.NestedSlice(m.Object, "spec", "endpoints")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(endpoints).To(HaveLen(1))
	ep := endpoints[0].(map[string]any)
	g.Expect(ep).To(HaveKeyWithValue("port", svc.Spec.Ports[0].Name))
	g.Expect(ep).To(HaveKeyWithValue("scheme", "https"))
}
