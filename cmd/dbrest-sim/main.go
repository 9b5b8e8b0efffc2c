// Command dbrest-sim serves the simulated database REST API of package
// internal/simulator, for manual testing and end-to-end tests of the
// operator. Run it with --help for every flag and the admin endpoints.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "dbrest-sim:", err)
		os.Exit(2)
	}
}

// config is everything the flags set.
type config struct {
	listen      string
	tlsCert     string
	tlsKey      string
	selfSigned  bool
	caOut       string
	sans        []string
	verbose     bool
	failPattern string
	downFor     time.Duration
	opts        simulator.Options
}

const usageHeader = `dbrest-sim serves a simulated database REST API (see PROTOCOL.md).

Usage: dbrest-sim [flags]

API, under --base-path:
  GET    deployments/application                      list applications
  GET    deployments/application/id/{name}            read one application
  POST   deployments/application[?__detached=true]    deploy
  POST   deployments/application/id/{name}/redeploy   redeploy
  DELETE deployments/application/id/{name}            undeploy
  GET    jobs/deployment                              list jobs
  GET    jobs/deployment/id/{id}                      read one job

Admin endpoints, never faulted, no authentication:
  GET    /_sim/stats          counters as JSON (requests, duplicate deploys,
                              concurrent and overlapping mutations per app,
                              polls per job, proxy 504s)
  POST   /_sim/reset-stats    zero the counters
  GET    /_sim/faults         the faults in force
  PUT    /_sim/faults         replace the faults; JSON fields: latency (Go
                              duration), errorEveryN, errorRate, errorCode,
                              errorRetryAfter, htmlErrors, resetEveryN, down,
                              downUntil (RFC 3339), downFor (Go duration)
  GET    /_sim/apps/{name}    the stored application
  PUT    /_sim/apps/{name}    deploy it out of band (JSON application, active at once),
                              as another tool would, to try spec.adoption
  PATCH  /_sim/apps/{name}    merge JSON fields into it, to simulate drift
  DELETE /_sim/apps/{name}    delete it out of band

Example:
  dbrest-sim --user admin:secret --job-duration 5s --location relative &
  curl -u admin:secret -H 'X-Requested-By: me' -H 'Content-Type: application/json' \
    -d '{"name":"orders","deploymentPath":"/apps/orders.war","targets":["cluster1"]}' \
    'http://127.0.0.1:8765/management/wls/latest/deployments/application?__detached=true'
  curl -X PUT -d '{"errorCode":503,"errorEveryN":3,"errorRetryAfter":true}' \
    http://127.0.0.1:8765/_sim/faults
  # a slow server behind nginx: every mutation answers 504 and still happens
  dbrest-sim --mutation-delay 30s --proxy-timeout 10s --redeploy-in-place

Flags:
`

