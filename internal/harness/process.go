package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dbrest-io/dbrest-operator/internal/testenv"
)

// BuildManager compiles ./cmd/manager into dir and returns the binary's
// path. The Go build cache makes repeated builds cheap.
func BuildManager(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/manager")
	cmd.Dir = testenv.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %w\n%s", err, out)
	}
	return bin, nil
}

// ManagerSpec says how to start a manager process.
type ManagerSpec struct {
	// Binary is the manager executable (see BuildManager).
	Binary string
	// Kubeconfig is the content of the kubeconfig the manager uses.
	Kubeconfig []byte
	// Args are extra flags; they come last, so they win over the
	// harness's own (metrics address, probes off).
	Args []string
	// Output receives the manager's stdout and stderr; nil discards them.
	Output io.Writer
	// Dir holds the kubeconfig file; empty means a new temporary
	// directory, removed when the process ends.
	Dir string
}

// Process is a running manager.
type Process struct {
	// MetricsURL is the manager's plain-HTTP metrics endpoint.
	MetricsURL string
	cmd        *exec.Cmd
	done       chan struct{}
	err        error
	stopOnce   sync.Once
	cancel     context.CancelFunc
}

// StartManager starts the manager with the kubeconfig, metrics served
// over plain HTTP on a free localhost port, and health probes off. The
// process gets SIGTERM when ctx ends or Stop is called.
func StartManager(ctx context.Context, spec ManagerSpec) (*Process, error) {
	dir, cleanup := spec.Dir, func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "dbrest-manager-")
		if err != nil {
			return nil, err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, spec.Kubeconfig, 0o600); err != nil {
		cleanup()
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		cleanup()
		return nil, err
	}
	args := append([]string{"--metrics-bind-address=" + addr, "--metrics-secure=false", "--health-probe-bind-address=0"}, spec.Args...)
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, spec.Binary, args...)
	// A cancelled context asks for a clean stop; WaitDelay is the grace
	// before the kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out := spec.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		cleanup()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	p := &Process{MetricsURL: "http://" + addr + "/metrics", cmd: cmd, done: make(chan struct{}), cancel: cancel}
	go func() {
		p.err = cmd.Wait()
		cleanup()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id, for ReadUsage.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit error once Done is closed (nil for exit code 0).
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// WaitReady waits until the metrics endpoint answers, which the manager
// serves once it has started. It fails at once if the process exits.
func (p *Process) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := Scrape(ctx, p.MetricsURL); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the manager's metrics endpoint: %w", ctx.Err())
		case <-p.done:
			return fmt.Errorf("the manager exited: %w", p.err)
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM, waits up to grace, then kills the process. It
// returns the exit error, ignoring the one caused by the signal.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.cancel()
	})
	var exit *exec.ExitError
	if errors.As(p.err, &exit) && !exit.Exited() {
		return nil // ended by our signal
	}
	return p.err
}

// Kill ends the process at once with SIGKILL, as a crash would.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cancel()
}

// FreeAddr returns a localhost address whose port was free a moment ago.
func FreeAddr() (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
