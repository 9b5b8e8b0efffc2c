package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/controllers"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

func TestShardOptions(t *testing.T) {
	g := NewWithT(t)

	_, id, err := shardOptions(options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(id).To(Equal(defaultLeaderElectionID), "an unsharded operator keeps the historical Lease")

	cacheA, idA, err := shardOptions(options{shardSelector: "dbrest.io/shard=a"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cacheA.ByObject).To(HaveLen(1))
	for obj, by := range cacheA.ByObject {
		g.Expect(obj).To(BeAssignableToTypeOf(&dbrestv1.Deployment{}))
		g.Expect(by.Label.Matches(labels.Set{"dbrest.io/shard": "a"})).To(BeTrue())
		g.Expect(by.Label.Matches(labels.Set{"dbrest.io/shard": "b"})).To(BeFalse())
	}

	_, idSpaced, err := shardOptions(options{shardSelector: "dbrest.io/shard = a"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(idSpaced).To(Equal(idA), "spellings of one selector share a Lease")

	_, idB, err := shardOptions(options{shardSelector: "dbrest.io/shard notin (a)"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(idB).NotTo(Equal(idA), "two shards must not share a Lease")
	g.Expect(idA).To(HavePrefix(defaultLeaderElectionID + "-shard-"))
	g.Expect(len(idA)).To(BeNumerically("<=", 63))

	_, idExplicit, err := shardOptions(options{shardSelector: "dbrest.io/shard=a", leaderElectionID: "mine"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(idExplicit).To(Equal("mine"))

	for _, bad := range []string{"dbrest.io/shard in a", "==", "a=b,"} {
		_, _, err := shardOptions(options{shardSelector: bad})
		g.Expect(err).To(HaveOccurred(), bad)
	}
}

// TestTwoShards runs two managers, each with the options --shard-selector
// produces and leader election on, against one control plane and one
// simulator. Each shard's client has its own user agent, which the
// kube-apiserver records as the field manager of every write; so the
// managedFields of each Deployment say which shards wrote it.
func TestTwoShards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	g := NewWithT(t)
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })

	sim := simulator.New(simulator.Options{JobDuration: 200 * time.Millisecond})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	shards := map[string]string{"shard-a": "dbrest.io/shard=a", "shard-b": "dbrest.io/shard notin (a)"}
	done := make(chan error, len(shards))
	for agent, sel := range shards {
		startShard(t, ctx, cfg, agent, sel, done)
	}
	t.Cleanup(func() {
		cancel()
		for range shards {
			g.Expect(<-done).NotTo(HaveOccurred())
		}
	})

	creator := rest.CopyConfig(cfg)
	creator.UserAgent = "shard-test"
	k8s, err := client.New(creator, client.Options{Scheme: scheme.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ns := "shards-" + rand.String(6)
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		StringData: map[string]string{"username": "admin", "password": "admin"}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: dbrestv1.DatabaseAPISpec{URL: srv.URL + sim.BasePath(), CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"}}})).To(Succeed())

	// Shard b's selector also takes objects without the label: a shard
	// set must cover every object, and "notin" is how the last one does.
	want := map[string]string{}
	for i := range 12 {
		name := fmt.Sprintf("app-%02d", i)
		d := &dbrestv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: dbrestv1.DeploymentSpec{DatabaseAPIRef: dbrestv1.LocalObjectReference{Name: "db"},
				PollInterval: &metav1.Duration{Duration: time.Second},
				Application:  dbrestv1.ApplicationSpec{Name: name, DeploymentPath: "/apps/" + name + ".war", Targets: []string{"cluster1"}}}}
		switch i % 3 {
		case 0:
			d.Labels, want[name] = map[string]string{"dbrest.io/shard": "a"}, "shard-a"
		case 1:
			d.Labels, want[name] = map[string]string{"dbrest.io/shard": "b"}, "shard-b"
		default:
			want[name] = "shard-b"
		}
		g.Expect(k8s.Create(ctx, d)).To(Succeed())
	}

	g.Eventually(func(g Gomega) {
		var list dbrestv1.DeploymentList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(len(want)))
		for i := range list.Items {
			d := &list.Items[i]
			g.Expect(meta.IsStatusConditionTrue(d.Status.Conditions, dbrestv1.ReadyCondition)).To(BeTrue(), d.Name)
			g.Expect(writers(d)).To(Equal([]string{want[d.Name]}), "the shards that wrote %s", d.Name)
		}
	}, time.Minute, 100*time.Millisecond).Should(Succeed())

	st := sim.Stats()
	g.Expect(st.DuplicateDeploys).To(BeZero())
	for name := range want {
		g.Expect(st.DeploysAccepted).To(HaveKeyWithValue(name, 1))
	}

	// Deletion is finalized by the owning shard too: every object goes.
	g.Expect(k8s.DeleteAllOf(ctx, &dbrestv1.Deployment{}, client.InNamespace(ns))).To(Succeed())
	g.Eventually(func(g Gomega) {
		var list dbrestv1.DeploymentList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(BeEmpty())
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
	g.Expect(sim.Stats().Applications).To(BeZero())
}

// startShard runs a manager configured as --shard-selector sel would,
// whose requests carry agent as their user agent (and field manager).
func startShard(t *testing.T, ctx context.Context, cfg *rest.Config, agent, sel string, done chan<- error) {
	t.Helper()
	cacheOpts, id, err := shardOptions(options{shardSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	c := rest.CopyConfig(cfg)
	c.UserAgent = agent
	mgr, err := ctrl.NewManager(c, ctrl.Options{
		Scheme:                        scheme.Scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              id,
		LeaderElectionNamespace:       "default",
		LeaderElectionReleaseOnCancel: true,
		// Two managers in one process register the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{MaxConcurrentReconciles: 4}); err != nil {
		t.Fatal(err)
	}
	go func() { done <- mgr.Start(ctx) }()
}

// writers lists the field managers other than the test that wrote the object.
func writers(d *dbrestv1.Deployment) []string {
	seen := map[string]bool{}
	for _, f := range d.ManagedFields {
		if f.Manager != "shard-test" {
			seen[f.Manager] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
