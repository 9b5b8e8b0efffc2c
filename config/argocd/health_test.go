package argocd_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/config/argocd"
	"github.com/dbrest-io/dbrest-operator/internal/conditions"
)

// asJSON turns a typed object into the map Argo CD sees (the object as
// the API server serves it).
func asJSON(t *testing.T, obj any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// deployment builds a Deployment whose status is written by the same code
// the controller uses (conditions.Apply), at generation gen, observed at
// observed, after each outcome in turn.
func deployment(gen, observed int64, outcomes ...outcome) *dbrestv1.Deployment {
	d := &dbrestv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: dbrestv1.GroupVersion.String(), Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", Generation: gen},
		Spec: dbrestv1.DeploymentSpec{
			DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
			Application:    dbrestv1.ApplicationSpec{Name: "orders", DeploymentPath: "/apps/orders.war", Targets: []string{"cluster1"}},
		},
	}
	for _, o := range outcomes {
		d.Status.ObservedGeneration = observed
		conditions.Apply(&d.Status.Conditions, observed, o.phase, o.reason, o.message)
	}
	return d
}

type outcome struct {
	phase   conditions.Phase
	reason  string
	message string
}

var (
	deploying = outcome{conditions.Progressing, dbrestv1.ReasonDeploying,
		`deploy of "orders" accepted by the server; polling job http://db/management/wls/latest/jobs/deployment/id/7`}
	deployed = outcome{conditions.Ready, dbrestv1.ReasonDeployed, `application "orders" is deployed and active on the server`}
	failed   = outcome{conditions.Stalled, dbrestv1.ReasonJobFailed,
		`deploy job http://db/management/wls/latest/jobs/deployment/id/7 failed: cluster1: archive not found; fix the spec to redeploy`}
	suspended = outcome{conditions.Paused, dbrestv1.ReasonSuspended,
		"spec.suspend is true: the operator makes no calls for this Deployment"}
	refused = outcome{conditions.Stalled, dbrestv1.ReasonAdoptionRefused,
		`application "orders" already exists on the server and this Deployment did not deploy it (state STATE_ACTIVE, version "1")`}
	mismatch  = outcome{conditions.Stalled, dbrestv1.ReasonAdoptionMismatch, `version: server has "1", spec says "2"`}
	conflict  = outcome{conditions.Stalled, dbrestv1.ReasonConflict, `application "orders" is managed by Deployment shop/orders-old`}
	drifted   = outcome{conditions.Stalled, dbrestv1.ReasonDrifted, `application "orders" differs from the spec (version: server has "1", spec says "2")`}
	throttled = outcome{conditions.Progressing, dbrestv1.ReasonThrottled, "reading application orders failed: HTTP 429 Too Many Requests"}
)

// planned gives d a plan of op held back by blockedBy.
func planned(d *dbrestv1.Deployment, op dbrestv1.PlanOperation, blockedBy string) *dbrestv1.Deployment {
	d.Status.Plan = &dbrestv1.Plan{Operation: op, BlockedBy: blockedBy, Reason: "test"}
	return d
}

func databaseAPI(o outcome) *dbrestv1.DatabaseAPI {
	api := &dbrestv1.DatabaseAPI{
		TypeMeta:   metav1.TypeMeta{APIVersion: dbrestv1.GroupVersion.String(), Kind: "DatabaseAPI"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", Generation: 1},
		Spec:       dbrestv1.DatabaseAPISpec{URL: "https://db.example.com/", CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}},
	}
	api.Status.ObservedGeneration = 1
	conditions.Apply(&api.Status.Conditions, 1, o.phase, o.reason, o.message)
	return api
}

