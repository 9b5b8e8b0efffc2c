// Command dbrest-bench measures the operator at scale. It starts a
// kube-apiserver and etcd (envtest), the REST API simulator in this
// process, and the manager as a separate process (so its CPU and memory
// are its own); then it creates N Deployments and waits until all are
// Ready, redeploys all of them and waits, and deletes all and waits until
// they are gone. Then it stops the manager and sends the kube-apiserver
// the same writes with no operator, to measure the control plane's
// ceiling for each phase. It prints one table and can write the same
// figures as JSON. It exits non-zero when a run fails or any deploy was
// duplicated.
//
//	go run ./cmd/dbrest-bench --n 1000 --json bench.json
//
// docs/performance.md explains the figures and the results measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// config is the bench's flags.
type config struct {
	n             int
	jobDuration   time.Duration
	pollInterval  time.Duration
	retryAfter    bool
	fault         string
	stormDuration time.Duration
	ceiling       bool
	kubeAPIQPS    float64
	kubeAPIBurst  int
	concurrency   int
	maxRequests   int
	jsonPath      string
	phaseTimeout  time.Duration
	managerLog    string
	managerArgs   []string
	pprofAddr     string
	out           io.Writer
}

// Fault modes.
const (
	faultNone     = "none"
	fault503Storm = "503-storm"
)

func parseFlags(args []string, out io.Writer) (config, error) {
	c := config{out: out}
	fs := flag.NewFlagSet("dbrest-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&c.n, "n", 1000, "Number of Deployments.")
	fs.DurationVar(&c.jobDuration, "job-duration", 5*time.Second, "How long each simulated job runs.")
	fs.DurationVar(&c.pollInterval, "poll-interval", 5*time.Second, "spec.pollInterval of every Deployment (at least 1s).")
	fs.BoolVar(&c.retryAfter, "retry-after", false, "The simulator sends Retry-After (the job duration) on 202, 429 and 503.")
	fs.StringVar(&c.fault, "fault", faultNone, `Fault mode: "none", or "503-storm" (every REST call answers 503 with Retry-After: 1 from the start of the redeploy phase, for --storm-duration).`)
	fs.DurationVar(&c.stormDuration, "storm-duration", 10*time.Second, "How long the 503 storm lasts.")
	fs.BoolVar(&c.ceiling, "ceiling", true, "After the phases, stop the manager and time the same writes with no operator (the control plane's ceiling).")
	fs.Float64Var(&c.kubeAPIQPS, "kube-api-qps", -1, "The manager's --kube-api-qps (negative: no client-side limit, its default).")
	fs.IntVar(&c.kubeAPIBurst, "kube-api-burst", 400, "The manager's --kube-api-burst.")
	fs.IntVar(&c.concurrency, "max-concurrent-reconciles", 32, "The manager's --max-concurrent-reconciles.")
	fs.IntVar(&c.maxRequests, "max-concurrent-requests", 0, "The DatabaseAPI's spec.maxConcurrentRequests (0: --max-concurrent-reconciles, so REST calls never queue behind the cap).")
	fs.StringVar(&c.jsonPath, "json", "", "Write the results as JSON to this file.")
	fs.DurationVar(&c.phaseTimeout, "phase-timeout", 0, "Give up on a phase after this long (0: 5m plus 20ms per Deployment).")
	fs.StringVar(&c.managerLog, "manager-log", "", "Write the manager's log to this file (default: a temporary file, shown when the run fails).")
	fs.StringVar(&c.pprofAddr, "manager-pprof", "", `Serve the manager's net/http/pprof on this address, e.g. "127.0.0.1:6060", to profile a run.`)
	fs.Func("manager-arg", "An extra flag for the manager (repeatable), e.g. --manager-arg=--zap-log-level=debug.", func(s string) error {
		c.managerArgs = append(c.managerArgs, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.n <= 0:
		return c, errors.New("--n must be positive")
	case c.pollInterval < time.Second:
		return c, errors.New("--poll-interval must be at least 1s (the CRD's minimum)")
	case c.fault != faultNone && c.fault != fault503Storm:
		return c, fmt.Errorf("--fault %q: want none or 503-storm", c.fault)
	case c.stormDuration <= 0:
		return c, errors.New("--storm-duration must be positive")
	}
	if c.maxRequests <= 0 {
		c.maxRequests = min(max(c.concurrency, 1), 1024)
	}
	if c.phaseTimeout <= 0 {
		c.phaseTimeout = 5*time.Minute + time.Duration(c.n)*20*time.Millisecond
	}
	return c, nil
}

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c.out = os.Stdout
	ctrl.SetLogger(logr.Discard())
	if err := benchmark(c); err != nil {
		fmt.Fprintln(os.Stderr, "dbrest-bench:", err)
		os.Exit(1)
	}
}

// benchmark runs the bench until done or interrupted, and fails on
// duplicate deploys as on any other error.
func benchmark(c config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, c)
	if err == nil && rep.Duplicates > 0 {
		err = fmt.Errorf("%d duplicate deploys", rep.Duplicates)
	}
	return err
}
