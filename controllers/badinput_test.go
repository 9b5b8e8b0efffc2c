package controllers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// Windows over which the request rate is watched. A hot loop makes
// hundreds of requests per second; the bounds below allow the backoff of
// testConfig (200ms doubling to 2s, at least 1s) with a wide margin.
const (
	quietWindow = 3 * time.Second
	retryWindow = 6 * time.Second
	// maxRetries is the most requests a retrying failure may make in
	// retryWindow, probe included: one per second at most for each of the
	// Deployment and its DatabaseAPI, with room to spare.
	maxRetries = 16
)

// badCase is a valid Deployment that cannot work.
type badCase struct {
	name string
	// setup prepares the world and returns a count of the requests that
	// the failure causes, to watch for a hot loop.
	setup func(f *fixture) func() int
	// mutate adjusts the Deployment "orders".
	mutate func(*dbrestv1.Deployment)
	// phase is the condition that must be True: Stalled (terminal) or
	// Reconciling (retried with backoff).
	phase   string
	reasons []string
	message string
	// event is a Warning reason expected about the Deployment ("" none).
	event string
}

func TestBadInputEndsInTypedConditions(t *testing.T) {
	cases := []badCase{
		{
			name: "Secret without keys",
			setup: func(f *fixture) func() int {
				f.secretOnly("nokeys", map[string]string{"user": "admin"})
				return f.simCalls
			},
			mutate: func(d *dbrestv1.Deployment) {
				d.Spec.DatabaseAPIRef.Name = "nokeys"
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonCredentialsNotFound},
			message: `has neither a "token" key nor both "username" and "password"`,
		},
		{
			name: "missing Secret",
			setup: func(f *fixture) func() int {
				f.apiWith("nosecret", f.baseURL(), secretRef("absent"))
				return f.simCalls
			},
			mutate: func(d *dbrestv1.Deployment) {
				d.Spec.DatabaseAPIRef.Name = "nosecret"
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonCredentialsNotFound},
			message: `credentials Secret "absent" not found`,
		},
		{
			name: "unreachable URL (connection refused)",
			setup: func(f *fixture) func() int {
				f.apiWith("refused", closedPortURL(f.t), nil)
				return func() int { return 0 }
			},
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "refused" },
			phase:  dbrestv1.ReconcilingCondition, reasons: []string{dbrestv1.ReasonUnreachable, dbrestv1.ReasonCircuitOpen},
			message: "connection refused",
		},
		{
			name: "connection dropped on accept",
			setup: func(f *fixture) func() int {
				url, accepts := droppingListener(f.t)
				f.apiWith("dropping", url, nil)
				return func() int { return int(accepts.Load()) }
			},
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "dropping" },
			phase:  dbrestv1.ReconcilingCondition, reasons: []string{dbrestv1.ReasonUnreachable, dbrestv1.ReasonCircuitOpen},
		},
		{
			name: "CA that does not verify",
			setup: func(f *fixture) func() int {
				conns := tlsServerWithWrongCA(f)
				return func() int { return int(conns.Load()) }
			},
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "wrongca" },
			phase:  dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonTLSError, dbrestv1.ReasonDatabaseAPINotReady},
			message: "certificate",
		},
		{
			// Admission lets a line break in a header value through; the
			// client refuses it before sending anything (no header
			// injection), and the DatabaseAPI says which header.
			name: "header value with a line break",
			setup: func(f *fixture) func() int {
				f.apiWith("crlf", f.baseURL(), func(s *dbrestv1.DatabaseAPISpec) {
					s.Headers = map[string]string{"X-Team": "a\r\nX-Injected: 1"}
				})
				f.waitAPI("crlf", "False", dbrestv1.ReasonInvalidConfig)
				return f.simCalls
			},
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "crlf" },
			phase:  dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonDatabaseAPINotReady},
			message: `invalid header "X-Team"`,
		},
		{
			name:   "unknown DatabaseAPI",
			setup:  func(f *fixture) func() int { return f.simCalls },
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "nope" },
			phase:  dbrestv1.ReconcilingCondition, reasons: []string{dbrestv1.ReasonDatabaseAPINotReady},
			message: `DatabaseAPI "nope" not found in namespace`,
		},
		{
			name: "DatabaseAPI only in another namespace",
			setup: func(f *fixture) func() int {
				other := "t-" + rand.String(8)
				f.g.Expect(k8s.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}})).To(Succeed())
				api := &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: "remote", Namespace: other},
					Spec: dbrestv1.DatabaseAPISpec{URL: f.baseURL(), CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}}}
				f.g.Expect(k8s.Create(f.ctx, api)).To(Succeed())
				return f.simCalls
			},
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "remote" },
			phase:  dbrestv1.ReconcilingCondition, reasons: []string{dbrestv1.ReasonDatabaseAPINotReady},
			message: `DatabaseAPI "remote" not found in namespace`,
		},
		{
			name: "huge body on GET application",
			setup: func(f *fixture) func() int {
				r := f.inj.add(&rule{method: "GET", path: "deployments/application/id/", code: 200, ctype: "application/json",
					body: `{"item":{"name":"orders","x":"` + strings.Repeat("x", 5<<20) + `"}}`})
				return func() int { return f.inj.hitsOf(r) }
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonProtocolMismatch},
			message: "body exceeds", event: "RequestFailed",
		},
		{
			name: "invalid JSON on 200 for GET application",
			setup: func(f *fixture) func() int {
				r := f.inj.add(&rule{method: "GET", path: "deployments/application/id/", code: 200, ctype: "application/json",
					body: `{"item":{"name":"orders",`})
				return func() int { return f.inj.hitsOf(r) }
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonProtocolMismatch},
			message: "200 without an application item", event: "RequestFailed",
		},
		{
			// A 202 that names no job and has nothing behind it: no job
			// listed, no application. (With a job behind it, the job is
			// found in the list: TestAcceptedWithoutJobLink.)
			name: "202 without any job link, and no job",
			setup: func(f *fixture) func() int {
				var n atomic.Int32
				f.inj.setHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if r.Method != http.MethodPost {
						return false
					}
					n.Add(1)
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write([]byte(`{"messages":[{"message":"accepted"}]}`))
					return true
				})
				return func() int { return int(n.Load()) }
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonProtocolMismatch},
			message: "lists no job for it", event: "RequestFailed",
		},
		{
			name: "job with an unknown status",
			setup: func(f *fixture) func() int {
				r := f.inj.add(&rule{method: "GET", path: "jobs/deployment/id/", code: 200, ctype: "application/json",
					body: `{"item":{"id":"1","status":"sleeping","operation":"deploy"}}`})
				return func() int { return f.inj.hitsOf(r) }
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonProtocolMismatch},
			message: "job with an unknown status", event: "RequestFailed",
		},
		{
			name: "job without a status",
			setup: func(f *fixture) func() int {
				r := f.inj.add(&rule{method: "GET", path: "jobs/deployment/id/", code: 200, ctype: "application/json",
					body: `{"item":{"id":"1"}}`})
				return func() int { return f.inj.hitsOf(r) }
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonProtocolMismatch},
			event: "RequestFailed",
		},
		{
			name: "302 to another host",
			setup: func(f *fixture) func() int {
				other := newCountingServer(f.t, false, nil)
				r := f.inj.add(&rule{method: "GET", path: "deployments/application/id/", code: http.StatusFound,
					headers: map[string]string{"Location": other.URL + "/elsewhere"}})
				return func() int { return f.inj.hitsOf(r) + 1000*int(other.requests.Load()) }
			},
			phase: dbrestv1.StalledCondition, reasons: []string{dbrestv1.ReasonUnexpectedStatus},
			message: "not followed", event: "RequestFailed",
		},
		{
			name: "slowloris answer beyond requestTimeout",
			setup: func(f *fixture) func() int {
				var n atomic.Int32
				f.inj.setHook(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
					if !strings.Contains(r.URL.Path, "/slow/") {
						return false
					}
					n.Add(1)
					dribble(w, r)
					return true
				})
				f.apiWith("slow", f.srv.URL+"/slow"+f.sim.BasePath(), func(s *dbrestv1.DatabaseAPISpec) {
					s.RequestTimeout = &metav1.Duration{Duration: time.Second}
				})
				return func() int { return int(n.Load()) }
			},
			mutate: func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "slow" },
			phase:  dbrestv1.ReconcilingCondition, reasons: []string{dbrestv1.ReasonUnreachable, dbrestv1.ReasonCircuitOpen},
			message: "time-out",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			count := tc.setup(f)
			mutate := tc.mutate
			if mutate == nil {
				mutate = func(*dbrestv1.Deployment) {}
			}
			f.createDeployment("orders", mutate)
			f.g.Eventually(func(g Gomega) {
				d := f.get("orders")
				g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
				ready := findCondition(d, dbrestv1.ReadyCondition)
				g.Expect(ready.Status).To(BeEquivalentTo("False"))
				g.Expect(ready.Reason).To(BeElementOf(tc.reasons))
				g.Expect(findCondition(d, tc.phase).Status).To(BeEquivalentTo("True"), "%s", tc.phase)
				g.Expect(ready.Message).To(ContainSubstring(tc.message))
			}, timeout, interval).Should(Succeed())
			if tc.event != "" {
				f.g.Eventually(func() []string { return f.warningReasons("orders") }, timeout, interval).
					Should(ContainElement(tc.event))
			}

			// No hot loop: a terminal failure makes no further request; a
			// retryable one retries, with backoff.
			start := count()
			if tc.phase == dbrestv1.StalledCondition {
				f.g.Consistently(count, quietWindow, 250*time.Millisecond).Should(Equal(start))
			} else {
				f.g.Consistently(func() int { return count() - start }, retryWindow, 250*time.Millisecond).
					Should(BeNumerically("<=", maxRetries))
			}
			f.g.Expect(f.sim.Stats().RequestsByOp["deploy"]).To(BeNumerically("<=", 1))
			f.expectNoDuplicates()
			t.Logf("%s: %d requests, then %d in the watch window", tc.name, start, count()-start)
		})
	}
}