func TestHealth(t *testing.T) {
	cases := []struct {
		name        string
		obj         any
		status      string
		messageHas  string
		messageNone string
	}{
		{"no status yet", deployment(1, 0), argocd.Progressing, "Waiting for the operator", ""},
		{"deploying", deployment(1, 1, deploying), argocd.Progressing, "Deploying: deploy of \"orders\" accepted", ""},
		{"retrying a 429", deployment(1, 1, deployed, throttled), argocd.Progressing, "Throttled: ", ""},
		{"deployed", deployment(1, 1, deploying, deployed), argocd.Healthy, "Deployed: application \"orders\" is deployed", ""},
		{"job failed", deployment(1, 1, deploying, failed), argocd.Degraded, "JobFailed: deploy job", ""},
		{"suspended while ready", deployment(2, 2, deployed, suspended), argocd.Suspended, "Suspended: spec.suspend is true", ""},
		{"suspended while stalled", deployment(2, 2, failed, suspended), argocd.Suspended, "Suspended: ", ""},
		// A new spec: the Ready=True of the old one must not count.
		{"spec changed, not observed yet", deployment(2, 1, deployed), argocd.Progressing, "observe generation 2", "Deployed"},
		{"spec changed, old failure", deployment(3, 2, failed), argocd.Progressing, "observe generation 3", "JobFailed"},
		{"adoption refused", deployment(1, 1, refused), argocd.Degraded, "AdoptionRefused: application \"orders\" already exists", ""},
		{"adoption refused names its plan", planned(deployment(1, 1, refused), dbrestv1.PlanRedeploy, dbrestv1.ReasonAdoptionRefused),
			argocd.Degraded, "[plan: Redeploy, held back by AdoptionRefused]", ""},
		{"adoption mismatch", deployment(1, 1, mismatch), argocd.Degraded, "AdoptionMismatch: ", ""},
		{"conflict", deployment(1, 1, conflict), argocd.Degraded, "Conflict: ", ""},
		{"observe only, drifted", planned(deployment(1, 1, drifted), dbrestv1.PlanRedeploy, dbrestv1.ReasonObserveOnly),
			argocd.Degraded, "Drifted: application \"orders\" differs", ""},
		{"observe only, the server runs the spec", deployment(1, 1, deployed), argocd.Healthy, "Deployed: ", "plan"},
		{"DatabaseAPI reachable", databaseAPI(outcome{conditions.Ready, dbrestv1.ReasonReachable, "the API at https://db.example.com/ answered the probe"}),
			argocd.Healthy, "Reachable: the API", ""},
		{"DatabaseAPI unauthorized", databaseAPI(outcome{conditions.Stalled, dbrestv1.ReasonUnauthorized, "probe failed: HTTP 401; fix the credentials Secret"}),
			argocd.Degraded, "Unauthorized: probe failed", ""},
		{"DatabaseAPI unreachable", databaseAPI(outcome{conditions.Progressing, dbrestv1.ReasonUnreachable, "probe failed: connection refused"}),
			argocd.Progressing, "Unreachable: ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			h, err := argocd.Evaluate(asJSON(t, tc.obj))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(h.Status).To(Equal(tc.status), "message: %s", h.Message)
			g.Expect(h.Message).To(ContainSubstring(tc.messageHas))
			if tc.messageNone != "" {
				g.Expect(h.Message).NotTo(ContainSubstring(tc.messageNone))
			}
		})
	}
}

