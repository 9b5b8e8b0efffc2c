package controllers_test

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// waitAPI waits until a DatabaseAPI's Ready condition is status/reason and
// returns the object.
func (f *fixture) waitAPI(name, status, reason string) *dbrestv1.DatabaseAPI {
	f.t.Helper()
	api := &dbrestv1.DatabaseAPI{}
	f.g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, api)).To(Succeed())
		g.Expect(api.Status.ObservedGeneration).To(Equal(api.Generation))
		g.Expect(conditionOf(api.Status.Conditions, dbrestv1.ReadyCondition)).To(Equal(status + "/" + reason))
	}, timeout, interval).Should(Succeed(), "DatabaseAPI %s never reached Ready=%s/%s", name, status, reason)
	return api
}

func (f *fixture) apiWith(name, url string, mutate func(*dbrestv1.DatabaseAPISpec)) {
	f.t.Helper()
	api := &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec:       dbrestv1.DatabaseAPISpec{URL: url, CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}},
	}
	if mutate != nil {
		mutate(&api.Spec)
	}
	f.g.Expect(k8s.Create(f.ctx, api)).To(Succeed())
}

func closedPortURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr + "/api/"
}

func TestDatabaseAPIProbeReasons(t *testing.T) {
	f := newFixture(t, withSim(func(o *simulator.Options) {
		o.Users = map[string]simulator.User{"admin": {Password: "admin"}, "reader": {Password: "reader", ReadOnly: true}}
	}))
	tlsSrv := httptest.NewTLSServer(f.inj)
	t.Cleanup(tlsSrv.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}))
	f.createSecret("wrong", map[string]string{"username": "admin", "password": "wrong"})
	f.createSecret("empty", map[string]string{"other": "x"})
	f.inj.add(&rule{method: "GET", path: "/mismatch/", code: 406})

	cases := []struct {
		name, url string
		mutate    func(*dbrestv1.DatabaseAPISpec)
		status    string
		reason    string
	}{
		{"reachable", f.baseURL(), nil, "True", dbrestv1.ReasonReachable},
		{"unauthorized", f.baseURL(), func(s *dbrestv1.DatabaseAPISpec) { s.CredentialsSecretRef.Name = "wrong" }, "False", dbrestv1.ReasonUnauthorized},
		{"credentials missing", f.baseURL(), func(s *dbrestv1.DatabaseAPISpec) { s.CredentialsSecretRef.Name = "nope" }, "False", dbrestv1.ReasonCredentialsNotFound},
		{"credentials without keys", f.baseURL(), func(s *dbrestv1.DatabaseAPISpec) { s.CredentialsSecretRef.Name = "empty" }, "False", dbrestv1.ReasonCredentialsNotFound},
		{"wrong base url", f.srv.URL + "/wrong/base/", nil, "False", dbrestv1.ReasonNotFound},
		{"protocol mismatch", f.srv.URL + "/mismatch/", nil, "False", dbrestv1.ReasonProtocolMismatch},
		{"unreachable", closedPortURL(t), nil, "False", dbrestv1.ReasonUnreachable},
		{"TLS without the CA", tlsSrv.URL + f.sim.BasePath(), nil, "False", dbrestv1.ReasonTLSError},
		{"TLS with the CA", tlsSrv.URL + f.sim.BasePath(), func(s *dbrestv1.DatabaseAPISpec) { s.CABundle = caPEM }, "True", dbrestv1.ReasonReachable},
		{"CA that is not PEM", tlsSrv.URL + f.sim.BasePath(), func(s *dbrestv1.DatabaseAPISpec) { s.CABundle = "not a certificate" }, "False", dbrestv1.ReasonInvalidConfig},
		{"CA ConfigMap missing", tlsSrv.URL + f.sim.BasePath(), func(s *dbrestv1.DatabaseAPISpec) {
			s.CABundleRef = &dbrestv1.CABundleSource{Name: "ca"}
		}, "False", dbrestv1.ReasonCANotFound},
		{"insecure", tlsSrv.URL + f.sim.BasePath(), func(s *dbrestv1.DatabaseAPISpec) { s.InsecureSkipTLSVerify = true }, "True", dbrestv1.ReasonReachable},
	}
	for i, tc := range cases {
		name := "api-" + string(rune('a'+i))
		f.apiWith(name, tc.url, tc.mutate)
		api := f.waitAPI(name, tc.status, tc.reason)
		msg := conditionMessage(api.Status.Conditions)
		f.g.Expect(msg).NotTo(ContainSubstring("wrong\""), tc.name)
		if tc.name == "insecure" {
			f.g.Expect(msg).To(ContainSubstring("insecureSkipTLSVerify is on"))
		}
		if tc.reason == dbrestv1.ReasonNotFound {
			f.g.Expect(api.Status.LastHTTPStatus).To(BeEquivalentTo(404))
		}
	}

	// The CA ConfigMap appears: the watch re-probes and the API is Ready.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: f.ns}, Data: map[string]string{"ca.crt": caPEM}}
	f.g.Expect(k8s.Create(f.ctx, cm)).To(Succeed())
	f.waitAPI("api-"+string(rune('a'+10)), "True", dbrestv1.ReasonReachable)
}

