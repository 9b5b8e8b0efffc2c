package configtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// tenantNamespace is where config/namespaced installs the operator.
const tenantNamespace = "dbrest-operator"

// TestNamespacedHoldsNoClusterPermission checks config/namespaced, the
// tenant's install: nothing cluster-scoped, the generated rules as a Role
// bound in the manager's namespace, and a manager that watches that
// namespace only.
func TestNamespacedHoldsNoClusterPermission(t *testing.T) {
	g := NewWithT(t)
	objs := build(t, "namespaced")
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		g.Expect(u.GetNamespace()).To(Equal(tenantNamespace), "%s %s is not in the tenant's namespace", u.GetKind(), u.GetName())
	}
	g.Expect(kinds).To(Equal(map[string]int{"Deployment": 1, "ServiceAccount": 1, "Role": 2, "RoleBinding": 2}))

	// The same rules as the generated ClusterRole, so `make manifests`
	// keeps both modes in step.
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "rbac", "role.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var generated rbacv1.ClusterRole
	g.Expect(yaml.Unmarshal(b, &generated)).To(Succeed())
	var role rbacv1.Role
	typed(g, objs, "Role", "dbrest-operator-manager-role", &role)
	g.Expect(role.Rules).To(Equal(generated.Rules))
	var binding rbacv1.RoleBinding
	typed(g, objs, "RoleBinding", "dbrest-operator-manager-rolebinding", &binding)
	g.Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}))
	g.Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "dbrest-operator-controller-manager", Namespace: tenantNamespace}))

	var d appsv1.Deployment
	typed(g, objs, "Deployment", "", &d)
	c := d.Spec.Template.Spec.Containers[0]
	watch, ok := flagValue(c.Args, "watch-namespaces")
	g.Expect(ok).To(BeTrue(), "args: %v", c.Args)
	g.Expect(watch).To(Equal("$(POD_NAMESPACE)"))
	g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "POD_NAMESPACE",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}))
	leader, _ := flagValue(c.Args, "leader-elect")
	g.Expect(leader).To(Equal("true"))
	// Authenticated metrics need TokenReviews, a cluster permission.
	metrics, _ := flagValue(c.Args, "metrics-bind-address")
	g.Expect(metrics).To(Equal("0"))
	g.Expect(c.Ports).To(BeEmpty())
}

// TestNamespacedAppliesWithServerDryRun: the API server accepts every
// object of config/namespaced in a namespace that exists already.
func TestNamespacedAppliesWithServerDryRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	admin, err := client.New(restConfig, client.Options{Scheme: scheme.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(client.IgnoreAlreadyExists(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantNamespace}}))).To(Succeed())

	for _, u := range build(t, "namespaced") {
		err := admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
			client.FieldOwner("kubectl"), client.ForceOwnership, client.DryRunAll)
		g.Expect(err).NotTo(HaveOccurred(), "%s %s", u.GetKind(), u.GetName())
	}
}