// TestBadInputRecovers: once the missing piece appears, the watches bring
// the Deployment to Ready without any change to it.
func TestBadInputRecovers(t *testing.T) {
	f := newFixture(t)
	f.createDeployment("orders", func(d *dbrestv1.Deployment) { d.Spec.DatabaseAPIRef.Name = "later" })
	d := f.waitFor("orders", "False", dbrestv1.ReasonDatabaseAPINotReady)
	f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("True/" + dbrestv1.ReasonDatabaseAPINotReady))
	f.apiWith("later", f.baseURL(), secretRef("late-secret"))
	f.waitFor("orders", "False", dbrestv1.ReasonCredentialsNotFound)
	f.createSecret("late-secret", map[string]string{"username": "admin", "password": "admin"})
	f.waitReady("orders")
	f.expectNoDuplicates()
}

func secretRef(name string) func(*dbrestv1.DatabaseAPISpec) {
	return func(s *dbrestv1.DatabaseAPISpec) { s.CredentialsSecretRef.Name = name }
}

// secretOnly creates a Secret and a DatabaseAPI of the same name that uses it.
func (f *fixture) secretOnly(name string, data map[string]string) {
	f.createSecret(name, data)
	f.apiWith(name, f.baseURL(), secretRef(name))
}

// simCalls counts the application calls the simulator saw (the probes of
// the fixture's own DatabaseAPI are left out).
func (f *fixture) simCalls() int {
	st := f.sim.Stats().RequestsByOp
	return st["getApp"] + st["deploy"] + st["redeploy"] + st["undeploy"] + st["getJob"]
}