// TestDeploymentWaitsForBlockedDatabaseAPI: a DatabaseAPI whose every call
// would fail (wrong base URL) holds its Deployments back with
// DatabaseAPINotReady; fixing it releases them.
func TestDeploymentWaitsForBlockedDatabaseAPI(t *testing.T) {
	f := newFixture(t)
	f.apiWith("wrongbase", f.srv.URL+"/wrong/base/", nil)
	f.waitAPI("wrongbase", "False", dbrestv1.ReasonNotFound)
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "wrongbase" })
	d := f.waitFor("orders", "False", dbrestv1.ReasonDatabaseAPINotReady)
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("True/" + dbrestv1.ReasonDatabaseAPINotReady))
	f.g.Expect(f.sim.Stats().RequestsByOp["deploy"]).To(Equal(0))

	api := &dbrestv1.DatabaseAPI{}
	f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "wrongbase"}, api)).To(Succeed())
	api.Spec.URL = f.baseURL()
	f.g.Expect(k8s.Update(f.ctx, api)).To(Succeed())
	f.waitReady("orders")
}

// TestBlackHolesDoNotHoldProbes: six DatabaseAPIs, more than the four
// workers, point at a server that accepts connections and never answers,
// with a 10-minute request timeout. Their probes all leave, and a
// DatabaseAPI created after them is probed and Ready while all six are
// still unanswered: no worker waits on them. A black-holed DatabaseAPI
// whose url is fixed is probed at once (its old probe is cancelled), and
// a deleted one's probe is cancelled too.
func TestBlackHolesDoNotHoldProbes(t *testing.T) {
	f := newFixture(t)
	hole, err := harness.StartBlackHole()
	f.g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = hole.Close() })
	const holes = 6
	for i := range holes {
		f.apiWith(fmt.Sprintf("hole-%d", i), "http://"+hole.Addr()+"/api/", func(s *dbrestv1.DatabaseAPISpec) {
			s.RequestTimeout = &metav1.Duration{Duration: 10 * time.Minute}
		})
	}
	f.g.Eventually(hole.Open, timeout, interval).Should(Equal(holes), "every black-holed DatabaseAPI's probe left")

	f.apiWith("healthy", f.baseURL(), nil)
	f.waitAPI("healthy", "True", dbrestv1.ReasonReachable)
	f.g.Expect(hole.Open()).To(Equal(holes), "the healthy DatabaseAPI was probed while every black-holed probe was still on its way")

	api := &dbrestv1.DatabaseAPI{}
	f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "hole-0"}, api)).To(Succeed())
	f.g.Expect(api.Status.Conditions).To(BeEmpty(), "a probe on its way changes nothing in status")
	api.Spec.URL = f.baseURL()
	f.g.Expect(k8s.Update(f.ctx, api)).To(Succeed())
	f.waitAPI("hole-0", "True", dbrestv1.ReasonReachable)
	f.g.Eventually(hole.Open, timeout, interval).Should(Equal(holes-1), "the probe of the old url was cancelled")

	f.g.Expect(k8s.Delete(f.ctx, &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "hole-1"}})).To(Succeed())
	f.g.Eventually(hole.Open, timeout, interval).Should(Equal(holes-2), "the deleted DatabaseAPI's probe was cancelled")
}

func conditionMessage(list []metav1.Condition) string {
	for _, c := range list {
		if c.Type == dbrestv1.ReadyCondition {
			return c.Message
		}
	}
	return ""
}
