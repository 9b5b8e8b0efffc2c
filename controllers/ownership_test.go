package controllers_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/config/argocd"
	"github.com/dbrest-io/dbrest-operator/controllers"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// mutatingCalls counts the deploys, redeploys and undeploys the simulator saw.
func (f *fixture) mutatingCalls() map[string]int {
	st := f.sim.Stats().RequestsByOp
	return map[string]int{"deploy": st["deploy"], "redeploy": st["redeploy"], "undeploy": st["undeploy"]}
}

// outOfBand deploys an application as another tool would, before the
// operator sees it.
func (f *fixture) outOfBand(name, version string) {
	f.sim.PutApplication(simulator.Application{Name: name, DeploymentPath: "/apps/" + name + "-1.0.war",
		Targets: []string{"cluster1"}, Version: version})
}

// TestAdoption: applications deployed out of band before their
// Deployments exist. Refuse (the default) makes no mutating call and says
// what the server runs; Adopt takes over and redeploys once;
// AdoptIfMatching takes over only what already runs the spec. Deleting a
// refused or an adopted Deployment leaves the application on the server.
func TestAdoption(t *testing.T) {
	f := newFixture(t)
	for _, app := range []string{"refused", "adopted", "matching", "mismatch"} {
		f.outOfBand(app, "0.9")
	}
	f.outOfBand("matching", "1.0") // exactly the spec newDeployment writes
	policy := func(p dbrestv1.AdoptionPolicy) func(*dbrestv1.Deployment) {
		return func(d *dbrestv1.Deployment) { d.Spec.Adoption = p }
	}
	f.createDeployment("refused")
	f.createDeployment("adopted", policy(dbrestv1.AdoptionAdopt))
	f.createDeployment("matching", policy(dbrestv1.AdoptionAdoptIfMatching))
	f.createDeployment("mismatch", policy(dbrestv1.AdoptionAdoptIfMatching))

	d := f.waitFor("refused", "False", dbrestv1.ReasonAdoptionRefused)
	msg := findCondition(d, dbrestv1.ReadyCondition).Message
	f.g.Expect(msg).To(ContainSubstring(`deploymentPath "/apps/refused-1.0.war", targets ["cluster1"], planPath "", version "0.9"`))
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonAdoptionRefused))
	f.g.Expect(d.Status.ClaimedAt).To(BeNil())
	f.g.Expect(d.Status.Plan).NotTo(BeNil())
	f.g.Expect(d.Status.Plan.Operation).To(Equal(dbrestv1.PlanRedeploy))
	f.g.Expect(d.Status.Plan.Adopts).To(BeTrue())
	f.g.Expect(d.Status.Plan.Changes).To(Equal([]dbrestv1.FieldChange{{Field: "version", From: `"0.9"`, To: `"1.0"`}}))
	f.g.Eventually(func() []string { return f.warningReasons("refused") }, timeout, interval).Should(ContainElement(dbrestv1.ReasonAdoptionRefused))
	// What Flux and kubectl wait (kstatus) and Argo CD make of it.
	f.waitObserved("Deployment", "refused", dbrestv1.ReasonAdoptionRefused, status.FailedStatus, argocd.Degraded)

	d = f.waitFor("mismatch", "False", dbrestv1.ReasonAdoptionMismatch)
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring(`version: server has "0.9", spec says "1.0"`))

	d = f.waitReady("matching")
	f.g.Expect(d.Status.Adopted).To(BeTrue())
	d = f.expectServerRunsSpec("adopted")
	f.g.Expect(d.Status.Adopted).To(BeTrue())
	f.g.Expect(f.eventReasons("adopted")).To(ContainElement("Adopted"))
	f.g.Expect(f.mutatingCalls()).To(Equal(map[string]int{"deploy": 0, "redeploy": 1, "undeploy": 0}),
		"one redeploy, of the application adopted with Adopt; nothing for the others")

	for _, name := range []string{"refused", "adopted", "matching", "mismatch"} {
		f.delete(name)
		f.waitGone(name)
		_, ok := f.sim.Application(name)
		f.g.Expect(ok).To(BeTrue(), "%s was left on the server", name)
	}
	f.g.Expect(f.mutatingCalls()["undeploy"]).To(BeZero())
	f.expectNoDuplicates()
}

