package restapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

// fakeClock drives the simulator's jobs, so tests advance time instead of
// sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const simJobDuration = 10 * time.Second

// startSim serves a simulator with a fake clock and returns a client for it.
func startSim(t *testing.T, opts simulator.Options, mutate ...func(*Config)) (*simulator.Server, *fakeClock, *Client) {
	t.Helper()
	clock := &fakeClock{t: time.Now()}
	opts.Clock = clock.Now
	if opts.JobDuration == 0 {
		opts.JobDuration = simJobDuration
	}
	sim := simulator.New(opts)
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	mutate = append([]func(*Config){func(c *Config) { c.Credentials = Credentials{Username: "admin", Password: "admin"} }}, mutate...)
	c := newTestClient(t, srv.URL, mutate...)
	return sim, clock, c
}

// settle follows a mutating call to its end: a Done result as it is, an
// Accepted one by polling its job while the fake clock moves on.
func settle(t *testing.T, c *Client, clock *fakeClock, res *Result) *Job {
	t.Helper()
	if res.Outcome == OutcomeDone {
		return nil
	}
	if res.JobURL == "" || !strings.HasPrefix(res.JobURL, c.BaseURL().Scheme+"://"+c.BaseURL().Host) {
		t.Fatalf("job URL %q", res.JobURL)
	}
	js, err := c.GetJob(context.Background(), res.JobURL)
	if err != nil || js.Job.Done() {
		t.Fatalf("first poll: %+v %v", js, err)
	}
	clock.Add(simJobDuration + time.Second)
	js, err = c.GetJob(context.Background(), res.JobURL)
	if err != nil || !js.Job.Done() {
		t.Fatalf("after the job's duration: %+v %v", js, err)
	}
	return &js.Job
}

