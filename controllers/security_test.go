package controllers_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// syncBuffer is a bytes.Buffer safe for the manager's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLoggedManager replaces the fixture's manager with one that logs
// every line, at every verbosity, into w. TestMain discards the global
// logger, so the manager gets its own through ctrl.Options.Logger; the
// controllers and their reconcile contexts derive theirs from it.
func (f *fixture) startLoggedManager(w io.Writer) {
	f.t.Helper()
	f.stopManager()
	f.startManagerWithLogger(zap.New(zap.WriteTo(w), zap.UseDevMode(true), zap.Level(zapcore.Level(-10))))
}

// countingServer records how many requests reached it and how many of
// them carried an Authorization header.
type countingServer struct {
	*httptest.Server
	requests, withAuth atomic.Int32
}

func newCountingServer(t *testing.T, tlsServer bool, next http.Handler) *countingServer {
	c := &countingServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			c.withAuth.Add(1)
		}
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"item":{"id":"1","status":"completed"}}`)
	})
	if tlsServer {
		c.Server = httptest.NewTLSServer(h)
	} else {
		c.Server = httptest.NewServer(h)
	}
	t.Cleanup(c.Close)
	return c
}

// echo answers with every request header in the body, the way a badly
// written server or proxy does in its error pages, and with the Basic
// credentials decoded for good measure.
func echo(w http.ResponseWriter, r *http.Request, code int, asJSON bool) {
	// Authorization first, so the plain-text page stays under the message
	// cap (a cut secret is the restapi hostile test's case, not this one).
	lines := []string{"Authorization: " + r.Header.Get("Authorization")}
	if u, p, ok := r.BasicAuth(); ok {
		lines = append(lines, "decoded "+u+":"+p)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		if k != "Authorization" {
			lines = append(lines, k+": "+strings.Join(r.Header[k], ","))
		}
	}
	if !asJSON {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, strings.Join(lines, "\n"))
		return
	}
	type message struct {
		Message  string `json:"message"`
		Severity string `json:"severity"`
	}
	var body struct {
		Messages []message `json:"messages"`
	}
	for _, l := range lines {
		body.Messages = append(body.Messages, message{l, "FAILURE"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// hostileHook serves the scenario prefixes in front of the simulator:
//
//	/echo/...     echoes the request headers into every error body
//	/offsite/...  answers a deploy with a job link on another origin
//	/redirect/... redirects reads of an application to another origin
//
// Other requests of these prefixes go to the simulator without the prefix.
func hostileHook(other string) func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		prefix, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if !ok {
			return false
		}
		isApp := strings.Contains(rest, "/id/")
		switch prefix {
		case "echo":
			switch {
			case r.Method == http.MethodGet && isApp:
				echo(w, r, http.StatusNotFound, true) // so the operator deploys
			case r.Method == http.MethodGet:
				echo(w, r, http.StatusInternalServerError, false)
			default:
				echo(w, r, http.StatusBadRequest, true)
			}
			return true
		case "offsite":
			if r.Method == http.MethodPost {
				// The server accepts the deploy, then names a job elsewhere.
				next.ServeHTTP(httptest.NewRecorder(), withPath(r, "/"+rest))
				job := other + "/management/wls/latest/jobs/deployment/id/1"
				w.Header().Set("Location", job)
				w.WriteHeader(http.StatusAccepted)
				_, _ = fmt.Fprintf(w, `{"links":[{"rel":"job","uri":%q}]}`, job)
				return true
			}
		case "redirect":
			if r.Method == http.MethodGet && isApp {
				http.Redirect(w, r, other+"/steal/"+rest, http.StatusFound)
				return true
			}
		default:
			return false
		}
		next.ServeHTTP(w, withPath(r, "/"+rest))
		return true
	}
}

func withPath(r *http.Request, path string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = path, ""
	return r2
}

// secretPieces returns every 8-character window of each secret: a message
// cut in the middle of a secret still shows one of them.
func secretPieces(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		for i := 0; i+8 <= len(s); i++ {
			out = append(out, s[i:i+8])
		}
	}
	return out
}

// TestSecurityCredentialsNeverLeak runs every way a credential could escape
// (a 401, a server that echoes headers, a job link and a redirect to
// another origin, a TLS failure, the insecure opt-in, a success) with
// known secrets, then scans all that the operator writes or exposes:
// status, events, log lines, metrics.
func TestSecurityCredentialsNeverLeak(t *testing.T) {
	password, token, wrong := "pw"+rand.String(16), "tk"+rand.String(16), "wr"+rand.String(16)
	f := newFixture(t, withSim(func(o *simulator.Options) {
		o.Users = map[string]simulator.User{"admin": {Password: password, Token: token}}
	}))
	var logs syncBuffer
	f.startLoggedManager(&logs)

	other := newCountingServer(t, false, nil)
	strictTLS := newCountingServer(t, true, f.inj)
	insecureTLS := newCountingServer(t, true, f.inj)
	f.inj.setHook(hostileHook(other.URL))

	f.createSecret("basic", map[string]string{"username": "admin", "password": password})
	f.createSecret("token", map[string]string{"token": token})
	f.createSecret("wrong", map[string]string{"username": "admin", "password": wrong})
	// A Secret of the same name in another namespace must never be read.
	elsewhere := "t-" + rand.String(8)
	f.g.Expect(k8s.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: elsewhere}})).To(Succeed())
	f.g.Expect(k8s.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: elsewhere},
		StringData: map[string]string{"token": token}})).To(Succeed())

	base := f.sim.BasePath()
	apis := []struct {
		name, url, secret string
		mutate            func(*dbrestv1.DatabaseAPISpec)
		status, reason    string
	}{
		{"good-basic", f.baseURL(), "basic", nil, "True", dbrestv1.ReasonReachable},
		{"good-token", f.baseURL(), "token", nil, "True", dbrestv1.ReasonReachable},
		{"unauth", f.baseURL(), "wrong", nil, "False", dbrestv1.ReasonUnauthorized},
		{"echo-basic", f.srv.URL + "/echo" + base, "basic", nil, "False", dbrestv1.ReasonServerError},
		{"echo-token", f.srv.URL + "/echo" + base, "token", nil, "False", dbrestv1.ReasonServerError},
		{"offsite", f.srv.URL + "/offsite" + base, "basic", nil, "True", dbrestv1.ReasonReachable},
		{"redirect", f.srv.URL + "/redirect" + base, "token", nil, "True", dbrestv1.ReasonReachable},
		{"tls", strictTLS.URL + base, "basic", nil, "False", dbrestv1.ReasonTLSError},
		{"insecure", insecureTLS.URL + base, "basic", func(s *dbrestv1.DatabaseAPISpec) { s.InsecureSkipTLSVerify = true },
			"True", dbrestv1.ReasonReachable},
		{"foreign", f.baseURL(), "foreign", nil, "False", dbrestv1.ReasonCredentialsNotFound},
	}
	for _, a := range apis {
		f.apiWith(a.name, a.url, func(s *dbrestv1.DatabaseAPISpec) {
			s.CredentialsSecretRef.Name = a.secret
			if a.mutate != nil {
				a.mutate(s)
			}
		})
	}
	deployments := []struct {
		name, api string
		reasons   []string
	}{
		{"ok-basic", "good-basic", []string{dbrestv1.ReasonDeployed}},
		{"ok-token", "good-token", []string{dbrestv1.ReasonDeployed}},
		{"d-unauth", "unauth", []string{dbrestv1.ReasonUnauthorized}},
		{"d-echo-basic", "echo-basic", []string{dbrestv1.ReasonInvalidSpec}},
		{"d-echo-token", "echo-token", []string{dbrestv1.ReasonInvalidSpec}},
		// The deploy was accepted: its job is found in the server's list
		// and polled on the API's own origin, never on the other one.
		{"d-offsite", "offsite", []string{dbrestv1.ReasonDeployed}},
		{"d-redirect", "redirect", []string{dbrestv1.ReasonUnexpectedStatus}},
		// Depending on whether the probe or the Deployment gets there first.
		{"d-tls", "tls", []string{dbrestv1.ReasonTLSError, dbrestv1.ReasonDatabaseAPINotReady}},
		{"d-foreign", "foreign", []string{dbrestv1.ReasonCredentialsNotFound}},
	}
	for _, d := range deployments {
		f.createDeployment(d.name, func(o *dbrestv1.Deployment) { o.Spec.DatabaseAPIRef.Name = d.api })
	}

	for _, a := range apis {
		f.waitAPI(a.name, a.status, a.reason)
	}
	for _, d := range deployments {
		f.g.Eventually(func(g Gomega) {
			o := f.get(d.name)
			g.Expect(o.Status.ObservedGeneration).To(Equal(o.Generation))
			g.Expect(findCondition(o, dbrestv1.ReadyCondition).Reason).To(BeElementOf(d.reasons))
		}, timeout, interval).Should(Succeed(), "Deployment %s", d.name)
	}
	// The echoed headers reached the condition, scrubbed: the scan below
	// looks at text that did hold the secrets.
	for _, name := range []string{"d-echo-basic", "d-echo-token"} {
		msg := findCondition(f.get(name), dbrestv1.ReadyCondition).Message
		f.g.Expect(msg).To(ContainSubstring("Authorization: "), name)
		f.g.Expect(msg).To(ContainSubstring("[redacted]"), name)
	}
	// The terminal failures have recorded their events before the scan.
	for _, name := range []string{"d-unauth", "d-echo-basic", "d-redirect"} {
		f.g.Eventually(func() []string { return f.eventReasons(name) }, timeout, interval).
			Should(ContainElement("RequestFailed"), name)
	}

	// Credentials never left the configured origin, nor a failed handshake.
	f.g.Expect(other.requests.Load()).To(BeZero(), "the other origin was contacted")
	f.g.Expect(other.withAuth.Load()).To(BeZero(), "credentials reached the other origin")
	f.g.Expect(strictTLS.requests.Load()).To(BeZero(), "a request passed an unverified handshake")
	f.g.Expect(insecureTLS.withAuth.Load()).To(BeNumerically(">", 0), "the insecure opt-in works")

	// The insecure opt-in is visible: in the condition and a Warning event.
	api := f.waitAPI("insecure", "True", dbrestv1.ReasonReachable)
	f.g.Expect(conditionMessage(api.Status.Conditions)).To(ContainSubstring("insecureSkipTLSVerify is on"))
	f.g.Eventually(func() bool { return f.hasWarning("insecure", "insecureSkipTLSVerify") }, timeout, interval).Should(BeTrue())

	// The scan: every place the operator writes to or exposes.
	f.g.Eventually(logs.String).Should(And(ContainSubstring("d-echo-basic"), ContainSubstring("reconciled")),
		"the manager's log was not captured")
	places := f.securityScanPlaces(logs.String())
	f.g.Expect(places["metrics"]).To(ContainSubstring("controller_runtime_reconcile_total"))
	basicValue := func(p string) string { return base64.StdEncoding.EncodeToString([]byte("admin:" + p))[8:] }
	pieces := secretPieces(password, token, wrong, basicValue(password), basicValue(wrong))
	for where, text := range places {
		for _, p := range pieces {
			f.g.Expect(text).NotTo(ContainSubstring(p), "%s shows part of a secret", where)
		}
	}
	t.Logf("scanned %d places (%d bytes of logs) for %d secret pieces: none found",
		len(places), len(places["logs"]), len(pieces))
}

// hasWarning says whether a Warning event about name carries text.
func (f *fixture) hasWarning(name, text string) bool {
	var list eventsv1.EventList
	f.g.Expect(k8s.List(f.ctx, &list, client.InNamespace(f.ns))).To(Succeed())
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, text) {
			return true
		}
	}
	return false
}

// securityScanPlaces gathers, as text, everything a user or another
// program can see of the operator's work in the namespace.
func (f *fixture) securityScanPlaces(logs string) map[string]string {
	f.t.Helper()
	asJSON := func(list client.ObjectList, opts ...client.ListOption) string {
		f.g.Expect(k8s.List(f.ctx, list, opts...)).To(Succeed())
		b, err := json.Marshal(list)
		f.g.Expect(err).NotTo(HaveOccurred())
		return string(b)
	}
	families, err := metrics.Registry.Gather()
	f.g.Expect(err).NotTo(HaveOccurred())
	var m strings.Builder
	for _, mf := range families {
		m.WriteString(mf.String())
	}
	return map[string]string{
		"Deployments":  asJSON(&dbrestv1.DeploymentList{}, client.InNamespace(f.ns)),
		"DatabaseAPIs": asJSON(&dbrestv1.DatabaseAPIList{}, client.InNamespace(f.ns)),
		"events":       asJSON(&eventsv1.EventList{}, client.InNamespace(f.ns)),
		"core events":  asJSON(&corev1.EventList{}, client.InNamespace(f.ns)),
		"logs":         logs,
		"metrics":      m.String(),
	}
}
