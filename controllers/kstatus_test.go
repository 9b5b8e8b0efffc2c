package controllers_test

import (
	"regexp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/config/argocd"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// observed is what Flux and kubectl wait (kstatus) and Argo CD (health.lua)
// make of an object as the API server serves it.
type observed struct {
	kstatus   status.Status
	argo      string
	readyWhy  string
	kstatusOf *status.Result
}

// observe reads kind/name as unstructured, the way those tools read it,
// and computes both verdicts.
func (f *fixture) observe(g Gomega, kind, name string) observed {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(dbrestv1.GroupVersion.WithKind(kind))
	g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, u)).To(Succeed())
	res, err := status.Compute(u)
	g.Expect(err).NotTo(HaveOccurred())
	health, err := argocd.Evaluate(u.Object)
	g.Expect(err).NotTo(HaveOccurred())
	o := observed{kstatus: res.Status, argo: health.Status, kstatusOf: res}
	if conds, ok, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); ok {
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == dbrestv1.ReadyCondition {
				o.readyWhy, _ = m["reason"].(string)
			}
		}
	}
	return o
}

// waitObserved waits until kind/name has the Ready reason and both tools
// agree on the expected verdicts.
func (f *fixture) waitObserved(kind, name, reason string, want status.Status, argo string) observed {
	f.t.Helper()
	var o observed
	f.g.Eventually(func(g Gomega) {
		o = f.observe(g, kind, name)
		g.Expect(o.readyWhy).To(Equal(reason))
		g.Expect(o.kstatus).To(Equal(want), "kstatus: %s", o.kstatusOf.Message)
		g.Expect(o.argo).To(Equal(argo))
	}, timeout, interval).Should(Succeed(), "%s %s never became %s/%s with Ready reason %s", kind, name, want, argo, reason)
	return o
}

func TestKstatusDeployment(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) {
		o.JobDuration = 3 * time.Second
		o.FailAppPattern = regexp.MustCompile(`^broken-`)
	}))

	f.createDeployment("orders")
	f.waitObserved("Deployment", "orders", dbrestv1.ReasonDeploying, status.InProgressStatus, argocd.Progressing)
	f.waitObserved("Deployment", "orders", dbrestv1.ReasonDeployed, status.CurrentStatus, argocd.Healthy)

	// A new spec is InProgress from the moment it is written, before the
	// operator has seen it: the old Ready=True must not count. The
	// redeploy job takes 3s, so this read cannot see it done.
	f.update("orders", func(d *dbrestv1.Deployment) { d.Spec.Application.DeploymentPath = "/apps/orders-2.0.war" })
	o := f.observe(f.g, "Deployment", "orders")
	f.g.Expect(o.kstatus).To(Equal(status.InProgressStatus), "kstatus: %s", o.kstatusOf.Message)
	f.g.Expect(o.argo).To(Equal(argocd.Progressing))
	f.waitObserved("Deployment", "orders", dbrestv1.ReasonDeployed, status.CurrentStatus, argocd.Healthy)

	f.createDeployment("broken-billing")
	o = f.waitObserved("Deployment", "broken-billing", dbrestv1.ReasonJobFailed, status.FailedStatus, argocd.Degraded)
	f.g.Expect(o.kstatusOf.Message).To(ContainSubstring("failed"))
	f.g.Expect(o.kstatusOf.Conditions).To(ContainElement(And(
		HaveField("Type", status.ConditionStalled), HaveField("Reason", dbrestv1.ReasonJobFailed))))
}

func TestKstatusDatabaseAPI(t *testing.T) {
	f := newFixture(t)
	f.waitObserved("DatabaseAPI", "db", dbrestv1.ReasonReachable, status.CurrentStatus, argocd.Healthy)

	// A DatabaseAPI whose Secret does not exist cannot progress until it
	// is created: Failed, not InProgress forever.
	f.createDatabaseAPI("orphan", "no-such-secret")
	f.waitObserved("DatabaseAPI", "orphan", dbrestv1.ReasonCredentialsNotFound, status.FailedStatus, argocd.Degraded)
}
