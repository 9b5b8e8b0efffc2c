//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// converge is how long a test waits for every object to reach its final
// state once the faults stop.
const converge = 4 * time.Minute

// managerArgs keep the retry and poll delays short, so that a test
// exercises many retries in little time; resync is off (1h) so every
// request the simulator counts is the operator reacting to a change.
var managerArgs = []string{
	"--retry-base-delay=200ms", "--retry-max-delay=2s", "--max-poll-interval=2s",
	"--resync-interval=1h", "--kube-api-qps=500", "--kube-api-burst=1000",
}

// extraArgs are more manager flags from E2E_MANAGER_ARGS, for example
// "--zap-log-level=debug" to see every reconcile when a test fails.
func extraArgs() []string { return strings.Fields(os.Getenv("E2E_MANAGER_ARGS")) }

// simServer serves a simulator on a fixed address that can be closed and
// reopened, so the REST API can really go away (connection refused), not
// only answer 503.
type simServer struct {
	*simulator.Server
	addr string
	mu   sync.Mutex
	srv  *http.Server
	// hook, when set, sees every request first and may answer it (true).
	hook func(w http.ResponseWriter, r *http.Request, next http.Handler) bool
}

func (s *simServer) setHook(h func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

func (s *simServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil && hook(w, r, s.Handler()) {
		return
	}
	s.Handler().ServeHTTP(w, r)
}

func newSimServer(t *testing.T, opts simulator.Options) *simServer {
	s := &simServer{Server: simulator.New(opts)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(func() { s.down(); s.Close() })
	return s
}

func (s *simServer) serve(l net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// down closes the listener and every open connection.
func (s *simServer) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (s *simServer) up(g Gomega) {
	g.Eventually(func() error {
		l, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(l)
		}
		return err
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
}

func (s *simServer) url() string { return "http://" + s.addr + s.BasePath() }

// requests is the number of API requests the simulator answered so far.
func (s *simServer) requests() int {
	n := 0
	for _, v := range s.Stats().Requests {
		n += v
	}
	return n
}

// world is one test's namespace, simulator, DatabaseAPI and managers.
type world struct {
	t      *testing.T
	g      *WithT
	ctx    context.Context
	ns     string
	sim    *simServer
	logDir string
	procs  int
	// phaseRequests counts the requests answered under each fault phase.
	phaseRequests map[string]int
	// ownNamespace makes every manager the world starts watch only its
	// namespace (--watch-namespaces), unless the test passes that flag.
	ownNamespace bool
}

// newParallelWorld marks t parallel and returns a world whose managers
// watch only its namespace, so tests that run side by side never
// reconcile each other's objects; each has its own simulator, so no two
// worlds share a server either. The tests that restart the shared
// kube-apiserver, measure a manager's memory, compare timings between two
// phases or check the cluster-wide RBAC stay serial and cluster-wide; Go
// runs them first, alone, and the parallel ones after.
func newParallelWorld(t *testing.T, opts simulator.Options) *world {
	t.Parallel()
	w := newWorld(t, opts)
	w.ownNamespace = true
	return w
}

func newWorld(t *testing.T, opts simulator.Options) *world {
	w := &world{t: t, g: NewWithT(t), ctx: context.Background(), ns: "e2e-" + rand.String(6), logDir: t.TempDir(),
		phaseRequests: map[string]int{}}
	w.sim = newSimServer(t, opts)
	w.g.Expect(k8s.Create(w.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}})).To(Succeed())
	w.g.Expect(k8s.Create(w.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: w.ns},
		StringData: map[string]string{"username": "admin", "password": "admin"}})).To(Succeed())
	w.g.Expect(k8s.Create(w.ctx, &dbrestv1.DatabaseAPI{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: w.ns},
		Spec: dbrestv1.DatabaseAPISpec{
			URL: w.sim.url(), CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
			RequestTimeout: &metav1.Duration{Duration: 2 * time.Second},
		},
	})).To(Succeed())
	t.Cleanup(func() {
		if t.Failed() {
			w.dumpLogs()
		}
	})
	return w
}

