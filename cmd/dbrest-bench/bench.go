package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
	"github.com/dbrest-io/dbrest-operator/internal/harness"
	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// bench is one run's world.
type bench struct {
	c       config
	k8s     client.Client
	sim     *simulator.Server
	simURL  string
	mgr     *harness.Process
	obs     *observer
	tracker *tracker
	ns      string
	// cfg is the bench's own client configuration, for the ceiling's
	// clients and watches.
	cfg *rest.Config
	// storm stands in front of the simulator, for --fault 503-storm.
	storm *storm
}

// namespace is where the bench creates its objects; the control plane is
// its own, so a fixed name is safe.
const namespace = "bench"

// run sets up the control plane, the simulator and the manager, runs the
// three phases and reports. Everything it started is stopped on return.
func run(ctx context.Context, c config) (rep *report, err error) {
	dir, err := os.MkdirTemp("", "dbrest-bench-")
	if err != nil {
		return nil, err
	}
	logPath := c.managerLog
	if logPath == "" {
		logPath = filepath.Join(dir, "manager.log")
	}
	b := &bench{c: c, ns: namespace}
	defer func() {
		if err != nil && c.managerLog == "" && b.mgr != nil {
			// Keep the log of a failed run; it says why.
			err = fmt.Errorf("%w (manager log: %s)", err, logPath)
			return
		}
		os.RemoveAll(dir)
	}()
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	fmt.Fprintf(c.out, "starting the control plane, the simulator and the manager (N=%d)\n", c.n)
	cp, err := harness.StartControlPlane()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cp.Stop()) }()
	// Watches still open when the control plane stops make it wait for
	// them, so everything that uses ctx ends first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The bench's own client must never be what limits the run.
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	b.cfg = cfg
	if b.k8s, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return nil, err
	}
	stopSim, err := b.startSimulator()
	if err != nil {
		return nil, err
	}
	defer stopSim()
	if err := b.startManager(ctx, cp, dir, logFile); err != nil {
		return nil, err
	}
	managerStopped := false
	stopManager := func() error {
		managerStopped = true
		if err := b.mgr.Stop(20 * time.Second); err != nil {
			return fmt.Errorf("stopping the manager: %w", err)
		}
		return nil
	}
	defer func() {
		if !managerStopped {
			err = errors.Join(err, stopManager())
		}
	}()
	if b.obs, err = newObserver(b.mgr, cfg); err != nil {
		return nil, err
	}
	if err := b.createFixtures(ctx); err != nil {
		return nil, err
	}
	if b.tracker, err = startTracker(ctx, cfg, b.ns); err != nil {
		return nil, err
	}
	rep = &report{Config: reportConfig(c)}
	if idle, err := harness.ReadUsage(b.mgr.PID()); err == nil {
		rep.IdleRSSMiB = mib(idle.RSS)
	}
	rep.LoadAverage, _ = harness.LoadAverage()
	phaseErr := b.phases(ctx, rep)
	// A failed run reports what it measured too: where it stopped is the
	// interesting part.
	if final, err := harness.ReadUsage(b.mgr.PID()); err == nil {
		rep.PeakRSSMiB, rep.CPUSeconds = mib(final.PeakRSS), final.CPU.Seconds()
		rep.PeakRSSMiBPer1000 = rep.PeakRSSMiB * 1000 / float64(c.n)
		rep.AboveIdleMiBPer1000 = (rep.PeakRSSMiB - rep.IdleRSSMiB) * 1000 / float64(c.n)
	}
	// The ceiling replays the phases' writes, so it needs all three; it
	// runs with the manager stopped, on the same control plane.
	if phaseErr == nil && c.ceiling {
		if phaseErr = stopManager(); phaseErr == nil {
			phaseErr = b.ceiling(ctx, rep)
		}
	}
	rep.print(c.out)
	if c.jsonPath != "" {
		if err := rep.writeJSON(c.jsonPath); err != nil {
			return rep, errors.Join(phaseErr, err)
		}
	}
	return rep, phaseErr
}

