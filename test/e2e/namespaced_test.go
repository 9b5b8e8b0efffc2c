//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// TestNamespacedMode runs the manager with --watch-namespaces as a user
// that holds no ClusterRole: the rules generated from the markers
// (config/rbac/role.yaml) as a Role in each watched namespace, as
// config/namespaced installs them, and the leader-election Role in the
// manager's own namespace. Objects in the two watched namespaces are
// reconciled through their whole life cycle; those in a third namespace,
// with their own simulator, are never touched.
func TestNamespacedMode(t *testing.T) {
	opts := simulator.Options{JobDuration: 300 * time.Millisecond}
	t.Parallel() // its managers name their namespaces themselves
	a, b, other := newWorld(t, opts), newWorld(t, opts), newWorld(t, opts)
	own := "e2e-mgr-" + rand.String(6)
	a.g.Expect(k8s.Create(a.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: own}})).To(Succeed())

	user := "dbrest-tenant-" + rand.String(6)
	var generated rbacv1.ClusterRole
	readYAML(t, filepath.Join("config", "rbac", "role.yaml"), &generated)
	for _, ns := range []string{a.ns, b.ns} {
		grant(a, ns, user, generated.Rules)
	}
	var election rbacv1.Role
	readYAML(t, filepath.Join("config", "rbac", "leader_election_role.yaml"), &election)
	grant(a, own, user, election.Rules)
	u, err := env.AddUser(envtest.User{Name: user}, nil)
	a.g.Expect(err).NotTo(HaveOccurred())
	tenant, err := u.KubeConfig()
	a.g.Expect(err).NotTo(HaveOccurred())

	// Created before the manager starts: a manager that saw this
	// namespace would act on them at once.
	other.create("untouched")
	untouched := snapshot(other)

	lease := "e2e-ns-" + rand.String(6)
	a.startManagerAs(tenant, "--watch-namespaces="+a.ns+","+b.ns,
		"--leader-elect", "--leader-election-namespace="+own, "--leader-election-id="+lease)

	a.create("app-a")
	b.create("app-b")
	a.expectConverged(map[string]string{"app-a": appPath("app-a", 1)}, nil)
	b.expectConverged(map[string]string{"app-b": appPath("app-b", 1)}, nil)
	a.setVersion("app-a", 2)
	b.delete("app-b")
	a.expectConverged(map[string]string{"app-a": appPath("app-a", 2)}, nil)
	b.expectConverged(nil, []string{"app-b"})
	a.expectGuarantees()
	b.expectGuarantees()

	// The Lease is in the manager's own namespace.
	a.g.Expect(k8s.Get(a.ctx, client.ObjectKey{Namespace: own, Name: lease}, &coordinationv1.Lease{})).To(Succeed())
	// Nothing the Roles do not allow was tried, not even a cluster-wide
	// list: each would be refused and logged.
	a.g.Expect(a.warningLines("forbidden")).To(BeEmpty(), "the manager was refused something")

	// The other namespace: no request to its API, no write to its
	// objects (finalizer, status), no event, not even a log line.
	a.g.Expect(other.sim.requests()).To(BeZero(), "requests to the unwatched namespace's API")
	a.g.Expect(snapshot(other)).To(Equal(untouched), "objects of the unwatched namespace were written")
	var events eventsv1.EventList
	a.g.Expect(k8s.List(a.ctx, &events, client.InNamespace(other.ns))).To(Succeed())
	a.g.Expect(events.Items).To(BeEmpty(), "events in the unwatched namespace")
	a.g.Expect(a.warningLines(other.ns)).To(BeEmpty(), "the manager logged about the unwatched namespace")
}

// readYAML reads a file of the repository into out.
func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// grant gives user the rules as a Role and a RoleBinding in ns.
func grant(w *world, ns, user string, rules []rbacv1.PolicyRule) {
	w.t.Helper()
	name := strings.ToLower(user)
	w.g.Expect(k8s.Create(w.ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules})).To(Succeed())
	w.g.Expect(k8s.Create(w.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
}

// snapshot is the resourceVersion of every object of the operator's kinds
// in a world's namespace: any write by the manager changes one.
func snapshot(w *world) map[string]string {
	w.t.Helper()
	out := map[string]string{}
	var deployments dbrestv1.DeploymentList
	w.g.Expect(k8s.List(w.ctx, &deployments, client.InNamespace(w.ns))).To(Succeed())
	for _, d := range deployments.Items {
		out["Deployment/"+d.Name] = d.ResourceVersion
	}
	var apis dbrestv1.DatabaseAPIList
	w.g.Expect(k8s.List(w.ctx, &apis, client.InNamespace(w.ns))).To(Succeed())
	for _, api := range apis.Items {
		out["DatabaseAPI/"+api.Name] = api.ResourceVersion
	}
	return out
}