// startManager starts a manager process with managerArgs plus args and
// waits until it serves metrics. It is stopped (SIGTERM) when the test ends.
func (w *world) startManager(args ...string) *harness.Process {
	w.t.Helper()
	return w.startManagerAs(kubeconfig, args...)
}

// startManagerAs is startManager with another identity's kubeconfig.
func (w *world) startManagerAs(config []byte, args ...string) *harness.Process {
	w.t.Helper()
	w.procs++
	if w.ownNamespace && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--watch-namespaces") }) {
		args = append(args, "--watch-namespaces="+w.ns)
	}
	out, err := os.Create(filepath.Join(w.logDir, fmt.Sprintf("manager-%02d.log", w.procs)))
	w.g.Expect(err).NotTo(HaveOccurred())
	w.t.Cleanup(func() { _ = out.Close() })
	p, err := harness.StartManager(w.ctx, harness.ManagerSpec{
		Binary: managerBin, Kubeconfig: config, Output: out, Args: append(append(append([]string{}, managerArgs...), extraArgs()...), args...),
	})
	w.g.Expect(err).NotTo(HaveOccurred())
	w.t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	w.g.Expect(p.WaitReady(ctx)).To(Succeed())
	return p
}

// warningLines returns the manager log lines that contain text (case
// insensitive).
func (w *world) warningLines(text string) []string {
	files, _ := filepath.Glob(filepath.Join(w.logDir, "manager-*.log"))
	var out []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(strings.ToLower(l), strings.ToLower(text)) {
				out = append(out, l)
			}
		}
	}
	return out
}

// dumpLogs explains a failure: the end of each manager's output, then, so
// that it is the last thing printed (CI shows the tail of the output), each
// Deployment that is not Ready with its reason, its job and what the
// server holds.
func (w *world) dumpLogs() {
	files, _ := filepath.Glob(filepath.Join(w.logDir, "manager-*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		w.t.Logf("--- %s (last 15 of %d lines)\n%s", filepath.Base(f), len(lines), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	st := w.sim.Stats()
	w.t.Logf("simulator: requests %v, by operation %v, applications %d, live jobs %d",
		st.Requests, st.RequestsByOp, st.Applications, st.JobsLive)
	var list dbrestv1.DeploymentList
	if err := k8s.List(w.ctx, &list, client.InNamespace(w.ns)); err != nil {
		w.t.Logf("listing Deployments: %v", err)
		return
	}
	shown := 0
	for i := range list.Items {
		d := &list.Items[i]
		ready := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition)
		if ready != nil && ready.Status == metav1.ConditionTrue && d.DeletionTimestamp.IsZero() {
			continue
		}
		if shown++; shown > 20 {
			w.t.Logf("... and more")
			break
		}
		app, onServer := w.sim.Application(d.Spec.Application.Name)
		w.t.Logf("NOT CONVERGED %s (generation %d, observed %d, deleting %t): Ready=%v; job %+v; on server %t %+v",
			d.Name, d.Generation, d.Status.ObservedGeneration, !d.DeletionTimestamp.IsZero(), ready, d.Status.Job, onServer, app)
	}
}

func appPath(name string, version int) string { return fmt.Sprintf("/apps/%s-%d.war", name, version) }

func (w *world) newDeployment(name string) *dbrestv1.Deployment {
	return &dbrestv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: dbrestv1.DeploymentSpec{
			DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
			Application:    dbrestv1.ApplicationSpec{Name: name, DeploymentPath: appPath(name, 1), Targets: []string{"cluster1"}},
			PollInterval:   &metav1.Duration{Duration: time.Second},
		},
	}
}

func (w *world) create(name string) {
	w.t.Helper()
	w.g.Expect(k8s.Create(w.ctx, w.newDeployment(name))).To(Succeed())
}