// phases runs create, redeploy and delete in turn, stopping at the first
// that fails.
func (b *bench) phases(ctx context.Context, rep *report) error {
	for _, p := range []struct {
		name string
		run  func(context.Context) (phaseResult, error)
	}{{"create", b.createPhase}, {"redeploy", b.redeployPhase}, {"delete", b.deletePhase}} {
		fmt.Fprintf(b.c.out, "phase %s...\n", p.name)
		res, err := p.run(ctx)
		res.Name = p.name
		res.conclude(b.c)
		res.LoadAverage, _ = harness.LoadAverage()
		if err == nil {
			var prev *dbrestv1.DeploymentStatus
			if len(rep.Phases) > 0 {
				prev = rep.Phases[len(rep.Phases)-1].sample
			}
			res.sample, err = b.statusSample(ctx, prev)
		}
		rep.add(res)
		if err != nil {
			return fmt.Errorf("phase %s: %w", p.name, err)
		}
	}
	return nil
}

// statusSample is the status of one of the bench's Deployments at the end
// of a phase, the shape of the status the ceiling writes. The delete
// phase, whose objects are gone, keeps prev, the previous phase's.
func (b *bench) statusSample(ctx context.Context, prev *dbrestv1.DeploymentStatus) (*dbrestv1.DeploymentStatus, error) {
	var d dbrestv1.Deployment
	err := b.k8s.Get(ctx, client.ObjectKey{Namespace: b.ns, Name: appName(0)}, &d)
	switch {
	case err == nil:
		return &d.Status, nil
	case apierrors.IsNotFound(err) && prev != nil:
		return prev, nil
	default:
		return nil, fmt.Errorf("reading a status sample: %w", err)
	}
}

func (b *bench) startSimulator() (stop func(), err error) {
	opts := simulator.Options{JobDuration: b.c.jobDuration}
	if b.c.retryAfter {
		opts.RetryAfter = simulator.RetryAfterSeconds
		opts.RetryAfterValue = b.c.jobDuration
	}
	b.sim = simulator.New(opts)
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.sim.Close()
		return nil, err
	}
	b.storm = newStorm(b.sim.Handler(), b.sim.BasePath())
	srv := &http.Server{Handler: b.storm, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.simURL = "http://" + ln.Addr().String() + b.sim.BasePath()
	return func() { srv.Close(); b.sim.Close() }, nil
}

func (b *bench) startManager(ctx context.Context, cp *harness.ControlPlane, dir string, log io.Writer) error {
	bin, err := harness.BuildManager(ctx, dir)
	if err != nil {
		return err
	}
	kubeconfig, err := cp.AdminKubeconfig("dbrest-operator")
	if err != nil {
		return err
	}
	args := []string{
		fmt.Sprintf("--kube-api-qps=%g", b.c.kubeAPIQPS),
		fmt.Sprintf("--kube-api-burst=%d", b.c.kubeAPIBurst),
		fmt.Sprintf("--max-concurrent-reconciles=%d", b.c.concurrency),
	}
	if b.c.pprofAddr != "" {
		args = append(args, "--pprof-bind-address="+b.c.pprofAddr)
	}
	args = append(args, b.c.managerArgs...)
	b.mgr, err = harness.StartManager(ctx, harness.ManagerSpec{Binary: bin, Kubeconfig: kubeconfig, Args: args, Output: log, Dir: dir})
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return b.mgr.WaitReady(waitCtx)
}

// createFixtures creates the namespace, the credentials and the
// DatabaseAPI, and waits until the manager has probed it: the manager is
// then running and the Deployments' first reconciles find it Ready.
func (b *bench) createFixtures(ctx context.Context) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: b.ns},
			StringData: map[string]string{"username": "admin", "password": "admin"}},
		&dbrestv1.DatabaseAPI{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: b.ns},
			Spec: dbrestv1.DatabaseAPISpec{URL: b.simURL, CredentialsSecretRef: dbrestv1.LocalObjectReference{Name: "creds"},
				// The bench measures the operator and the control plane, so
				// the REST rate limit is set out of the way.
				MaxConcurrentRequests: int32(b.c.maxRequests), MaxRequestsPerSecond: 100000}},
	}
	for _, o := range objs {
		if err := b.k8s.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var api dbrestv1.DatabaseAPI
		if err := b.k8s.Get(ctx, client.ObjectKey{Namespace: b.ns, Name: "db"}, &api); err == nil &&
			meta.IsStatusConditionTrue(api.Status.Conditions, dbrestv1.ReadyCondition) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the DatabaseAPI to be Ready: %w", ctx.Err())
		case <-b.mgr.Done():
			return fmt.Errorf("the manager exited: %w", b.mgr.Err())
		case <-tick.C:
		}
	}
}
