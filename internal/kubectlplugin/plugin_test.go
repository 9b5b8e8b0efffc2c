package kubectlplugin_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/controllers"
	"github.com/dbrest-io/dbrest-operator/internal/kubectlplugin"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

const (
	timeout  = time.Minute
	interval = 100 * time.Millisecond
	// watched is the namespace the operator watches and the kubeconfig's
	// context names; elsewhere has a Deployment no operator handles.
	watched   = "shop"
	elsewhere = "elsewhere"
)

// world is a control plane with the operator running against the
// simulator, and a kubeconfig file for the plugin.
type world struct {
	k8s        client.Client
	sim        *simulator.Server
	kubeconfig string
}

// TestCommands runs the plugin's real command tree, as kubectl would run
// the binary, against a real kube-apiserver and the operator reconciling
// against the simulator: a Ready Deployment ("live"), an ObserveOnly one
// over a drifted application ("drifted"), and one in a namespace the
// operator does not watch ("stray"). The cases run in order and share it.
func TestCommands(t *testing.T) {
	w := startWorld(t)
	g := NewWithT(t)
	ctx := context.Background()
	mutatingCalls := func() int {
		st := w.sim.Stats().RequestsByOp
		return st["deploy"] + st["redeploy"] + st["undeploy"]
	}
	callsBefore := mutatingCalls()
	var readsBefore int

	cases := []struct {
		name    string
		args    []string
		before  func(g Gomega)
		want    []string // substrings of the output's lines, runs of spaces as one
		wantErr string
		check   func(g Gomega)
	}{
		{
			name: "status lists the context's namespace",
			args: []string{"status"},
			want: []string{
				"NAME APPLICATION READY REASON JOB PLAN BLOCKED BY",
				"drifted drifted False Drifted - Redeploy (adopts) ObserveOnly",
				"live live True Deployed Deploy: completed - -",
			},
		},
		{
			name: "status -A adds the namespace column",
			args: []string{"status", "-A"},
			want: []string{"NAMESPACE NAME", "elsewhere stray", "shop live"},
		},
		{
			name: "status of named Deployments in another namespace",
			args: []string{"status", "-n", elsewhere, "stray"},
			want: []string{"stray stray Unknown - - - -"},
		},
		{
			name:    "status of a missing Deployment",
			args:    []string{"status", "nosuch"},
			wantErr: `deployment shop/nosuch: deployments.apps.dbrest.io "nosuch" not found`,
		},
		{
			name: "plan prints the blocked redeploy as a diff",
			args: []string{"plan", "drifted"},
			want: []string{
				`Deployment shop/drifted: application "drifted" through DatabaseAPI db`,
				"Plan: Redeploy, taking over an application this Deployment did not deploy; blocked by ObserveOnly",
				"--- server (read ",
				"+++ spec",
				`- version: "0.9"`,
				`+ version: "1.0"`,
			},
		},
		{
			name: "plan of a Deployment with nothing pending",
			args: []string{"plan", "deployment/live"},
			want: []string{"No call pending. Ready=True (Deployed)"},
		},
		{
			name:    "plan takes Deployments only",
			args:    []string{"plan", "databaseapi/db"},
			wantErr: `"databaseapi/db": the kind must be deployment`,
		},
		{
			name:    "reconcile needs a name",
			args:    []string{"reconcile"},
			wantErr: "accepts 1 arg(s), received 0",
		},
		{
			name:   "reconcile reads the server once and sends nothing",
			args:   []string{"reconcile", "live"},
			before: func(Gomega) { readsBefore = w.sim.Stats().RequestsByOp["getApp"] },
			want:   []string{"deployment shop/live: reconciled; Ready=True (Deployed)"},
			check: func(g Gomega) {
				d := w.get(g, watched, "live")
				g.Expect(d.Status.LastHandledReconcileAt).To(Equal(d.Annotations[dbrestv1.ReconcileRequestedAnnotation]))
				g.Expect(w.sim.Stats().RequestsByOp["getApp"]).To(BeNumerically(">", readsBefore))
				g.Expect(mutatingCalls()).To(Equal(callsBefore))
			},
		},
		{
			name: "reconcile of a DatabaseAPI probes it",
			args: []string{"reconcile", "dbapi/db"},
			want: []string{"databaseapi shop/db: reconciled; Ready=True"},
		},
		{
			name:    "reconcile times out where no operator watches",
			args:    []string{"reconcile", "-n", elsewhere, "stray", "--timeout", "1s"},
			wantErr: "deployment elsewhere/stray: the operator has not handled the request after 1s: is the operator running, and does it watch namespace elsewhere?",
		},
		{
			name: "reconcile --wait=false only sets the annotation",
			args: []string{"reconcile", "-n", elsewhere, "stray", "--wait=false"},
			want: []string{"deployment elsewhere/stray: reconcile requested at "},
			check: func(g Gomega) {
				d := w.get(g, elsewhere, "stray")
				_, err := time.Parse(time.RFC3339Nano, d.Annotations[dbrestv1.ReconcileRequestedAnnotation])
				g.Expect(err).NotTo(HaveOccurred())
			},
		},
		{
			name: "suspend sets spec.suspend, and the operator holds back",
			args: []string{"suspend", "live"},
			want: []string{"deployment shop/live: suspended"},
			check: func(g Gomega) {
				g.Expect(w.get(g, watched, "live").Spec.Suspend).To(BeTrue())
				g.Eventually(func() string { return reason(w.get(g, watched, "live")) }, timeout, interval).
					Should(Equal(dbrestv1.ReasonSuspended))
			},
		},
		{
			name: "suspend twice says so",
			args: []string{"suspend", "live"},
			want: []string{"deployment shop/live: already suspended"},
		},
		{
			name: "resume clears it, and the Deployment is Ready again",
			args: []string{"resume", "live"},
			want: []string{"deployment shop/live: resumed"},
			check: func(g Gomega) {
				g.Expect(w.get(g, watched, "live").Spec.Suspend).To(BeFalse())
				g.Eventually(func() string { return reason(w.get(g, watched, "live")) }, timeout, interval).
					Should(Equal(dbrestv1.ReasonDeployed))
				g.Expect(mutatingCalls()).To(Equal(callsBefore))
			},
		},
		{
			name:    "kubectl's --context flag is honoured",
			args:    []string{"status", "--context", "nosuch"},
			wantErr: `context "nosuch" does not exist`,
		},
	}
	for _, c := range cases {
		if c.before != nil {
			c.before(g)
		}
		var out, errOut bytes.Buffer
		cmd := kubectlplugin.NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		cmd.SetArgs(append([]string{"--kubeconfig", w.kubeconfig}, c.args...))
		err := cmd.ExecuteContext(ctx)
		if c.wantErr != "" {
			g.Expect(err).To(MatchError(ContainSubstring(c.wantErr)), c.name)
			continue
		}
		g.Expect(err).NotTo(HaveOccurred(), c.name)
		var lines []string
		for _, l := range strings.Split(out.String(), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		for _, want := range c.want {
			g.Expect(lines).To(ContainElement(ContainSubstring(want)), "%s: output was\n%s", c.name, out.String())
		}
		if c.check != nil {
			c.check(g)
		}
	}
}

func reason(d *dbrestv1.Deployment) string {
	if c := meta.FindStatusCondition(d.Status.Conditions, dbrestv1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

func (w *world) get(g Gomega, ns, name string) *dbrestv1.Deployment {
	d := &dbrestv1.Deployment{}
	g.Expect(w.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d)).To(Succeed())
	return d
}

// startWorld starts the control plane, the simulator and the operator
// (watching only the shop namespace), writes a kubeconfig whose context
// names that namespace, and waits for the three Deployments to settle.
func startWorld(t *testing.T) *world {
	t.Helper()
	g := NewWithT(t)
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	k8s, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	w := &world{k8s: k8s, kubeconfig: writeKubeconfig(t, env)}

	w.sim = simulator.New(simulator.Options{JobDuration: 200 * time.Millisecond})
	srv := httptest.NewServer(w.sim.Handler())
	t.Cleanup(func() { srv.Close(); w.sim.Close() })
	w.sim.PutApplication(simulator.Application{Name: "drifted", DeploymentPath: "/apps/drifted-1.0.war",
		Targets: []string{"cluster1"}, Version: "0.9"})

	ctx := context.Background()
	for _, ns := range []string{watched, elsewhere} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
			StringData: map[string]string{"username": "admin", "password": "admin"}})).To(Succeed())
		g.Expect(k8s.Create(ctx, &dbrestv1.DatabaseAPI{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Spec: dbrestv1.DatabaseAPISpec{URL: srv.URL + w.sim.BasePath(),
				CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}},
		})).To(Succeed())
	}
	for _, d := range []struct {
		ns, name string
		policy   dbrestv1.ManagementPolicy
	}{{watched, "live", ""}, {watched, "drifted", dbrestv1.ManagementObserveOnly}, {elsewhere, "stray", ""}} {
		g.Expect(k8s.Create(ctx, &dbrestv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: d.ns},
			Spec: dbrestv1.DeploymentSpec{
				DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
				Application: dbrestv1.ApplicationSpec{Name: d.name, DeploymentPath: "/apps/" + d.name + "-1.0.war",
					Targets: []string{"cluster1"}, Version: "1.0"},
				PollInterval:     &metav1.Duration{Duration: time.Second},
				ManagementPolicy: d.policy,
			},
		})).To(Succeed())
	}

	startOperator(t, cfg)
	g.Eventually(func(g Gomega) {
		g.Expect(reason(w.get(g, watched, "live"))).To(Equal(dbrestv1.ReasonDeployed))
		d := w.get(g, watched, "drifted")
		g.Expect(reason(d)).To(Equal(dbrestv1.ReasonDrifted))
		g.Expect(d.Status.Plan).NotTo(BeNil())
	}, timeout, interval).Should(Succeed())
	return w
}

// startOperator runs the shipped wiring (controllers.Setup) in a manager
// that watches the shop namespace only.
func startOperator(t *testing.T, cfg *rest.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{watched: {}}},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{MaxConcurrentReconciles: 4,
		Deployment: controllers.DeploymentOptions{ResyncInterval: time.Hour, MaxPollInterval: 2 * time.Second,
			Backoff: controllers.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// writeKubeconfig writes an admin kubeconfig for env whose current
// context names the shop namespace, as "kubectl config set-context
// --current --namespace shop" would.
func writeKubeconfig(t *testing.T, env *envtest.Environment) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	kc.Contexts[kc.CurrentContext].Namespace = watched
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return path
}
