// Command manager runs the dbrest-operator controllers: DatabaseAPI
// (connection and probe) and Deployment (deploy, poll jobs, undeploy).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/controllers"
)

// options are the manager's flags.
type options struct {
	metricsAddr             string
	secureMetrics           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionID        string
	leaderElectionNamespace string
	kubeAPIQPS              float64
	kubeAPIBurst            int
	maxConcurrentReconciles int
	resyncInterval          time.Duration
	maxPollInterval         time.Duration
	retryBase               time.Duration
	retryMax                time.Duration
	callWait                time.Duration
	maxRequestsInFlight     int
	shardSelector           string
	watchNamespaces         string
	pprofAddr               string
}

func parseFlags(args []string) (options, zap.Options, error) {
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0",
		`Address of the metrics endpoint, e.g. ":8443" (HTTPS, authenticated) or ":8080" with --metrics-secure=false; "0" turns it off.`)
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "",
		`Name of the leader-election Lease (default "`+defaultLeaderElectionID+`", plus "-shard-<hash of the selector>" with --shard-selector).`)
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the Lease (default: the manager's own).")
	// No client-side limit by default, as controller-runtime and SIG API
	// Machinery advise: the kube-apiserver's API Priority and Fairness
	// shares its capacity, and a fixed client-side rate would cap the
	// manager below the control plane's own speed.
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", -1,
		"Client-side rate limit of requests to the Kubernetes API server, per second; negative for none (the kube-apiserver's API Priority and Fairness then applies).")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 400, "Burst of requests to the Kubernetes API server above --kube-api-qps, when it is positive.")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 32,
		"Deployments reconciled in parallel; each DatabaseAPI's maxConcurrentRequests still caps its calls.")
	fs.DurationVar(&o.resyncInterval, "resync-interval", 10*time.Minute,
		"How often a Ready application is read back to detect drift, unless spec.resyncInterval is set.")
	fs.DurationVar(&o.maxPollInterval, "max-poll-interval", time.Minute, "Cap of the backoff between polls of a long job.")
	fs.DurationVar(&o.retryBase, "retry-base-delay", 2*time.Second, "First delay before retrying a retryable failure (429, 5xx, network).")
	fs.DurationVar(&o.retryMax, "retry-max-delay", 5*time.Minute, "Cap of the retry backoff.")
	fs.DurationVar(&o.callWait, "call-wait", 100*time.Millisecond,
		"How long a worker waits for a REST server's answer before it leaves the request to finish on its own and takes other work (the answer then wakes the Deployment, or the DatabaseAPI of a probe); 0 never waits.")
	fs.IntVar(&o.maxRequestsInFlight, "max-requests-in-flight", 1024,
		"Requests in flight to all REST servers together, on top of each DatabaseAPI's maxConcurrentRequests.")
	fs.StringVar(&o.shardSelector, "shard-selector", "",
		`Label selector of the Deployments this instance reconciles, e.g. "dbrest.io/shard=a" (see docs/performance.md, Scale-out); empty: all.`)
	fs.StringVar(&o.watchNamespaces, "watch-namespaces", "",
		`Comma-separated namespaces to watch, e.g. "team-a,team-b": the manager caches, watches and reconciles objects there only, and needs Roles there instead of a ClusterRole (see docs/security.md); empty: all namespaces.`)
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0", `Address of net/http/pprof, e.g. "127.0.0.1:6060"; "0" turns it off.`)
	zo := zap.Options{Development: false}
	zo.BindFlags(fs)
	return o, zo, fs.Parse(args)
}

func main() {
	o, zo, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(dbrestv1.AddToScheme(scheme))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(o.kubeAPIQPS), o.kubeAPIBurst
	cfg.UserAgent = "dbrest-operator"

	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		// HTTP/2 is off: it has had several denial-of-service issues and
		// scrapers do not need it.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cacheOpts, electionID, err := shardOptions(o)
	if err != nil {
		return err
	}
	namespaces, err := watchNamespaces(o.watchNamespaces)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		// The Lease stays in the manager's own namespace (or
		// --leader-election-namespace) whatever namespaces are watched.
		Cache:                   controllers.CacheOptions(cacheOpts, namespaces),
		Client:                  controllers.ClientOptions(),
		PprofBindAddress:        o.pprofAddr,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        electionID,
		LeaderElectionNamespace: o.leaderElectionNamespace,
		// The new leader waits for the old lease to expire anyway; releasing
		// it on a clean stop makes hand-over immediate.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := setup(ctx, mgr, o); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting manager", "maxConcurrentReconciles", o.maxConcurrentReconciles,
		"kubeAPIQPS", o.kubeAPIQPS, "resyncInterval", o.resyncInterval, "shardSelector", o.shardSelector,
		"watchNamespaces", namespaces)
	return mgr.Start(ctx)
}

// callWait maps the flag, where 0 means never wait, to the option,
// where 0 means the default.
func callWait(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// setup registers the metrics, the indexes and both reconcilers on mgr.
func setup(ctx context.Context, mgr ctrl.Manager, o options) error {
	m, err := setupMetrics(mgr)
	if err != nil {
		return err
	}
	return controllers.Setup(ctx, mgr, controllers.Config{
		Observers:               m.Observers(),
		Jobs:                    m,
		Refusals:                m,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
		Deployment: controllers.DeploymentOptions{
			ResyncInterval:      o.resyncInterval,
			MaxPollInterval:     o.maxPollInterval,
			Backoff:             controllers.Backoff{Base: o.retryBase, Max: o.retryMax},
			CallWait:            callWait(o.callWait),
			MaxRequestsInFlight: o.maxRequestsInFlight,
		},
	})
}
