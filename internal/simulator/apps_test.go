package simulator

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestSyncDeploy(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		app       string
		wantCode  int
		wantState string
		wantMsg   string
	}{
		{name: "201 with Location", app: "orders", wantCode: 201, wantState: StateActive},
		{name: "200 with messages", opts: Options{SyncCreateCode: 200}, app: "orders", wantCode: 200, wantState: StateActive, wantMsg: "Deployed the application 'orders'."},
		{name: "200 failing app", opts: Options{SyncCreateCode: 200, FailAppPattern: regexp.MustCompile("^bad")}, app: "bad-app", wantCode: 200, wantState: StateFailed, wantMsg: "Failed to deploy the application 'bad-app'."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			rec := h.do("POST", "deployments/application?__detached=false", deployBody(tt.app))
			expectCode(t, rec, tt.wantCode)
			e := decodeEnvelope[Application](t, rec)
			if e.Item.Name != tt.app || e.Item.State != tt.wantState || e.Item.Properties["poolSize"] != "20" {
				t.Errorf("item %+v, want %s in %s", e.Item, tt.app, tt.wantState)
			}
			if tt.wantCode == 201 {
				want := "http://example.com" + DefaultBasePath + "deployments/application/id/" + tt.app
				if loc := rec.Header().Get("Location"); loc != want {
					t.Errorf("Location %q, want %q", loc, want)
				}
			}
			if tt.wantMsg != "" && (len(e.Messages) != 1 || e.Messages[0].Message != tt.wantMsg) {
				t.Errorf("messages %+v, want %q", e.Messages, tt.wantMsg)
			}
			if got, ok := h.sim.Application(tt.app); !ok || got.State != tt.wantState {
				t.Errorf("stored %+v, %v", got, ok)
			}
			if st := h.sim.Stats(); st.DeploysAccepted[tt.app] != 1 || st.MaxConcurrentMutating[tt.app] != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		query    string
		wantCode int
		goneNow  bool
	}{
		{name: "sync 200", query: "", wantCode: 200, goneNow: true},
		{name: "sync 204", opts: Options{DeleteCode: 204}, query: "?__detached=false", wantCode: 204, goneNow: true},
		{name: "detached 202", query: "?__detached=true", wantCode: 202},
		{name: "AlwaysAccept 202", opts: Options{AlwaysAccept: true}, query: "?__detached=false", wantCode: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			wantDeploy := http.StatusCreated
			if tt.opts.AlwaysAccept {
				wantDeploy = http.StatusAccepted
			}
			expectCode(t, h.do("POST", "deployments/application", deployBody("a")), wantDeploy)
			h.clock.Advance(time.Second) // let a deploy job finish
			rec := h.do("DELETE", "deployments/application/id/a"+tt.query, nil)
			expectCode(t, rec, tt.wantCode)
			switch tt.wantCode {
			case 200:
				if m := firstMessage(t, rec); m.Severity != "SUCCESS" {
					t.Errorf("message %+v", m)
				}
			case 204:
				if rec.Body.Len() != 0 {
					t.Errorf("204 with body %q", rec.Body.String())
				}
			case 202:
				job := decodeItem[Job](t, rec)
				if job.Operation != OpRemove || job.Status != JobInProgress {
					t.Errorf("job %+v", job)
				}
				if _, ok := h.sim.Application("a"); !ok {
					t.Fatal("application removed before its job finished")
				}
				h.clock.Advance(time.Second)
				if j := decodeItem[Job](t, h.getJob(job.ID)); j.Status != JobCompleted {
					t.Errorf("remove job %+v", j)
				}
			}
			if _, ok := h.sim.Application("a"); ok {
				t.Error("application still stored")
			}
			expectCode(t, h.do("DELETE", "deployments/application/id/a", nil), 404)
		})
	}
}

func TestAlwaysAcceptDeploy(t *testing.T) {
	h := newHarness(t, Options{AlwaysAccept: true})
	rec := h.do("POST", "deployments/application?__detached=false", deployBody("a"))
	expectCode(t, rec, http.StatusAccepted)
	if job := decodeItem[Job](t, rec); job.Operation != OpDeploy || job.Status != JobInProgress {
		t.Fatalf("job %+v", job)
	}
	if app, _ := h.sim.Application("a"); app.State != StateNew {
		t.Fatalf("state %s, want %s", app.State, StateNew)
	}
}

