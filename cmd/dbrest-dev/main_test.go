package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

const repoRoot = "../.."

// TestDevEnvironment runs what `make dev` runs, in-process against the real
// kube-apiserver and etcd, applies config/samples as a newcomer would, and
// checks that each sample ends as its comment says and that Ctrl-C (here,
// cancelling the context) stops everything cleanly.
func TestDevEnvironment(t *testing.T) {
	assets := requireAssets(t)
	g := NewWithT(t)
	simAddr := freeAddr(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	o := testOptions(t, assets,
		"--kubeconfig-out", kubeconfig,
		"--sim-addr", simAddr,
		"--job-duration", "1s",
		"--metrics-addr", "127.0.0.1:0",
		"--probe-addr", "127.0.0.1:0",
	)

	ctx := context.Background()
	r := startRun(t, o)
	c, cfg := waitForClient(g, kubeconfig, r)
	applySamples(ctx, g, c, filepath.Join(repoRoot, "config", "samples"), simAddr)

	for name, want := range map[string]struct {
		status metav1.ConditionStatus
		reason string
	}{
		"orders":                 {metav1.ConditionTrue, dbrestv1.ReasonDeployed},
		"broken-billing":         {metav1.ConditionFalse, dbrestv1.ReasonJobFailed},
		"inventory-unauthorized": {metav1.ConditionFalse, dbrestv1.ReasonUnauthorized},
		"orders-observer":        {metav1.ConditionFalse, dbrestv1.ReasonDrifted},
	} {
		g.Eventually(func(g Gomega) {
			var d dbrestv1.Deployment
			g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &d)).To(Succeed())
			ready := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil(), "no Ready condition yet")
			g.Expect(ready.Status).To(Equal(want.status), ready.Message)
			g.Expect(ready.Reason).To(Equal(want.reason), ready.Message)
		}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "Deployment %s", name)
	}
	// The application really is on the in-process simulator.
	resp, err := http.Get("http://" + simAddr + "/_sim/apps/orders")
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	r.cancel()
	g.Eventually(r.done).WithTimeout(60 * time.Second).Should(BeClosed())
	g.Expect(r.err).NotTo(HaveOccurred())
	// Nothing listens any more: kube-apiserver and the simulator are gone.
	apiServer, err := url.Parse(cfg.Host)
	g.Expect(err).NotTo(HaveOccurred())
	for _, addr := range []string{apiServer.Host, simAddr} {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		g.Expect(err).To(HaveOccurred(), "%s still accepts connections after run returned", addr)
	}
	g.Expect(childProcesses(t)).To(BeEmpty(), "processes left behind")
}

// TestCrashStopsEverything checks that when a part fails after start-up
// (here kube-apiserver, killed), run reports it and stops the rest.
func TestCrashStopsEverything(t *testing.T) {
	assets := requireAssets(t)
	g := NewWithT(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	simAddr := freeAddr(t)
	o := testOptions(t, assets,
		"--kubeconfig-out", kubeconfig,
		"--sim-addr", simAddr,
		"--metrics-addr", "0",
		"--probe-addr", "0",
	)
	ctx := context.Background()
	r := startRun(t, o)
	c, _ := waitForClient(g, kubeconfig, r)
	// kube-apiserver is killed once the operator works, because a manager
	// stopped while its caches sync hangs (see stopTimeout), and would
	// leave a spinning goroutine in this test binary.
	applySamples(ctx, g, c, filepath.Join(repoRoot, "config", "samples"), simAddr)
	g.Eventually(func(g Gomega) {
		var api dbrestv1.DatabaseAPI
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "simulator"}, &api)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(api.Status.Conditions, dbrestv1.ReadyCondition)).To(BeTrue())
	}).WithTimeout(90 * time.Second).Should(Succeed())

	var apiServer int
	for _, child := range childProcesses(t) {
		if strings.Contains(child, "(kube-apiserver)") {
			apiServer, _ = strconv.Atoi(strings.Fields(child)[0])
		}
	}
	if apiServer == 0 {
		t.Skip("cannot find the kube-apiserver process (no /proc?)")
	}
	g.Expect(syscall.Kill(apiServer, syscall.SIGKILL)).To(Succeed())

	g.Eventually(r.done).WithTimeout(60 * time.Second).Should(BeClosed())
	g.Expect(r.err).To(MatchError(ContainSubstring("kube-apiserver stopped answering")))
	g.Expect(childProcesses(t)).To(BeEmpty(), "processes left behind")
}

// TestPortTakenFailsFast checks that a taken manager port is reported
// before the control plane starts, naming the flag to change.
func TestPortTakenFailsFast(t *testing.T) {
	g := NewWithT(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer taken.Close()
	// Binaries that are present but never run: the port check comes first.
	assets := t.TempDir()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		g.Expect(os.WriteFile(filepath.Join(assets, bin), nil, 0o755)).To(Succeed())
	}
	o := testOptions(t, assets,
		"--kubeconfig-out", filepath.Join(t.TempDir(), "kubeconfig"),
		"--metrics-addr", taken.Addr().String(),
	)
	err = run(context.Background(), o)
	g.Expect(err).To(MatchError(And(ContainSubstring("--metrics-addr"), ContainSubstring(taken.Addr().String()))))
}