// TestOneOwnerPerServer: two DatabaseAPIs in two namespaces whose urls
// name one server differently (scheme case, trailing slash) share its
// applications: the older Deployment owns one, the other is Conflict
// naming it and makes no call; deleting the owner wakes it. A third
// DatabaseAPI through "localhost" is another server as far as the url
// shows, so its Deployment contends with nobody, and the adoption default
// keeps it from taking over what it finds.
func TestOneOwnerPerServer(t *testing.T) {
	other := "t-" + rand.String(8)
	f := newFixture(t, func(f *fixture, _ *simulator.Options) { f.others = []string{other} })
	f.g.Expect(k8s.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}})).To(Succeed())
	f.g.Expect(k8s.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: other},
		StringData: map[string]string{"username": "admin", "password": "admin"}})).To(Succeed())
	base := strings.TrimSuffix(f.baseURL(), "/")
	shouting := "HTTP://" + strings.TrimPrefix(base, "http://")
	viaLocalhost := strings.Replace(f.baseURL(), "127.0.0.1", "localhost", 1)
	for name, url := range map[string]string{"same": shouting, "localhost": viaLocalhost} {
		f.g.Expect(k8s.Create(f.ctx, &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: other},
			Spec: dbrestv1.DatabaseAPISpec{URL: url, CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
				RequestTimeout: &metav1.Duration{Duration: 3 * time.Second}}})).To(Succeed())
	}
	f.createDeployment("orders")
	f.waitReady("orders")

	inOther := func(name, api string) *dbrestv1.Deployment {
		d := f.newDeployment(name)
		d.Namespace, d.Spec.DatabaseAPIRef.Name, d.Spec.Application.Name = other, api, "orders"
		f.g.Expect(k8s.Create(f.ctx, d)).To(Succeed())
		return d
	}
	getOther := func(g Gomega, name string) *dbrestv1.Deployment {
		d := &dbrestv1.Deployment{}
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: other, Name: name}, d)).To(Succeed())
		return d
	}
	inOther("loser", "same")
	inOther("elsewhere", "localhost")
	f.g.Eventually(func(g Gomega) {
		d := getOther(g, "loser")
		g.Expect(condition(d, dbrestv1.ReadyCondition)).To(Equal("False/" + dbrestv1.ReasonConflict))
		g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring("Deployment " + f.ns + "/orders"))
	}, timeout, interval).Should(Succeed())
	f.g.Eventually(func(g Gomega) {
		g.Expect(condition(getOther(g, "elsewhere"), dbrestv1.ReadyCondition)).To(Equal("False/" + dbrestv1.ReasonAdoptionRefused))
	}, timeout, interval).Should(Succeed())
	f.g.Expect(f.mutatingCalls()).To(Equal(map[string]int{"deploy": 1, "redeploy": 0, "undeploy": 0}),
		"the owner's deploy and nothing else")

	// Deleting the one that found the application and was refused makes
	// no call: it never owned anything.
	gone := &dbrestv1.Deployment{}
	gone.Namespace, gone.Name = other, "elsewhere"
	f.g.Expect(k8s.Delete(f.ctx, gone)).To(Succeed())
	f.g.Eventually(func() bool {
		return client.IgnoreNotFound(k8s.Get(f.ctx, client.ObjectKeyFromObject(gone), &dbrestv1.Deployment{})) == nil &&
			k8s.Get(f.ctx, client.ObjectKeyFromObject(gone), &dbrestv1.Deployment{}) != nil
	}, timeout, interval).Should(BeTrue())
	f.g.Expect(f.mutatingCalls()["undeploy"]).To(BeZero())

	// The owner goes (undeploying); the loser is woken and deploys.
	f.delete("orders")
	f.waitGone("orders")
	f.g.Eventually(func(g Gomega) {
		d := getOther(g, "loser")
		g.Expect(condition(d, dbrestv1.ReadyCondition)).To(Equal("True/" + dbrestv1.ReasonDeployed))
		g.Expect(d.Status.Adopted).To(BeFalse())
	}, timeout, interval).Should(Succeed())
	f.g.Expect(f.mutatingCalls()).To(Equal(map[string]int{"deploy": 2, "redeploy": 0, "undeploy": 1}))
	f.expectNoDuplicates()
}

// TestObserveOnly: against a drifted server an ObserveOnly Deployment
// sends nothing over several resyncs, says Drifted with the field and
// both values (one event, not one per resync), and plans the redeploy;
// switching to Full with spec.adoption Adopt sends exactly that redeploy.
func TestObserveOnly(t *testing.T) {
	f := newFixture(t, withConfig(func(c *controllers.Config) { c.Deployment.ResyncInterval = time.Second }))
	f.outOfBand("billing", "0.9")
	f.createDeployment("billing", func(d *dbrestv1.Deployment) { d.Spec.ManagementPolicy = dbrestv1.ManagementObserveOnly })
	d := f.waitFor("billing", "False", dbrestv1.ReasonDrifted)
	f.g.Expect(findCondition(d, dbrestv1.ReadyCondition).Message).To(ContainSubstring(`version: server has "0.9", spec says "1.0"`))
	f.g.Expect(d.Finalizers).To(BeEmpty(), "an ObserveOnly Deployment never undeploys, so it holds no finalizer")
	f.g.Expect(d.Status.Plan).NotTo(BeNil())
	f.g.Expect(d.Status.Plan.BlockedBy).To(Equal(dbrestv1.ReasonObserveOnly))
	f.g.Expect(d.Status.Plan.Operation).To(Equal(dbrestv1.PlanRedeploy))
	f.waitObserved("Deployment", "billing", dbrestv1.ReasonDrifted, status.FailedStatus, argocd.Degraded)
	first := d.Status.LastSyncedAt.Time
	// Three resyncs later, nothing was sent and the Warning came once.
	f.g.Eventually(func(g Gomega) {
		g.Expect(f.get("billing").Status.LastSyncedAt.Time).To(BeTemporally(">=", first.Add(3*time.Second)))
	}, timeout, interval).Should(Succeed())
	f.g.Expect(f.mutatingCalls()).To(Equal(map[string]int{"deploy": 0, "redeploy": 0, "undeploy": 0}))
	drifted := 0
	for _, r := range f.warningReasons("billing") {
		if r == "Drifted" {
			drifted++
		}
	}
	f.g.Expect(drifted).To(Equal(1))

	f.update("billing", func(d *dbrestv1.Deployment) {
		d.Spec.ManagementPolicy, d.Spec.Adoption = dbrestv1.ManagementFull, dbrestv1.AdoptionAdopt
	})
	d = f.expectServerRunsSpec("billing")
	f.g.Expect(d.Status.Adopted).To(BeTrue())
	f.g.Expect(d.Status.Plan).To(BeNil())
	f.g.Expect(f.mutatingCalls()).To(Equal(map[string]int{"deploy": 0, "redeploy": 1, "undeploy": 0}))
	f.expectNoDuplicates()
}

