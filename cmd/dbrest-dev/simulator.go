package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// simulatorOptions configures the simulator as config/samples expect: user
// admin/admin (00-credentials.yaml), deploys of "broken-*" failing
// (20-deployment-failing-job.yaml), and jobs slow enough to watch.
func simulatorOptions(o options) simulator.Options {
	return simulator.Options{
		Users:          map[string]simulator.User{"admin": {Password: "admin", Token: "admin-token"}},
		JobDuration:    o.jobDuration,
		FailAppPattern: o.failApps,
	}
}

// simServer is the simulator served over plain HTTP.
type simServer struct {
	sim  *simulator.Server
	srv  *http.Server
	addr string // host:port actually bound, for --sim-addr with port 0
	url  string // base URL of the API, as a DatabaseAPI's spec.url
}

// startSimulator binds addr before returning, so that a port already in use
// is reported at once, then serves in the background. A serving error after
// that is sent on failed.
func startSimulator(ctx context.Context, addr string, opts simulator.Options, failed chan<- error) (*simServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w (is another dbrest-dev running? --sim-addr picks another address)", err)
	}
	sim := simulator.New(opts)
	s := &simServer{
		sim:  sim,
		srv:  &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
	}
	s.url = "http://" + s.addr + sim.BasePath()
	go func() {
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("simulator: %w", err)
		}
	}()
	return s, nil
}

// stop lets requests in flight finish, for a moment, then closes what is
// left and stops the simulator's background work. By now the manager, its
// main client, has stopped, so the grace is short: Shutdown would otherwise
// wait up to 5s for any connection that was opened but never used.
func (s *simServer) stop() error {
	defer s.sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if err != nil {
		return fmt.Errorf("stopping the simulator: %w", err)
	}
	return nil
}