// notReady counts the Deployments in the namespace that are not Ready.
func (w *world) notReady() int {
	var list dbrestv1.DeploymentList
	w.g.Expect(k8s.List(w.ctx, &list, client.InNamespace(w.ns))).To(Succeed())
	n := 0
	for _, d := range list.Items {
		if !meta.IsStatusConditionTrue(d.Status.Conditions, dbrestv1.ReadyCondition) {
			n++
		}
	}
	return n
}

// setVersion changes the deployment path, which makes the operator redeploy.
func (w *world) setVersion(name string, version int) {
	w.t.Helper()
	w.g.Eventually(func() error {
		d := &dbrestv1.Deployment{}
		if err := k8s.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: name}, d); err != nil {
			return err
		}
		d.Spec.Application.DeploymentPath = appPath(name, version)
		return k8s.Update(w.ctx, d)
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
}

func (w *world) delete(name string) {
	w.t.Helper()
	d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}}
	w.g.Expect(k8s.Delete(w.ctx, d)).To(Succeed())
}

// expectConverged waits until every Deployment in want is Ready with its
// current generation and its application is active on the server with the
// wanted path, and every name in gone is deleted in Kubernetes (finalizer
// done) and undeployed on the server.
func (w *world) expectConverged(want map[string]string, gone []string) {
	w.t.Helper()
	w.g.Eventually(func(g Gomega) {
		var list dbrestv1.DeploymentList
		g.Expect(k8s.List(w.ctx, &list, client.InNamespace(w.ns))).To(Succeed())
		have := map[string]*dbrestv1.Deployment{}
		for i := range list.Items {
			have[list.Items[i].Name] = &list.Items[i]
		}
		for _, name := range gone {
			g.Expect(have).NotTo(HaveKey(name), "deleted Deployment still there")
			_, onServer := w.sim.Application(name)
			g.Expect(onServer).To(BeFalse(), "application %s of a deleted Deployment still on the server", name)
		}
		for name, path := range want {
			d := have[name]
			g.Expect(d).NotTo(BeNil(), "Deployment %s lost", name)
			ready := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil(), "Deployment %s has no Ready condition", name)
			g.Expect(ready.Status).To(BeEquivalentTo("True"), "Deployment %s: %s %s", name, ready.Reason, ready.Message)
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation), "Deployment %s", name)
			app, ok := w.sim.Application(name)
			g.Expect(ok).To(BeTrue(), "application %s not on the server", name)
			g.Expect(app.DeploymentPath).To(Equal(path), "application %s", name)
			g.Expect(app.State).To(Equal("STATE_ACTIVE"), "application %s", name)
		}
	}, converge, time.Second).Should(Succeed())
}

// expectGuarantees checks the simulator's counters: no duplicate deploy,
// at most one mutating call in flight per application. Tests call it
// after logging their figures, so a failed run still reports them.
func (w *world) expectGuarantees() {
	w.t.Helper()
	w.expectGuaranteesOf(w.sim)
}

// expectGuaranteesOf is expectGuarantees for another simulator of the
// test's.
func (w *world) expectGuaranteesOf(s *simServer) {
	w.t.Helper()
	st := s.Stats()
	w.g.Expect(st.DuplicateDeploys).To(BeZero(), "duplicate deploys: %v", st.DuplicateDeploysByApp)
	over := map[string]int{}
	for app, n := range st.MaxConcurrentMutating {
		if n > 1 {
			over[app] = n
		}
	}
	w.g.Expect(over).To(BeEmpty(), "applications with more than one mutating call in flight at once")
	w.g.Expect(st.OverlappingMutating).To(BeZero(), "mutating calls sent while another call or a job ran: %v", st.OverlappingMutatingByApp)
}

// alive asserts that the manager keeps running through a window: the test
// holds a fault for that long, and a crash would end it early.
func (w *world) alive(p *harness.Process, window time.Duration) {
	w.t.Helper()
	w.g.Consistently(p.Done(), window, 100*time.Millisecond).ShouldNot(BeClosed(), "the manager exited")
}