// parseFlags turns the command line into a config.
func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	o := &c.opts
	fs := flag.NewFlagSet("dbrest-sim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, usageHeader)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8765", "`address` to listen on (port 0 picks a free port, printed at start)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate `file` to serve HTTPS (with --tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&c.selfSigned, "tls-self-signed", false, "serve HTTPS with a certificate signed by a CA generated at start")
	fs.StringVar(&c.caOut, "ca-out", "", "`file` to write the generated CA certificate (PEM) to, for --tls-self-signed")
	fs.Func("tls-san", "extra DNS name or IP `address` for the --tls-self-signed certificate (repeatable; localhost, 127.0.0.1, ::1 and the listen host are always included)", func(v string) error {
		c.sans = append(c.sans, v)
		return nil
	})
	fs.BoolVar(&c.verbose, "verbose", false, "log one line per API request")

	fs.StringVar(&o.BasePath, "base-path", simulator.DefaultBasePath, "`path` the API is mounted on")
	fs.Func("user", "account `name:password[:token][:ro]` (repeatable; an empty password makes a token-only user, a trailing :ro a read-only one); default admin:admin:admin-token", func(v string) error {
		name, u, err := parseUser(v)
		if err != nil {
			return err
		}
		if o.Users == nil {
			o.Users = map[string]simulator.User{}
		}
		o.Users[name] = u
		return nil
	})
	fs.DurationVar(&o.JobDuration, "job-duration", 2*time.Second, "how long a job stays \"in progress\"")
	fs.DurationVar(&o.JobTTL, "job-ttl", 10*time.Minute, "how long a finished job is kept before its URL answers 404")
	fs.StringVar(&c.failPattern, "fail-pattern", "", "`regexp`: deploys and redeploys of matching application names fail")
	fs.Func("location", "`style` of Location and links[]: absolute, relative or body-only (default absolute)", func(v string) error {
		o.Location = simulator.LocationStyle(v)
		return nil
	})
	fs.Func("retry-after", "`style` of Retry-After on 202, 429 and 503: none, seconds or date (default none)", func(v string) error {
		o.RetryAfter = simulator.RetryAfterStyle(v)
		return nil
	})
	fs.DurationVar(&o.RetryAfterValue, "retry-after-value", time.Second, "delay written in Retry-After")
	fs.IntVar(&o.SyncCreateCode, "sync-create-code", 201, "answer to a synchronous deploy: 201 (Location) or 200 (messages and item)")
	fs.IntVar(&o.DeleteCode, "delete-code", 200, "answer to a synchronous undeploy: 200 or 204")
	fs.BoolVar(&o.AlwaysAccept, "always-accept", false, "answer 202 with a job even when __detached=false")
	fs.BoolVar(&o.NoJobLink, "no-job-link", false, "a 202 names no job (no Location, no links); the job is still listed")
	fs.StringVar(&o.JobLinkOrigin, "job-link-origin", "", "write job links on this origin (scheme://host:port), as a separate job service or a leaky proxy does")
	fs.BoolVar(&o.JobDoneAtAcceptance, "job-done-at-acceptance", false, "jobs end before their 202 is written, which shows them completed or failed")
	fs.BoolVar(&o.RedeployInPlace, "redeploy-in-place", false, "swap in place: while a redeploy job runs, the application keeps its old fields and state (STATE_ACTIVE); the new fields land when the job completes, and a failed job leaves the old ones")
	fs.DurationVar(&o.MutationDelay, "mutation-delay", 0, "process every deploy, redeploy and undeploy only this long after it arrives, even if the client has left (0: at once)")
	fs.DurationVar(&o.ProxyTimeout, "proxy-timeout", 0, "answer a deploy, redeploy or undeploy that is not processed after this long with a proxy's HTML 504 Gateway Time-out, while the server still processes it at --mutation-delay (0: off)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the random source behind --error-rate")

	f := &o.Faults
	fs.DurationVar(&f.Latency, "latency", 0, "delay added before every API answer")
	fs.IntVar(&f.ErrorEveryN, "error-every", 0, "answer every `N`th API request with --error-code (0: off)")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "answer this `fraction` (0..1) of API requests with --error-code")
	fs.IntVar(&f.ErrorCode, "error-code", 500, "status of injected errors: 500, 503, 429, ...")
	fs.BoolVar(&f.ErrorRetryAfter, "error-retry-after", false, "add Retry-After to injected errors")
	fs.BoolVar(&f.HTMLErrors, "html-errors", false, "write injected errors as a proxy's HTML page")
	fs.IntVar(&f.ResetEveryN, "reset-every", 0, "drop the connection, unanswered, on every `N`th API request, after processing it (0: off)")
	fs.BoolVar(&f.Down, "down", false, "answer every API request with 503 until the faults change (see --down-for)")
	fs.DurationVar(&c.downFor, "down-for", 0, "answer every API request with 503 for this long after start")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.failPattern != "" {
		re, err := regexp.Compile(c.failPattern)
		if err != nil {
			return c, fmt.Errorf("--fail-pattern: %w", err)
		}
		o.FailAppPattern = re
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, errors.New("--tls-cert and --tls-key go together")
	}
	if c.selfSigned && c.tlsCert != "" {
		return c, errors.New("--tls-self-signed and --tls-cert exclude each other")
	}
	if c.caOut != "" && !c.selfSigned {
		return c, errors.New("--ca-out needs --tls-self-signed")
	}
	return c, o.Validate()
}

// parseUser reads name:password[:token][:ro].
func parseUser(v string) (string, simulator.User, error) {
	parts := strings.Split(v, ":")
	var u simulator.User
	if n := len(parts); n > 2 && parts[n-1] == "ro" {
		u.ReadOnly = true
		parts = parts[:n-1]
	}
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return "", u, fmt.Errorf("user %q: want name:password[:token][:ro]", v)
	}
	u.Password = parts[1]
	if len(parts) == 3 {
		u.Token = parts[2]
	}
	if u.Password == "" && u.Token == "" {
		return "", u, fmt.Errorf("user %q has neither password nor token", parts[0])
	}
	return parts[0], u, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "dbrest-sim ", log.LstdFlags|log.Lmicroseconds)
	if c.verbose {
		c.opts.RequestLogger = logger
	}
	if c.downFor > 0 {
		c.opts.Faults.Down = true
		c.opts.Faults.DownUntil = time.Now().Add(c.downFor)
	}

	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.listen)
	if err != nil {
		return err
	}
	sim := simulator.New(c.opts)
	defer sim.Close()
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsConfig,
		ErrorLog:          logger,
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	fmt.Fprintf(stdout, "dbrest-sim listening on %s://%s%s\n", scheme, ln.Addr(), sim.BasePath())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Print("shutting down")
	// Close first: it ends the --mutation-delay waits, so handlers still
	// waiting on them answer before Shutdown's deadline.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tlsConfig loads or generates the server certificate; nil means plain HTTP.
func (c config) tlsConfig() (*tls.Config, error) {
	switch {
	case c.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	case c.selfSigned:
		host, _, err := net.SplitHostPort(c.listen)
		if err != nil {
			return nil, fmt.Errorf("--listen: %w", err)
		}
		cert, caPEM, err := selfSigned(append([]string{"localhost", "127.0.0.1", "::1", host}, c.sans...), time.Now())
		if err != nil {
			return nil, err
		}
		if c.caOut != "" {
			if err := os.WriteFile(c.caOut, caPEM, 0o644); err != nil {
				return nil, err
			}
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	}
	return nil, nil
}
