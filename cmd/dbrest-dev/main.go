// Command dbrest-dev is the program behind `make dev`: one command that gives
// a newcomer a working playground. It starts a local kube-apiserver and etcd
// (controller-runtime envtest) with the CRDs installed, the REST API
// simulator, and the operator's manager, all in this one process, writes a
// kubeconfig for kubectl, and prints what to type next. Ctrl-C stops
// everything, the child kube-apiserver and etcd included.
//
// Everything runs in-process, rather than as three binaries, so that one
// signal stops it all and a failure of any part stops the rest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"syscall"
	"time"

	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// options are the command's flags. The defaults match config/samples, which
// point at the simulator on 127.0.0.1:8765 with user admin/admin.
type options struct {
	assets        string
	crdDir        string
	kubeconfigOut string
	simAddr       string
	failApps      *regexp.Regexp
	jobDuration   time.Duration
	metricsAddr   string
	probeAddr     string
}

// parseFlags reads the command line; the zap options carry the --zap-*
// logging flags over devLogOptions.
func parseFlags(args []string) (options, zap.Options, error) {
	o := options{failApps: regexp.MustCompile("^broken-")}
	fs := flag.NewFlagSet("dbrest-dev", flag.ContinueOnError)
	fs.StringVar(&o.assets, "assets", "bin/k8s/1.37.2", "`directory` holding the kube-apiserver and etcd binaries (make envtest builds them)")
	fs.StringVar(&o.crdDir, "crds", "config/crd/bases", "`directory` of the CRD manifests to install")
	fs.StringVar(&o.kubeconfigOut, "kubeconfig-out", ".dev/kubeconfig", "`file` to write the admin kubeconfig to, for kubectl")
	fs.StringVar(&o.simAddr, "sim-addr", "127.0.0.1:8765", "`address` of the REST API simulator (config/samples use 127.0.0.1:8765)")
	fs.Func("fail-apps", "`regexp` of application names whose deploy jobs fail in the simulator (default ^broken-, as config/samples expect; empty: none)", func(v string) error {
		if v == "" {
			o.failApps = nil
			return nil
		}
		re, err := regexp.Compile(v)
		o.failApps = re
		return err
	})
	fs.DurationVar(&o.jobDuration, "job-duration", 5*time.Second, "how long a simulated job stays in progress, long enough to watch it")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:8080", `address of the manager's plain-HTTP metrics endpoint; "0" turns it off`)
	fs.StringVar(&o.probeAddr, "probe-addr", "127.0.0.1:8081", `address of the manager's /healthz and /readyz; "0" turns them off`)

	zo := devLogOptions()
	zo.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, zo, err
	}
	if fs.NArg() > 0 {
		return o, zo, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, zo, nil
}

// devLogOptions reads well in a terminal: one console line per event, short
// times, and no stack traces, since the errors a playground shows (a failed
// job, bad credentials) are expected and a trace would bury them. The
// --zap-* flags can still change each of these.
func devLogOptions() zap.Options {
	return zap.Options{
		Development:     false,
		StacktraceLevel: zapcore.PanicLevel,
		TimeEncoder:     zapcore.TimeEncoderOfLayout("15:04:05.000"),
		NewEncoder: func(opts ...zap.EncoderConfigOption) zapcore.Encoder {
			ec := uzap.NewDevelopmentEncoderConfig()
			for _, opt := range opts {
				opt(&ec)
			}
			return zapcore.NewConsoleEncoder(ec)
		},
	}
}

func main() {
	o, zo, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbrest-dev:", err)
		os.Exit(2)
	}
	logger := zap.New(zap.UseFlagOptions(&zo))
	ctrl.SetLogger(logger)
	// client-go logs through klog; its informational chatter (throttling,
	// reflector restarts) goes to debug level, while its errors still show.
	klog.SetLogger(logger.WithName("client-go").V(1))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbrest-dev:", err)
		os.Exit(1)
	}
}

// run brings up the simulator, the control plane and the manager, in that
// order, and takes them down in reverse order when ctx ends or any of them
// fails. It returns nil after a clean stop requested through ctx. The quick
// checks come first, so that a mistake is reported before the slow start.
func run(ctx context.Context, o options) (retErr error) {
	log := ctrl.Log.WithName("dev")
	// A kubeconfig left by an earlier run points at a server that is gone;
	// removing it first means "the file exists" implies "the server is up".
	if err := os.Remove(o.kubeconfigOut); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the old kubeconfig: %w", err)
	}
	if err := checkAssets(o.assets); err != nil {
		return err
	}
	if err := checkFree(ctx, map[string]string{"--metrics-addr": o.metricsAddr, "--probe-addr": o.probeAddr}); err != nil {
		return err
	}

	// Each part that can fail after start sends at most one error here;
	// the buffer lets it do so without waiting for a reader.
	failed := make(chan error, 2)
	sim, err := startSimulator(ctx, o.simAddr, simulatorOptions(o), failed)
	if err != nil {
		return err
	}
	defer func() {
		log.Info("stopping the simulator")
		if retErr = errors.Join(retErr, sim.stop()); retErr == nil {
			log.Info("everything stopped")
		}
	}()

	log.Info("starting kube-apiserver and etcd", "assets", o.assets)
	cp, err := startControlPlane(ctx, o.assets, o.crdDir)
	if err != nil {
		return err
	}
	defer func() {
		log.Info("stopping kube-apiserver and etcd")
		retErr = errors.Join(retErr, cp.stop())
	}()
	// A Ctrl-C during the start is honoured here.
	if ctx.Err() != nil {
		return nil
	}
	if err := writeKubeconfig(cp, o.kubeconfigOut); err != nil {
		return err
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	var watcher sync.WaitGroup
	watcher.Go(func() { cp.watch(watchCtx, failed) })
	defer func() { stopWatch(); watcher.Wait() }()

	mgr, err := newManager(ctx, cp.config, o)
	if err != nil {
		return err
	}
	b := banner{
		apiServer:   cp.config.Host,
		simURL:      sim.url,
		simAddr:     sim.addr,
		kubeconfig:  o.kubeconfigOut,
		metricsAddr: o.metricsAddr,
	}
	err = runManager(ctx, mgr, failed, func() { b.print(os.Stdout) })
	log.Info("operator manager stopped")
	return err
}
