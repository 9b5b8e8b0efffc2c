package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/controllers"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

var (
	restConfig *rest.Config
	k8s        client.Client
)

func TestMain(m *testing.M) {
	if os.Getenv("TEST_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.Level(-2))))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = env.Stop()
	os.Exit(code)
}

const (
	timeout  = 60 * time.Second
	interval = 100 * time.Millisecond
)

// fixture is one test's world: its own namespace, simulator, DatabaseAPI
// and manager, so tests run in parallel without seeing each other.
type fixture struct {
	t     *testing.T
	g     *WithT
	ctx   context.Context
	ns    string
	sim   *simulator.Server
	srv   *httptest.Server
	inj   *injector
	cfg   controllers.Config
	stop  func()
	mgrMu sync.Mutex
	// others are more namespaces the manager watches (newNamespace).
	others []string
}

// testConfig keeps retries and polls short; resync is off unless a test
// turns it on.
func testConfig() controllers.Config {
	return controllers.Config{
		MaxConcurrentReconciles: 8,
		Deployment: controllers.DeploymentOptions{
			ResyncInterval:  time.Hour,
			MaxPollInterval: 2 * time.Second,
			Backoff:         controllers.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second},
		},
	}
}

type fixtureOption func(*fixture, *simulator.Options)

func withSim(mutate func(*simulator.Options)) fixtureOption {
	return func(_ *fixture, o *simulator.Options) { mutate(o) }
}

func withConfig(mutate func(*controllers.Config)) fixtureOption {
	return func(f *fixture, _ *simulator.Options) { mutate(&f.cfg) }
}

// newFixture starts a simulator (behind an injector, for exact wire
// answers), creates a namespace with a credentials Secret and a
// DatabaseAPI "db", and starts a manager that watches that namespace.
func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	t.Parallel()
	f := &fixture{t: t, g: NewWithT(t), ctx: context.Background(), cfg: testConfig()}
	simOpts := simulator.Options{JobDuration: 300 * time.Millisecond}
	for _, o := range opts {
		o(f, &simOpts)
	}
	f.sim = simulator.New(simOpts)
	f.inj = &injector{next: f.sim.Handler()}
	f.srv = httptest.NewServer(f.inj)
	t.Cleanup(func() { f.srv.Close(); f.sim.Close() })

	f.ns = "t-" + rand.String(8)
	f.g.Expect(k8s.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})).To(Succeed())
	f.createSecret("creds", map[string]string{"username": "admin", "password": "admin"})
	f.createDatabaseAPI("db", "creds")
	f.startManager()
	return f
}

func (f *fixture) baseURL() string { return f.srv.URL + f.sim.BasePath() }

func (f *fixture) createSecret(name string, data map[string]string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, StringData: data}
	f.g.Expect(k8s.Create(f.ctx, s)).To(Succeed())
}

func (f *fixture) createDatabaseAPI(name, secret string) *dbrestv1.DatabaseAPI {
	f.t.Helper()
	api := &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: dbrestv1.DatabaseAPISpec{
			URL:                  f.baseURL(),
			CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: secret},
			// Short, because a call whose outcome is unknown is settled
			// no sooner than this after it was sent.
			RequestTimeout: &metav1.Duration{Duration: 3 * time.Second},
		},
	}
	f.g.Expect(k8s.Create(f.ctx, api)).To(Succeed())
	return api
}

// watched are the namespaces the test's manager caches.
func (f *fixture) watched() map[string]cache.Config {
	m := map[string]cache.Config{f.ns: {}}
	for _, ns := range f.others {
		m[ns] = cache.Config{}
	}
	return m
}

// startManager runs the shipped wiring (controllers.Setup) in a manager
// whose cache covers only this test's namespace.
func (f *fixture) startManager() { f.startManagerWithLogger(ctrl.Log) }

// startManagerWithLogger is startManager with the manager's own logger
// (the controllers and their reconcile contexts derive theirs from it).
func (f *fixture) startManagerWithLogger(logger logr.Logger) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: f.watched()},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(controllers.Setup(ctx, mgr, f.cfg)).To(Succeed())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			f.t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	f.mgrMu.Lock()
	f.stop = stop
	f.mgrMu.Unlock()
	f.t.Cleanup(stop)
}

// stopManager stops the running manager and waits for it to exit.
func (f *fixture) stopManager() {
	f.mgrMu.Lock()
	stop := f.stop
	f.mgrMu.Unlock()
	stop()
}

func (f *fixture) newDeployment(name string, mutate ...func(*dbrestv1.Deployment)) *dbrestv1.Deployment {
	d := &dbrestv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: dbrestv1.DeploymentSpec{
			DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
			Application: dbrestv1.ApplicationSpec{
				Name: name, DeploymentPath: "/apps/" + name + "-1.0.war", Targets: []string{"cluster1"}, Version: "1.0",
			},
			PollInterval: &metav1.Duration{Duration: time.Second},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func (f *fixture) createDeployment(name string, mutate ...func(*dbrestv1.Deployment)) *dbrestv1.Deployment {
	f.t.Helper()
	d := f.newDeployment(name, mutate...)
	f.g.Expect(k8s.Create(f.ctx, d)).To(Succeed())
	return d
}

func (f *fixture) get(name string) *dbrestv1.Deployment {
	d := &dbrestv1.Deployment{}
	f.g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, d)).To(Succeed())
	return d
}

