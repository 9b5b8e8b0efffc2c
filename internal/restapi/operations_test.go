package restapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

var ordersSpec = ApplicationSpec{Name: "orders", DeploymentPath: "/apps/orders-1.4.2.war", Targets: []string{"cluster1"}}

func TestMutationOutcomes(t *testing.T) {
	jobPath := testBase + "jobs/deployment/id/17"
	withJob := `{"item":` + jobInProgress + `,"links":[{"rel":"self","uri":"x"}]}`
	type call func(*Client) (*Result, error)
	deploy := func(c *Client) (*Result, error) { return c.Deploy(context.Background(), ordersSpec) }
	redeploy := func(c *Client) (*Result, error) { return c.Redeploy(context.Background(), ordersSpec) }
	undeploy := func(c *Client) (*Result, error) { return c.Undeploy(context.Background(), "orders") }
	cases := []struct {
		name     string
		call     call
		w        func(srvURL string) wire
		outcome  Outcome
		jobPath  string // expected path of JobURL; "" for none
		withApp  bool
		withJob  bool
		after    time.Duration
		messages []string
		is       func(error) bool // set when an error is expected
	}{
		{name: "202 absolute Location", call: deploy,
			w:       func(u string) wire { return wire{202, map[string]string{"Location": u + jobPath}, withJob} },
			outcome: OutcomeAccepted, jobPath: jobPath, withJob: true},
		{name: "202 relative Location resolved against the request URL", call: redeploy,
			w: func(string) wire {
				return wire{202, map[string]string{"Location": "../../../../jobs/deployment/id/17"}, withJob}
			},
			outcome: OutcomeAccepted, jobPath: jobPath, withJob: true},
		{name: "202 root-relative Location", call: deploy,
			w:       func(string) wire { return wire{202, map[string]string{"Location": jobPath}, ""} },
			outcome: OutcomeAccepted, jobPath: jobPath},
		{name: "202 body-only link", call: undeploy,
			w: func(u string) wire {
				return wire{202, nil, `{"item":` + jobInProgress + `,"links":[{"rel":"self","uri":"/x"},{"rel":"job","uri":"` + u + jobPath + `"}]}`}
			},
			outcome: OutcomeAccepted, jobPath: jobPath, withJob: true},
		{name: "202 relative body link inside item", call: deploy,
			w: func(string) wire {
				return wire{202, nil, `{"item":{"id":"17","status":"running","links":[{"rel":"JOB","href":"../jobs/deployment/id/17"}]}}`}
			},
			outcome: OutcomeAccepted, jobPath: jobPath, withJob: true},
		{name: "202 Retry-After seconds and messages", call: deploy,
			w: func(u string) wire {
				return wire{202, map[string]string{"Location": u + jobPath, "Retry-After": "3"},
					`{"messages":[{"message":"accepted","severity":"SUCCESS"}],"item":` + jobInProgress + `}`}
			},
			outcome: OutcomeAccepted, jobPath: jobPath, withJob: true, after: 3 * time.Second, messages: []string{"accepted"}},
		{name: "202 unreadable body but Location", call: deploy,
			w: func(u string) wire {
				return wire{202, map[string]string{"Location": u + jobPath}, "<html>queued</html>"}
			},
			outcome: OutcomeAccepted, jobPath: jobPath},
		{name: "202 without any job link", call: deploy,
			w:  func(string) wire { return wire{202, nil, `{"item":` + jobInProgress + `}`} },
			is: isA[*ProtocolError]},
		{name: "202 with an invalid link", call: deploy,
			w:  func(string) wire { return wire{202, map[string]string{"Location": "ftp://x/y"}, ""} },
			is: isA[*ProtocolError]},
		{name: "202 link on another origin at the contract's job path: the same path on the base origin", call: undeploy,
			w: func(string) wire {
				return wire{202, map[string]string{"Location": "http://backend.internal:8001" + jobPath}, ""}
			},
			outcome: OutcomeAccepted, jobPath: jobPath},
		{name: "202 link on another origin", call: deploy,
			w: func(string) wire {
				return wire{202, map[string]string{"Location": "http://evil.example:81/jobs/1"}, ""}
			},
			is: isA[*OriginError]},
		{name: "201 sync create with Location and item", call: deploy,
			w: func(u string) wire {
				return wire{201, map[string]string{"Location": u + testBase + "deployments/application/id/orders"}, `{"item":` + appOrders + `}`}
			},
			outcome: OutcomeDone, withApp: true},
		{name: "201 empty body", call: deploy, w: func(string) wire { return wire{201, nil, ""} }, outcome: OutcomeDone},
		{name: "200 sync deploy with messages and item", call: deploy,
			w: func(string) wire {
				return wire{200, nil, `{"messages":[{"message":"Deployed the application 'orders'.","severity":"SUCCESS"}],"item":` + appOrders + `}`}
			},
			outcome: OutcomeDone, withApp: true, messages: []string{"Deployed the application 'orders'."}},
		{name: "200 with invalid JSON", call: deploy, w: func(string) wire { return wire{200, nil, "{oops"} }, is: isA[*ProtocolError]},
		{name: "DELETE 200 messages only", call: undeploy,
			w:       func(string) wire { return wire{200, nil, `{"messages":[{"message":"removed","severity":"SUCCESS"}]}`} },
			outcome: OutcomeDone, messages: []string{"removed"}},
		{name: "DELETE 204", call: undeploy, w: func(string) wire { return wire{204, nil, ""} }, outcome: OutcomeDone},
		{name: "DELETE 404 already gone", call: undeploy, w: func(string) wire { return wire{404, nil, ""} }, is: isA[*NotFoundError]},
		{name: "deploy 400 duplicate", call: deploy,
			w:  func(string) wire { return wire{400, nil, `{"messages":[{"message":"already deployed"}]}`} },
			is: isA[*InvalidRequestError]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w wire
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.write(rw) }))
			defer srv.Close()
			w = tc.w(srv.URL)
			res, err := tc.call(newTestClient(t, srv.URL))
			if tc.is != nil {
				if err == nil || !tc.is(err) {
					t.Fatalf("got %T %v, %+v", err, err, res)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if res.Outcome != tc.outcome || res.StatusCode != w.code {
				t.Errorf("outcome %v code %d, want %v %d", res.Outcome, res.StatusCode, tc.outcome, w.code)
			}
			wantURL := ""
			if tc.jobPath != "" {
				wantURL = srv.URL + tc.jobPath
			}
			if res.JobURL != wantURL {
				t.Errorf("JobURL %q, want %q", res.JobURL, wantURL)
			}
			if (res.Application != nil) != tc.withApp || (tc.withApp && res.Application.Name != "orders") {
				t.Errorf("Application %+v, want present=%v", res.Application, tc.withApp)
			}
			if (res.Job != nil) != tc.withJob || (tc.withJob && res.Job.ID != "17") {
				t.Errorf("Job %+v, want present=%v", res.Job, tc.withJob)
			}
			if res.RetryAfter != tc.after {
				t.Errorf("RetryAfter %v, want %v", res.RetryAfter, tc.after)
			}
			if !reflect.DeepEqual(res.Messages, tc.messages) {
				t.Errorf("Messages %q, want %q", res.Messages, tc.messages)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	f := false
	cases := []struct {
		name       string
		cfg        func(*Config)
		call       func(*Client) error
		method     string
		path       string
		query      string
		body       string
		requiredBy string
	}{
		{"deploy detached by default", nil,
			func(c *Client) error { _, err := c.Deploy(context.Background(), ordersSpec); return err },
			"POST", testBase + "deployments/application", "__detached=true",
			`{"name":"orders","deploymentPath":"/apps/orders-1.4.2.war","targets":["cluster1"]}`, DefaultRequestedBy},
		{"redeploy sync with custom X-Requested-By", func(c *Config) { c.Detached = &f; c.Headers = map[string]string{"X-Requested-By": "me"} },
			func(c *Client) error {
				_, err := c.Redeploy(context.Background(), ApplicationSpec{Name: "orders", DeploymentPath: "/a.war", Targets: []string{"c1"},
					Version: "2", Properties: map[string]string{"a": "b"}})
				return err
			},
			"POST", testBase + "deployments/application/id/orders/redeploy", "__detached=false",
			`{"name":"orders","deploymentPath":"/a.war","targets":["c1"],"planPath":"","version":"2","properties":{"a":"b"}}`, "me"},
		{"redeploy sends emptied fields explicitly, so the server clears them", nil,
			func(c *Client) error { _, err := c.Redeploy(context.Background(), ordersSpec); return err },
			"POST", testBase + "deployments/application/id/orders/redeploy", "__detached=true",
			`{"name":"orders","deploymentPath":"/apps/orders-1.4.2.war","targets":["cluster1"],"planPath":"","version":"","properties":{}}`, DefaultRequestedBy},
		{"undeploy escapes the name", nil,
			func(c *Client) error { _, err := c.Undeploy(context.Background(), "a/b c:d"); return err },
			"DELETE", testBase + "deployments/application/id/a%2Fb%20c:d", "__detached=true", "", DefaultRequestedBy},
		{"get sends no X-Requested-By", nil,
			func(c *Client) error { _, err := c.GetApplication(context.Background(), "orders"); return err },
			"GET", testBase + "deployments/application/id/orders", "", "", ""},
		{"custom path templates", func(c *Config) { c.Paths = Paths{Applications: "/other/apps", Application: "apps/{name}/x"} },
			func(c *Client) error { _, err := c.ListApplications(context.Background()); return err },
			"GET", "/other/apps", "", "", ""},
		{"custom path template for one app", func(c *Config) { c.Paths = Paths{Application: "apps/{name}/x"} },
			func(c *Client) error { _, err := c.Undeploy(context.Background(), "orders"); return err },
			"DELETE", testBase + "apps/orders/x", "__detached=true", "", DefaultRequestedBy},
		{"list jobs", nil,
			func(c *Client) error { _, err := c.ListJobs(context.Background()); return err },
			"GET", testBase + "jobs/deployment", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := cannedServer(t, wire{204, nil, ""})
			mut := []func(*Config){func(c *Config) { c.UserAgent = "ua/1"; c.Headers = map[string]string{"X-Extra": "1"} }}
			if tc.cfg != nil {
				mut = append(mut, tc.cfg)
			}
			_ = tc.call(newTestClient(t, srv.URL, mut...))
			r, body := rec.last(t)
			if r.Method != tc.method || r.URL.EscapedPath() != tc.path || r.URL.RawQuery != tc.query {
				t.Errorf("got %s %s?%s, want %s %s?%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, tc.method, tc.path, tc.query)
			}
			if body != tc.body {
				t.Errorf("body %s, want %s", body, tc.body)
			}
			if got := r.Header.Get("X-Requested-By"); got != tc.requiredBy {
				t.Errorf("X-Requested-By %q, want %q", got, tc.requiredBy)
			}
			wantCT := ""
			if tc.body != "" {
				wantCT = "application/json"
			}
			if r.Header.Get("Content-Type") != wantCT || r.Header.Get("Accept") != "application/json" {
				t.Errorf("Content-Type %q Accept %q", r.Header.Get("Content-Type"), r.Header.Get("Accept"))
			}
			if r.Header.Get("User-Agent") != "ua/1" {
				t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
			}
			if tc.cfg == nil && r.Header.Get("X-Extra") != "1" {
				t.Error("extra header missing")
			}
		})
	}
}

func TestWithDetachedSharesTheEndpoint(t *testing.T) {
	srv, rec := cannedServer(t, wire{204, nil, ""})
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxConcurrentRequests = 1 })
	sync := c.WithDetached(false)
	if sync.sem != c.sem || sync.http != c.http {
		t.Fatal("WithDetached must share the pool and the concurrency limit")
	}
	for _, tc := range []struct {
		c     *Client
		query string
	}{{sync, "__detached=false"}, {c, "__detached=true"}, {sync.WithDetached(true), "__detached=true"}} {
		_, _ = tc.c.Undeploy(context.Background(), "orders")
		if r, _ := rec.last(t); r.URL.RawQuery != tc.query {
			t.Errorf("query %q, want %q", r.URL.RawQuery, tc.query)
		}
	}
}