// TestReconcileNow: the reconcile-requested-at annotation makes a Ready
// Deployment read the server once, a Stalled one retry once and a
// DatabaseAPI probe once, each echoed in status.lastHandledReconcileAt;
// while the DatabaseAPI's circuit is open it waits and sends nothing.
func TestReconcileNow(t *testing.T) {
	f := newFixture(t)
	request := func(name, value string) {
		f.update(name, func(d *dbrestv1.Deployment) {
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
			d.Annotations[dbrestv1.ReconcileRequestedAnnotation] = value
		})
	}
	handled := func(name, value string) {
		f.g.Eventually(func() string { return f.get(name).Status.LastHandledReconcileAt }, timeout, interval).Should(Equal(value))
	}
	f.createDeployment("orders")
	f.waitReady("orders")
	reads := f.sim.Stats().RequestsByOp["getApp"]
	request("orders", "r1")
	handled("orders", "r1")
	f.g.Expect(f.sim.Stats().RequestsByOp["getApp"]).To(Equal(reads+1), "one read of the application")

	// A deploy refused with a 400 is Stalled; once the server is fixed a
	// request retries it once.
	refuse := f.inj.add(&rule{method: "POST", path: "deployments/application", code: 400,
		body: `{"messages":[{"message":"datasource missing","severity":"FAILURE"}]}`, ctype: "application/json"})
	f.createDeployment("stuck")
	f.waitFor("stuck", "False", dbrestv1.ReasonInvalidSpec)
	f.g.Expect(f.inj.hitsOf(refuse)).To(Equal(1))
	f.inj.clear()
	request("stuck", "r2")
	f.waitReady("stuck")
	f.g.Expect(f.get("stuck").Status.LastHandledReconcileAt).To(Equal("r2"))
	f.g.Expect(f.mutatingCalls()["deploy"]).To(Equal(2), "orders, then the one retry of stuck")

	// On a DatabaseAPI, the annotation asks for a probe now.
	probes := f.sim.Stats().RequestsByOp["listApps"]
	api := &dbrestv1.DatabaseAPI{}
	f.g.Eventually(func() error {
		if err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "db"}, api); err != nil {
			return err
		}
		api.Annotations = map[string]string{dbrestv1.ReconcileRequestedAnnotation: "p1"}
		return k8s.Update(f.ctx, api)
	}, timeout, interval).Should(Succeed())
	f.g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "db"}, api)).To(Succeed())
		g.Expect(api.Status.LastHandledReconcileAt).To(Equal("p1"))
	}, timeout, interval).Should(Succeed())
	f.g.Expect(f.sim.Stats().RequestsByOp["listApps"]).To(Equal(probes+1), "one probe")

	// The server asks everyone to wait an hour: the circuit opens, and a
	// request made then sends nothing and stays unhandled.
	var hits atomic.Int32
	f.inj.setHook(func(w http.ResponseWriter, _ *http.Request, _ http.Handler) bool {
		hits.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	request("orders", "r3")
	f.g.Eventually(func(g Gomega) {
		api := &dbrestv1.DatabaseAPI{}
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "db"}, api)).To(Succeed())
		g.Expect(api.Status.Circuit).NotTo(BeNil())
	}, timeout, interval).Should(Succeed())
	before := hits.Load()
	request("orders", "r4")
	f.g.Consistently(func(g Gomega) {
		g.Expect(hits.Load()).To(Equal(before), "a request while the circuit is open")
		g.Expect(f.get("orders").Status.LastHandledReconcileAt).NotTo(Equal("r4"))
	}, 3*time.Second, interval).Should(Succeed())
	f.expectNoDuplicates()
}
