//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// TestRBAC runs the manager as a user that holds nothing but the
// ClusterRole generated from the +kubebuilder:rbac markers
// (config/rbac/role.yaml): the role must be enough for the whole life
// cycle. A second run drops the verbs docs/security.md says are unused
// (update on deployments and on both status subresources, get on the
// status subresources) and must work just as well.
func TestRBAC(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generated rbacv1.ClusterRole
	if err := yaml.Unmarshal(b, &generated); err != nil {
		t.Fatal(err)
	}
	trimmed := generated.DeepCopy()
	for i := range trimmed.Rules {
		r := &trimmed.Rules[i]
		if slices.ContainsFunc(r.Resources, func(s string) bool {
			return s == "deployments" || s == "deployments/status" || s == "databaseapis/status"
		}) {
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == "update" })
		}
		if slices.ContainsFunc(r.Resources, func(s string) bool { return s == "deployments/status" || s == "databaseapis/status" }) {
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == "get" })
		}
	}
	for _, tc := range []struct {
		name string
		role *rbacv1.ClusterRole
	}{{"generated role", &generated}, {"role without the unused verbs", trimmed}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, simulator.Options{JobDuration: 300e6})
			user := "dbrest-" + rand.String(6)
			role := tc.role.DeepCopy()
			role.ObjectMeta = metav1.ObjectMeta{Name: user}
			w.g.Expect(k8s.Create(w.ctx, role)).To(Succeed())
			w.g.Expect(k8s.Create(w.ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: user},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
				Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
			})).To(Succeed())
			u, err := env.AddUser(envtest.User{Name: user}, nil)
			w.g.Expect(err).NotTo(HaveOccurred())
			restricted, err := u.KubeConfig()
			w.g.Expect(err).NotTo(HaveOccurred())
			w.startManagerAs(restricted)

			w.create("app-a")
			w.create("app-b")
			w.expectConverged(map[string]string{"app-a": appPath("app-a", 1), "app-b": appPath("app-b", 1)}, nil)
			w.setVersion("app-a", 2)
			w.delete("app-b")
			w.expectConverged(map[string]string{"app-a": appPath("app-a", 2)}, []string{"app-b"})
			w.g.Expect(w.warningLines("forbidden")).To(BeEmpty(), "the manager was refused something")
			w.expectGuarantees()
		})
	}
}