func TestEmptyNameIsRefusedBeforeSending(t *testing.T) {
	srv, rec := cannedServer(t, wire{204, nil, ""})
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	_, err1 := c.GetApplication(ctx, "")
	_, err2 := c.Undeploy(ctx, "")
	_, err3 := c.Deploy(ctx, ApplicationSpec{})
	_, err4 := c.Redeploy(ctx, ApplicationSpec{DeploymentPath: "/x"})
	for _, err := range []error{err1, err2, err3, err4} {
		if !isA[*InvalidRequestError](err) || StatusCode(err) != 0 || IsRetryable(err) {
			t.Errorf("got %T %v", err, err)
		}
	}
	if rec.count() != 0 {
		t.Fatalf("%d requests sent", rec.count())
	}
}

func TestGetJob(t *testing.T) {
	cases := []struct {
		name   string
		w      wire
		status string
		failed bool
		errs   []string
		after  time.Duration
		is     func(error) bool
	}{
		{name: "in progress with Retry-After", w: wire{200, map[string]string{"Retry-After": "2"}, `{"item":` + jobInProgress + `}`},
			status: JobInProgress, after: 2 * time.Second},
		{name: "failed with target errors, numeric id",
			w: wire{200, nil, `{"item":{"id":17,"status":"FAILED","beginTime":"5","targets":[` +
				`{"name":"cluster1","status":"failed","errors":["disk full",{"message":"class not found"}]}]}}`},
			status: JobFailed, failed: true, errs: []string{"cluster1: disk full", "cluster1: class not found"}},
		{name: "bare job without envelope", w: wire{200, nil, `{"id":"1","status":"completed"}`}, status: JobCompleted},
		{name: "missing status", w: wire{200, nil, `{"item":{"id":"1"}}`}, is: isA[*ProtocolError]},
		{name: "unknown status", w: wire{200, nil, `{"item":{"id":"1","status":"weird"}}`}, is: isA[*ProtocolError]},
		{name: "invalid JSON", w: wire{200, nil, `{"item":`}, is: isA[*ProtocolError]},
		{name: "expired job", w: wire{404, nil, ""}, is: isA[*NotFoundError]},
		{name: "throttled", w: wire{429, map[string]string{"Retry-After": "5"}, ""}, is: isA[*ThrottledError], after: 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := cannedServer(t, tc.w)
			c := newTestClient(t, srv.URL)
			js, err := c.GetJob(context.Background(), srv.URL+testBase+"jobs/deployment/id/17")
			if tc.is != nil {
				if !tc.is(err) || RetryAfter(err) != tc.after {
					t.Fatalf("got %T %v (retry after %v)", err, err, RetryAfter(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if js.Job.Status != tc.status || js.Job.Failed() != tc.failed || js.Job.Done() != (tc.status != JobInProgress) {
				t.Errorf("job %+v", js.Job)
			}
			if !reflect.DeepEqual(js.Job.ErrorMessages(), tc.errs) {
				t.Errorf("ErrorMessages %q, want %q", js.Job.ErrorMessages(), tc.errs)
			}
			if js.RetryAfter != tc.after || js.StatusCode != 200 {
				t.Errorf("RetryAfter %v code %d", js.RetryAfter, js.StatusCode)
			}
			if r, _ := rec.last(t); r.Header.Get("Authorization") == "" {
				t.Error("same-origin job poll without credentials")
			}
		})
	}
}

func TestGetJobRefusesBadURLs(t *testing.T) {
	srv, rec := cannedServer(t, wire{200, nil, `{"item":` + jobInProgress + `}`})
	c := newTestClient(t, srv.URL)
	for _, u := range []string{"/relative/jobs/1", "ftp://host/x", "::", ""} {
		if _, err := c.GetJob(context.Background(), u); !isA[*InvalidRequestError](err) {
			t.Errorf("%q: got %T %v", u, err, err)
		}
	}
	// User info in a job URL is dropped, never sent as Basic credentials.
	withUser := strings.Replace(srv.URL, "http://", "http://mallory:pw@", 1) + testBase + "jobs/deployment/id/1#frag"
	if _, err := c.GetJob(context.Background(), withUser); err != nil {
		t.Fatal(err)
	}
	if r, _ := rec.last(t); r.Header.Get("Authorization") != c.auth {
		t.Errorf("Authorization %q was not the client's own", r.Header.Get("Authorization"))
	}
	anonymous := newTestClient(t, srv.URL, func(c *Config) { c.Credentials = Credentials{} })
	if _, err := anonymous.GetJob(context.Background(), withUser); err != nil {
		t.Fatal(err)
	}
	if r, _ := rec.last(t); r.Header.Get("Authorization") != "" {
		t.Errorf("user info from a job URL was sent: %q", r.Header.Get("Authorization"))
	}
}

func TestListsAndProbe(t *testing.T) {
	ctx := context.Background()
	srv, _ := cannedServer(t, wire{200, nil, `{"items":[` + appOrders + `,{"name":"b"}]}`})
	apps, err := newTestClient(t, srv.URL).ListApplications(ctx)
	if err != nil || len(apps) != 2 || apps[0].Properties["poolSize"] != "20" || apps[0].State != StateActive {
		t.Fatalf("apps %+v err %v", apps, err)
	}
	srv2, _ := cannedServer(t, wire{200, nil, `[` + jobInProgress + `,{"id":"2","status":"paused"},{"id":"3"}]`})
	jobs, err := newTestClient(t, srv2.URL).ListJobs(ctx)
	if err != nil || len(jobs) != 3 || jobs[0].Status != JobInProgress || jobs[1].Status != "paused" {
		t.Fatalf("jobs %+v err %v", jobs, err)
	}
	srv3, _ := cannedServer(t, wire{200, nil, `{"items":[1]}`})
	if _, err := newTestClient(t, srv3.URL).ListApplications(ctx); !isA[*ProtocolError](err) {
		t.Fatalf("got %T %v", err, err)
	}
	probes := []struct {
		w  wire
		is func(error) bool
	}{
		{wire{200, nil, `{"items":[]}`}, nil},
		{wire{200, nil, `<html>Sign in</html>`}, isA[*ProtocolError]},
		{wire{404, nil, ""}, isA[*NotFoundError]},
		{wire{401, nil, ""}, isA[*UnauthorizedError]},
	}
	for _, p := range probes {
		s, _ := cannedServer(t, p.w)
		err := newTestClient(t, s.URL).Probe(ctx)
		if (p.is == nil) != (err == nil) || (p.is != nil && !p.is(err)) {
			t.Errorf("%d %q: got %T %v", p.w.code, p.w.body, err, err)
		}
	}
}

func TestJobURLAndBaseURL(t *testing.T) {
	c := newTestClient(t, "https://db.example:7002", func(c *Config) { c.BaseURL = "https://db.example:7002/mgmt" })
	if got := c.BaseURL().String(); got != "https://db.example:7002/mgmt/" {
		t.Errorf("BaseURL %q", got)
	}
	c.BaseURL().Path = "/changed" // a copy: the client must not change
	if got := c.JobURL("a/1"); got != "https://db.example:7002/mgmt/jobs/deployment/id/a%2F1" {
		t.Errorf("JobURL %q", got)
	}
}

func TestJSONTags(t *testing.T) {
	b, _ := json.Marshal(ApplicationSpec{Name: "x"})
	if string(b) != `{"name":"x"}` {
		t.Errorf("spec %s", b)
	}
	var app Application
	if err := json.Unmarshal([]byte(appOrders), &app); err != nil || app.DeploymentPath != "/apps/orders-1.4.2.war" || app.Version != "1.4.2" {
		t.Errorf("app %+v %v", app, err)
	}
}

// TestCreatedLocation keeps a 201's Location as the application's URL
// when it is on the base origin, and drops it otherwise.
func TestCreatedLocation(t *testing.T) {
	appPath := testBase + "deployments/application/id/orders"
	cases := []struct {
		name     string
		location func(srvURL string) string
		want     func(srvURL string) string
	}{
		{"absolute on the base origin", func(u string) string { return u + appPath }, func(u string) string { return u + appPath }},
		{"relative", func(string) string { return "application/id/orders" }, func(u string) string { return u + appPath }},
		{"another origin", func(string) string { return "http://elsewhere.invalid" + appPath }, func(string) string { return "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var srvURL string // set before the first request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", tc.location(srvURL))
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"item":{"name":"orders","state":"STATE_ACTIVE"}}`))
			}))
			t.Cleanup(srv.Close)
			srvURL = srv.URL
			c := newTestClient(t, srvURL)
			res, err := c.Deploy(context.Background(), ordersSpec)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.ApplicationURL; got != tc.want(srvURL) {
				t.Errorf("ApplicationURL = %q, want %q", got, tc.want(srvURL))
			}
		})
	}
}