func TestSimulatorLifecycle(t *testing.T) {
	f := false
	detachedFalse := func(c *Config) { c.Detached = &f }
	cases := []struct {
		name     string
		opts     simulator.Options
		cfg      func(*Config)
		outcome  Outcome
		after    time.Duration
		dateLike bool
	}{
		{"absolute Location", simulator.Options{}, nil, OutcomeAccepted, 0, false},
		{"relative Location, Retry-After seconds", simulator.Options{Location: simulator.LocationRelative, RetryAfter: simulator.RetryAfterSeconds, RetryAfterValue: 3 * time.Second}, nil, OutcomeAccepted, 3 * time.Second, false},
		{"body-only link, Retry-After date", simulator.Options{Location: simulator.LocationBodyOnly, RetryAfter: simulator.RetryAfterDate, RetryAfterValue: 30 * time.Second}, nil, OutcomeAccepted, 30 * time.Second, true},
		{"sync 201, DELETE 200", simulator.Options{}, detachedFalse, OutcomeDone, 0, false},
		{"sync 200 with item, DELETE 204", simulator.Options{SyncCreateCode: 200, DeleteCode: 204}, detachedFalse, OutcomeDone, 0, false},
		{"202 although __detached=false", simulator.Options{AlwaysAccept: true, Location: simulator.LocationRelative}, detachedFalse, OutcomeAccepted, 0, false},
		{"bearer token", simulator.Options{}, func(c *Config) { c.Credentials = Credentials{Token: "admin-token"} }, OutcomeAccepted, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mut []func(*Config)
			if tc.cfg != nil {
				mut = append(mut, tc.cfg)
			}
			sim, clock, c := startSim(t, tc.opts, mut...)
			ctx := context.Background()
			if err := c.Probe(ctx); err != nil {
				t.Fatalf("Probe: %v", err)
			}
			res, err := c.Deploy(ctx, ordersSpec)
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %v, want %v", res.Outcome, tc.outcome)
			}
			if tc.dateLike && (res.RetryAfter < tc.after-2*time.Second || res.RetryAfter > tc.after+time.Second) {
				t.Errorf("RetryAfter %v, want about %v", res.RetryAfter, tc.after)
			} else if !tc.dateLike && res.RetryAfter != tc.after {
				t.Errorf("RetryAfter %v, want %v", res.RetryAfter, tc.after)
			}
			if res.Outcome == OutcomeAccepted && (res.Job == nil || res.Job.DeploymentName != "orders") {
				t.Errorf("202 job %+v", res.Job)
			}
			if res.Outcome == OutcomeDone && (res.Application == nil || res.Application.Name != "orders") {
				t.Errorf("sync application %+v", res.Application)
			}
			if job := settle(t, c, clock, res); job != nil && (job.Failed() || job.Status != JobCompleted) {
				t.Fatalf("job %+v", job)
			}
			app, err := c.GetApplication(ctx, "orders")
			if err != nil || app.State != StateActive || app.DeploymentPath != ordersSpec.DeploymentPath {
				t.Fatalf("app %+v err %v", app, err)
			}

			v2 := ordersSpec
			v2.Version = "2.0"
			res, err = c.Redeploy(ctx, v2)
			if err != nil {
				t.Fatalf("Redeploy: %v", err)
			}
			settle(t, c, clock, res)
			if app, err = c.GetApplication(ctx, "orders"); err != nil || app.Version != "2.0" || app.State != StateActive {
				t.Fatalf("after redeploy %+v %v", app, err)
			}
			apps, err := c.ListApplications(ctx)
			if err != nil || len(apps) != 1 {
				t.Fatalf("list %+v %v", apps, err)
			}
			jobs, err := c.ListJobs(ctx)
			if err != nil || (tc.outcome == OutcomeAccepted) != (len(jobs) == 2) {
				t.Fatalf("jobs %+v %v", jobs, err)
			}

			res, err = c.Undeploy(ctx, "orders")
			if err != nil {
				t.Fatalf("Undeploy: %v", err)
			}
			settle(t, c, clock, res)
			if _, err = c.GetApplication(ctx, "orders"); !isA[*NotFoundError](err) {
				t.Fatalf("after undeploy: %T %v", err, err)
			}
			if _, err = c.Undeploy(ctx, "orders"); !isA[*NotFoundError](err) {
				t.Fatalf("second undeploy: %T %v", err, err)
			}
			st := sim.Stats()
			if st.DuplicateDeploys != 0 || st.DeploysAccepted["orders"] != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestSimulatorErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("failed job", func(t *testing.T) {
		_, clock, c := startSim(t, simulator.Options{FailAppPattern: regexp.MustCompile("^bad")})
		res, err := c.Deploy(ctx, ApplicationSpec{Name: "bad1", DeploymentPath: "/x.war", Targets: []string{"c1"}})
		if err != nil {
			t.Fatal(err)
		}
		job := settle(t, c, clock, res)
		if !job.Failed() || len(job.ErrorMessages()) == 0 || !strings.HasPrefix(job.ErrorMessages()[0], "c1: ") {
			t.Fatalf("job %+v, errors %q", job, job.ErrorMessages())
		}
		if app, err := c.GetApplication(ctx, "bad1"); err != nil || app.State != StateFailed {
			t.Fatalf("app %+v %v", app, err)
		}
	})
	t.Run("duplicate deploy", func(t *testing.T) {
		sim, _, c := startSim(t, simulator.Options{})
		_, _ = c.Deploy(ctx, ordersSpec)
		_, err := c.Deploy(ctx, ordersSpec)
		if !isA[*InvalidRequestError](err) || !strings.Contains(err.Error(), "already deployed") {
			t.Fatalf("got %T %v", err, err)
		}
		if sim.Stats().DuplicateDeploys != 1 {
			t.Fatal("duplicate not counted")
		}
	})
	t.Run("credentials", func(t *testing.T) {
		opts := simulator.Options{Users: map[string]simulator.User{
			"admin":  {Password: "admin"},
			"reader": {Password: "reader", ReadOnly: true},
		}}
		_, _, bad := startSim(t, opts, func(c *Config) { c.Credentials.Password = testPassword })
		if err := bad.Probe(ctx); !isA[*UnauthorizedError](err) {
			t.Fatalf("wrong password: %T %v", err, err)
		}
		_, _, reader := startSim(t, opts, func(c *Config) { c.Credentials = Credentials{Username: "reader", Password: "reader"} })
		if _, err := reader.Deploy(ctx, ordersSpec); !isA[*ForbiddenError](err) {
			t.Fatalf("read-only: %T %v", err, err)
		}
	})
	t.Run("wrong base path", func(t *testing.T) {
		_, _, c := startSim(t, simulator.Options{BasePath: "/other/"})
		if err := c.Probe(ctx); !isA[*NotFoundError](err) {
			t.Fatalf("got %T %v", err, err)
		}
	})
	t.Run("expired job", func(t *testing.T) {
		_, clock, c := startSim(t, simulator.Options{JobTTL: time.Minute})
		res, _ := c.Deploy(ctx, ordersSpec)
		clock.Add(time.Hour)
		if _, err := c.GetJob(ctx, res.JobURL); !isA[*NotFoundError](err) {
			t.Fatalf("got %T %v", err, err)
		}
	})
}

func TestSimulatorFaults(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		faults simulator.Faults
		is     func(error) bool
		after  time.Duration
		msg    string
	}{
		{"HTML 503 from a proxy with Retry-After", simulator.Faults{ErrorEveryN: 1, ErrorCode: 503, HTMLErrors: true, ErrorRetryAfter: true},
			isA[*UnavailableError], time.Second, "503 Service Temporarily Unavailable"},
		{"JSON 500", simulator.Faults{ErrorEveryN: 1}, isA[*ServerError], 0, "injected fault"},
		{"429", simulator.Faults{ErrorEveryN: 1, ErrorCode: 429, ErrorRetryAfter: true}, isA[*ThrottledError], time.Second, ""},
		{"downtime", simulator.Faults{Down: true}, isA[*UnavailableError], 0, "not running"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, _, c := startSim(t, simulator.Options{})
			sim.SetFaults(tc.faults)
			_, err := c.Deploy(ctx, ordersSpec)
			if !tc.is(err) || !IsRetryable(err) || RetryAfter(err) != tc.after || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %T %v (retry after %v)", err, err, RetryAfter(err))
			}
		})
	}
	t.Run("lost answer is settled by reading, not by a second deploy", func(t *testing.T) {
		sim, _, c := startSim(t, simulator.Options{})
		sim.SetFaults(simulator.Faults{ResetEveryN: 1})
		_, err := c.Deploy(ctx, ordersSpec)
		var te *TransportError
		if !errors.As(err, &te) || !te.OutcomeUnknown() {
			t.Fatalf("got %T %v", err, err)
		}
		sim.SetFaults(simulator.Faults{})
		if app, err := c.GetApplication(ctx, "orders"); err != nil || app.Name != "orders" {
			t.Fatalf("the deploy happened, yet %+v %v", app, err)
		}
		if st := sim.Stats(); st.DeploysAccepted["orders"] != 1 || st.DuplicateDeploys != 0 || st.Requests["POST reset"] != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestRedeployClearsRemovedFields checks the contract's "absent keeps,
// empty clears" rule end to end: a redeploy of a spec without its plan,
// version and properties leaves none of them on the server, with a job
// and synchronously, on a server that swaps in place and on one that
// does not.
func TestRedeployClearsRemovedFields(t *testing.T) {
	for _, detached := range []bool{true, false} {
		for _, inPlace := range []bool{false, true} {
			sim, clock, c := startSim(t, simulator.Options{RedeployInPlace: inPlace}, func(cfg *Config) { cfg.Detached = &detached })
			ctx := context.Background()
			full := ordersSpec
			full.PlanPath, full.Version, full.Properties = "/plans/p.xml", "1.4.2", map[string]string{"poolSize": "20"}
			res, err := c.Deploy(ctx, full)
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			settle(t, c, clock, res)
			if res, err = c.Redeploy(ctx, ordersSpec); err != nil {
				t.Fatalf("Redeploy: %v", err)
			}
			settle(t, c, clock, res)
			app, ok := sim.Application("orders")
			if !ok || app.PlanPath != "" || app.Version != "" || len(app.Properties) != 0 || app.State != simulator.StateActive {
				t.Errorf("detached %v, in place %v: after a redeploy without them the server keeps %+v", detached, inPlace, app)
			}
		}
	}
}