func TestDuplicateDeploy(t *testing.T) {
	h := newHarness(t, Options{})
	h.deployDetached("a") // STATE_NEW already counts as deployed
	for range 2 {
		rec := h.do("POST", "deployments/application?__detached=true", deployBody("a"))
		expectCode(t, rec, http.StatusBadRequest)
		if m := firstMessage(t, rec); m.Message != "application a is already deployed" {
			t.Fatalf("message %q", m.Message)
		}
	}
	st := h.sim.Stats()
	if st.DuplicateDeploys != 2 || st.DuplicateDeploysByApp["a"] != 2 || st.DeploysAccepted["a"] != 1 {
		t.Fatalf("stats: duplicates %d %v, accepted %v", st.DuplicateDeploys, st.DuplicateDeploysByApp, st.DeploysAccepted)
	}
}

func TestRedeploy(t *testing.T) {
	h := newHarness(t, Options{})
	h.deployDetached("a")
	h.clock.Advance(time.Hour)
	body := map[string]any{"name": "a", "deploymentPath": "/apps/a-2.war", "version": "2.0"}
	rec := h.do("POST", "deployments/application/id/a/redeploy?__detached=true", body)
	expectCode(t, rec, http.StatusAccepted)
	job := decodeItem[Job](t, rec)
	app, _ := h.sim.Application("a")
	if job.Operation != OpRedeploy || app.State != StateNew || app.DeploymentPath != "/apps/a-2.war" ||
		app.Version != "2.0" || app.Targets[0] != "cluster1" || app.Properties["poolSize"] != "20" {
		t.Fatalf("job %+v app %+v", job, app)
	}
	h.clock.Advance(time.Second)
	if app, _ := h.sim.Application("a"); app.State != StateActive {
		t.Fatalf("state after job %s", app.State)
	}

	rec = h.do("POST", "deployments/application/id/a/redeploy", map[string]any{"name": "a", "version": "3.0"})
	expectCode(t, rec, http.StatusOK)
	e := decodeEnvelope[Application](t, rec)
	if e.Item.Version != "3.0" || e.Item.State != StateActive || e.Messages[0].Severity != "SUCCESS" {
		t.Fatalf("sync redeploy %+v", e)
	}
}

func TestRetryAfterStyles(t *testing.T) {
	tests := []struct {
		style RetryAfterStyle
		value time.Duration
		want  func(h *harness) string
	}{
		{style: RetryAfterNone, want: func(*harness) string { return "" }},
		{style: RetryAfterSeconds, value: 1500 * time.Millisecond, want: func(*harness) string { return "2" }},
		{style: RetryAfterDate, value: 3 * time.Second, want: func(h *harness) string {
			return h.clock.Now().Add(3 * time.Second).Format(http.TimeFormat)
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.style), func(t *testing.T) {
			h := newHarness(t, Options{RetryAfter: tt.style, RetryAfterValue: tt.value})
			rec := h.do("POST", "deployments/application?__detached=true", deployBody("a"))
			expectCode(t, rec, http.StatusAccepted)
			if got, want := rec.Header().Get("Retry-After"), tt.want(h); got != want {
				t.Fatalf("Retry-After %q, want %q", got, want)
			}
			if tt.style == RetryAfterDate {
				if _, err := http.ParseTime(rec.Header().Get("Retry-After")); err != nil {
					t.Fatal(err)
				}
			}
			if tt.style == RetryAfterSeconds {
				if _, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestListApplicationsAndJobs(t *testing.T) {
	h := newHarness(t, Options{})
	for _, n := range []string{"c", "a", "b"} {
		h.deployDetached(n)
	}
	var apps itemsBody[Application]
	decodeJSON(t, h.do("GET", "deployments/application", nil), &apps)
	if len(apps.Items) != 3 || apps.Items[0].Name != "a" || apps.Items[2].Name != "c" {
		t.Fatalf("apps %+v", apps.Items)
	}
	h.clock.Advance(time.Second)
	h.deployDetached("d")
	var jobs itemsBody[Job]
	decodeJSON(t, h.do("GET", "jobs/deployment", nil), &jobs)
	if len(jobs.Items) != 4 {
		t.Fatalf("jobs %+v", jobs.Items)
	}
	for i, j := range jobs.Items {
		if j.ID != strconv.Itoa(i+1) {
			t.Errorf("job %d has id %s, want creation order", i, j.ID)
		}
	}
	if jobs.Items[0].Status != JobCompleted || jobs.Items[3].Status != JobInProgress {
		t.Errorf("statuses %s, %s", jobs.Items[0].Status, jobs.Items[3].Status)
	}
}

func TestEscapedApplicationName(t *testing.T) {
	h := newHarness(t, Options{})
	h.deployDetached("my app/v1")
	rec := h.do("GET", "deployments/application/id/my%20app%2Fv1", nil)
	expectCode(t, rec, http.StatusOK)
	if app := decodeItem[Application](t, rec); app.Name != "my app/v1" {
		t.Fatalf("name %q", app.Name)
	}
}