func TestMissingAssets(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	o := testOptions(t, dir,
		"--kubeconfig-out", filepath.Join(t.TempDir(), "kubeconfig"),
		"--sim-addr", "127.0.0.1:0",
		"--metrics-addr", "0",
		"--probe-addr", "0",
	)
	err := run(context.Background(), o)
	g.Expect(err).To(MatchError("kube-apiserver not found in " + dir +
		": run 'make envtest' first (builds it from Go modules, about 5-20 minutes once)"))
}

// requireAssets returns the directory of the control-plane binaries, and
// skips the test when they are not built, except in CI, where a skip would
// hide the test.
func requireAssets(t *testing.T) string {
	t.Helper()
	assets := filepath.Join(repoRoot, "bin", "k8s", "1.37.2")
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kube-apiserver not found in %s, and CI must not skip this test: run 'make envtest'", assets)
		}
		t.Skipf("kube-apiserver not found in %s: run 'make envtest' to run this test", assets)
	}
	return assets
}

// testOptions parses the command line as main does, so the tests run the
// real defaults, with paths adjusted to the package directory.
func testOptions(t *testing.T, assets string, args ...string) options {
	t.Helper()
	setLoggerOnce.Do(func() { ctrl.SetLogger(zap.New(func(o *zap.Options) { *o = devLogOptions() })) })
	o, _, err := parseFlags(append([]string{
		"--assets", assets,
		"--crds", filepath.Join(repoRoot, "config", "crd", "bases"),
	}, args...))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

var setLoggerOnce sync.Once

// childProcesses lists this process's children, such as a kube-apiserver
// or etcd that was not stopped. It reads /proc, so it checks nothing
// outside Linux.
func childProcesses(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		t.Log("no /proc: cannot list child processes")
		return nil
	}
	me := strconv.Itoa(os.Getpid())
	var children []string
	for _, file := range stats {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // the process has just exited
		}
		// "pid (comm) state ppid ...", where comm may hold spaces and parens.
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) > 1 && fields[1] == me {
			children = append(children, s[:closing+1])
		}
	}
	return children
}

// running is run in the background, as main runs it, with cancel standing
// for Ctrl-C.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's result, once done is closed
}

// startRun starts run and, should the test fail first, stops it at the
// end of the test so that no kube-apiserver outlives it.
func startRun(t *testing.T, o options) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx, o)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// waitForClient waits until run has written the kubeconfig, failing at once
// if run returns first, and builds a client from it.
func waitForClient(g *WithT, kubeconfig string, r *running) (client.Client, *rest.Config) {
	g.Eventually(func() error {
		select {
		case <-r.done:
			return StopTrying("run returned before writing the kubeconfig").Wrap(r.err)
		default:
		}
		_, err := os.Stat(kubeconfig)
		return err
	}).WithTimeout(90 * time.Second).Should(Succeed())
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	g.Expect(err).NotTo(HaveOccurred())
	return c, cfg
}

// applySamples creates every object in the YAML files of dir in namespace
// "default", pointing DatabaseAPIs at the simulator on simAddr instead of
// the samples' fixed port.
func applySamples(ctx context.Context, g *WithT, c client.Client, dir, simAddr string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())
	created := 0
	for _, file := range files {
		f, err := os.Open(file)
		g.Expect(err).NotTo(HaveOccurred())
		dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			var u unstructured.Unstructured
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			g.Expect(err).NotTo(HaveOccurred(), file)
			if len(u.Object) == 0 {
				continue // an empty document, such as a trailing ---
			}
			if u.GetKind() == "DatabaseAPI" {
				rewriteURL(g, &u, simAddr)
			}
			u.SetNamespace("default")
			g.Expect(c.Create(ctx, &u)).To(Succeed(), "%s: %s %s", file, u.GetKind(), u.GetName())
			created++
		}
		f.Close()
	}
	g.Expect(created).To(BeNumerically(">=", 5), "the samples hold fewer objects than expected")
}

func rewriteURL(g *WithT, u *unstructured.Unstructured, simAddr string) {
	raw, found, err := unstructured.NestedString(u.Object, "spec", "url")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue(), "DatabaseAPI %s has no spec.url", u.GetName())
	g.Expect(raw).To(ContainSubstring(samplesSimAddr), "DatabaseAPI %s does not point at the dev simulator", u.GetName())
	g.Expect(unstructured.SetNestedField(u.Object, strings.Replace(raw, samplesSimAddr, simAddr, 1), "spec", "url")).To(Succeed())
}

// freeAddr returns a localhost address with a port that was free a moment
// ago. The simulator needs it known before run starts, to rewrite the
// samples' URL; the race with other processes is acceptable in a test.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}