// TestHealthOnServedJSON runs the script on a Deployment written out as the
// API server serves it, with every status field the controller sets, so the
// script is shown to cope with the full shape and not only conditions.
func TestHealthOnServedJSON(t *testing.T) {
	g := NewWithT(t)
	const served = `{
  "apiVersion": "apps.dbrest.io/v1alpha1",
  "kind": "Deployment",
  "metadata": {"name": "broken-billing", "namespace": "default", "generation": 1,
    "finalizers": ["apps.dbrest.io/undeploy"], "resourceVersion": "812", "uid": "0b8e7c52-3f0e-4a53-9d0c-5a4f6f1f2b11"},
  "spec": {"databaseAPIRef": {"name": "local-sim"}, "deletionPolicy": "Delete", "detached": true,
    "pollInterval": "5s", "timeout": "30m",
    "application": {"name": "broken-billing", "deploymentPath": "/apps/billing-0.9.war", "targets": ["cluster1"]}},
  "status": {
    "observedGeneration": 1,
    "applicationState": "STATE_FAILED",
    "applicationURL": "http://127.0.0.1:8765/management/wls/latest/deployments/application/id/broken-billing",
    "lastHTTPStatus": 200,
    "lastFailedFingerprint": "5b0d0c3c8a3f1e0c9a2d4f11@g1/s401/c",
    "lastSyncedAt": "2026-07-01T10:00:04Z",
    "job": {"url": "http://127.0.0.1:8765/management/wls/latest/jobs/deployment/id/3", "operation": "Deploy",
      "status": "failed", "fingerprint": "5b0d0c3c8a3f1e0c9a2d4f11", "startedAt": "2026-07-01T10:00:01Z",
      "lastPolledAt": "2026-07-01T10:00:04Z", "polls": 2},
    "conditions": [
      {"type": "Ready", "status": "False", "reason": "JobFailed", "observedGeneration": 1,
        "lastTransitionTime": "2026-07-01T10:00:01Z",
        "message": "deploy job http://127.0.0.1:8765/management/wls/latest/jobs/deployment/id/3 failed: cluster1: simulated failure; fix the spec to redeploy"},
      {"type": "Stalled", "status": "True", "reason": "JobFailed", "observedGeneration": 1,
        "lastTransitionTime": "2026-07-01T10:00:04Z",
        "message": "deploy job http://127.0.0.1:8765/management/wls/latest/jobs/deployment/id/3 failed: cluster1: simulated failure; fix the spec to redeploy"}
    ]
  }
}`
	var obj map[string]any
	g.Expect(json.Unmarshal([]byte(served), &obj)).To(Succeed())
	h, err := argocd.Evaluate(obj)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h).To(Equal(argocd.Health{Status: argocd.Degraded,
		Message: "JobFailed: deploy job http://127.0.0.1:8765/management/wls/latest/jobs/deployment/id/3 failed: cluster1: simulated failure; fix the spec to redeploy"}))
}

// TestArgoCDConfigMapCarriesTheScript keeps argocd-cm.yaml in step with
// health.lua, for both kinds, under the keys Argo CD looks up
// (resource.customizations.health.<group>_<kind>).
func TestArgoCDConfigMapCarriesTheScript(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile("argocd-cm.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	var cm corev1.ConfigMap
	g.Expect(yaml.UnmarshalStrict(b, &cm)).To(Succeed())
	g.Expect(cm.Kind).To(Equal("ConfigMap"))
	g.Expect(cm.Name).To(Equal("argocd-cm"))
	g.Expect(cm.Data).To(HaveLen(2))
	for _, kind := range []string{"Deployment", "DatabaseAPI"} {
		key := "resource.customizations.health." + dbrestv1.GroupVersion.Group + "_" + kind
		g.Expect(cm.Data).To(HaveKey(key))
		g.Expect(cm.Data[key]).To(Equal(argocd.Script), "%s differs from health.lua", key)
	}
	g.Expect(strings.TrimSpace(argocd.Script)).To(HaveSuffix("return hs"))
}

func TestHealthOnUnstructuredNumbers(t *testing.T) {
	// Argo CD hands the script unstructured content, whose numbers are
	// int64, not JSON's float64: generations must still compare equal.
	g := NewWithT(t)
	h, err := argocd.Evaluate(map[string]any{"metadata": map[string]any{"generation": int64(4)},
		"status": map[string]any{"observedGeneration": int64(4), "conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "reason": "Deployed", "message": "m"},
		}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h).To(Equal(argocd.Health{Status: argocd.Healthy, Message: "Deployed: m"}))
}