// warningReasons returns the reasons of the Warning events about name.
func (f *fixture) warningReasons(name string) []string {
	var list eventsv1.EventList
	f.g.Expect(k8s.List(f.ctx, &list, client.InNamespace(f.ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning {
			out = append(out, e.Reason)
		}
	}
	return out
}

// droppingListener accepts connections and closes them at once, counting
// them: a server that is up but never answers.
func droppingListener(t *testing.T) (string, *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return "http://" + l.Addr().String() + "/api/", &n
}

// tlsServerWithWrongCA starts a TLS server in front of the simulator and a
// DatabaseAPI "wrongca" whose caBundle is a CA that did not sign the
// server's certificate; it returns a count of the connections the server
// accepted (handshakes tried).
func tlsServerWithWrongCA(f *fixture) *atomic.Int32 {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(f.inj)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	f.t.Cleanup(srv.Close)
	f.apiWith("wrongca", srv.URL+f.sim.BasePath(), func(s *dbrestv1.DatabaseAPISpec) { s.CABundle = strangerCA(f.t) })
	return &conns
}

// strangerCA is the PEM of a fresh self-signed CA: valid, but it signed
// nothing the tests serve. (Every httptest TLS server shares one
// certificate, so another httptest server would not do.)
func strangerCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stranger CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// dribble answers 200 and then one byte every 300ms, for as long as the
// client stays: a slowloris answer that never ends.
func dribble(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_, _ = w.Write([]byte("{"))
	_ = rc.Flush()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}
}