// update applies mutate to the latest copy, retrying on conflicts.
func (f *fixture) update(name string, mutate func(*dbrestv1.Deployment)) {
	f.t.Helper()
	f.g.Eventually(func() error {
		d := f.get(name)
		mutate(d)
		return k8s.Update(f.ctx, d)
	}, timeout, interval).Should(Succeed())
}

// condition returns "Status/Reason" of a condition type, or "absent".
func condition(d *dbrestv1.Deployment, typ string) string {
	c := meta.FindStatusCondition(d.Status.Conditions, typ)
	if c == nil {
		return "absent"
	}
	return string(c.Status) + "/" + c.Reason
}

// waitFor waits until the Ready condition is status/reason, with the
// object's current generation observed.
func (f *fixture) waitFor(name, status, reason string) *dbrestv1.Deployment {
	f.t.Helper()
	var d *dbrestv1.Deployment
	f.g.Eventually(func(g Gomega) {
		d = &dbrestv1.Deployment{}
		g.Expect(k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(condition(d, dbrestv1.ReadyCondition)).To(Equal(status + "/" + reason))
	}, timeout, interval).Should(Succeed(), "Deployment %s never reached Ready=%s/%s", name, status, reason)
	return d
}

func (f *fixture) waitReady(name string) *dbrestv1.Deployment {
	f.t.Helper()
	d := f.waitFor(name, "True", dbrestv1.ReasonDeployed)
	f.g.Expect(condition(d, dbrestv1.ReconcilingCondition)).To(Equal("absent"))
	f.g.Expect(condition(d, dbrestv1.StalledCondition)).To(Equal("absent"))
	return d
}

func (f *fixture) waitGone(name string) {
	f.t.Helper()
	f.g.Eventually(func() bool {
		err := k8s.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &dbrestv1.Deployment{})
		return client.IgnoreNotFound(err) == nil && err != nil
	}, timeout, interval).Should(BeTrue(), "Deployment %s was never deleted", name)
}

func (f *fixture) delete(name string) {
	f.t.Helper()
	f.g.Expect(k8s.Delete(f.ctx, f.get(name))).To(Succeed())
}

// events returns the reasons of the events about one object, in order.
func (f *fixture) eventReasons(name string) []string {
	var list eventsv1.EventList
	f.g.Expect(k8s.List(f.ctx, &list, client.InNamespace(f.ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

// expectNoDuplicates checks the simulator's guarantees counters.
func (f *fixture) expectNoDuplicates() {
	f.t.Helper()
	st := f.sim.Stats()
	f.g.Expect(st.DuplicateDeploys).To(Equal(0), "duplicate deploys: %v", st.DuplicateDeploysByApp)
	f.g.Expect(st.MaxConcurrentMutatingOverall).To(BeNumerically("<=", 1), "concurrent mutating calls: %v", st.MaxConcurrentMutating)
	f.g.Expect(st.OverlappingMutating).To(BeZero(), "mutating calls sent while another call or a job ran: %v", st.OverlappingMutatingByApp)
}

// injector sits in front of the simulator and answers matching requests
// itself, for exact wire answers the simulator has no option for.
type injector struct {
	next  http.Handler
	mu    sync.Mutex
	rules []*rule
	// hook, when set, sees every request first and may answer it (true).
	hook func(w http.ResponseWriter, r *http.Request, next http.Handler) bool
}

func (in *injector) setHook(h func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.hook = h
}

type rule struct {
	method string
	// path matches when the request path contains it.
	path    string
	code    int
	body    string
	ctype   string
	headers map[string]string
	// hits counts the requests this rule answered.
	hits int
}

func (in *injector) add(r *rule) *rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, r)
	return r
}

func (in *injector) clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
}

func (in *injector) hitsOf(r *rule) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return r.hits
}

func (in *injector) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	in.mu.Lock()
	hook := in.hook
	in.mu.Unlock()
	if hook != nil && hook(w, req, in.next) {
		return
	}
	in.mu.Lock()
	var match *rule
	for _, r := range in.rules {
		if r.method == req.Method && strings.Contains(req.URL.Path, r.path) {
			match = r
			r.hits++
			break
		}
	}
	in.mu.Unlock()
	if match == nil {
		in.next.ServeHTTP(w, req)
		return
	}
	for k, v := range match.headers {
		w.Header().Set(k, v)
	}
	if match.ctype != "" {
		w.Header().Set("Content-Type", match.ctype)
	}
	w.WriteHeader(match.code)
	_, _ = w.Write([]byte(match.body))
}
