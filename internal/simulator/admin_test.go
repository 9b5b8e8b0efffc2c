package simulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// admin calls an admin endpoint, without credentials.
func (h *harness) admin(method, path, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.sim.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

func TestAdminEndpoints(t *testing.T) {
	h := newHarness(t, Options{})
	h.deployDetached("a")

	rec := h.admin("GET", "/_sim/stats", "")
	expectCode(t, rec, http.StatusOK)
	var st Stats
	decodeJSON(t, rec, &st)
	if st.Applications != 1 || st.JobsLive != 1 || st.RequestsByOp["deploy"] != 1 || st.Requests["POST 202"] != 1 {
		t.Fatalf("stats %+v", st)
	}

	expectCode(t, h.admin("POST", "/_sim/reset-stats", ""), http.StatusNoContent)
	if st := h.sim.Stats(); len(st.Requests) != 0 || st.Applications != 1 {
		t.Fatalf("after reset %+v", st)
	}

	rec = h.admin("PUT", "/_sim/faults", `{"errorEveryN":1,"errorCode":429,"latency":"1ms"}`)
	expectCode(t, rec, http.StatusOK)
	if f := h.sim.Faults(); f.ErrorEveryN != 1 || f.ErrorCode != 429 || f.Latency != time.Millisecond {
		t.Fatalf("faults %+v", f)
	}
	expectCode(t, h.do("GET", "deployments/application", nil), http.StatusTooManyRequests)
	expectCode(t, h.admin("PUT", "/_sim/faults", `{"errorRate":2}`), http.StatusBadRequest)
	expectCode(t, h.admin("PUT", "/_sim/faults", `{"latency":5}`), http.StatusBadRequest)

	rec = h.admin("PUT", "/_sim/faults", `{"downFor":"10s"}`)
	expectCode(t, rec, http.StatusOK)
	if f := h.sim.Faults(); !f.Down || !f.DownUntil.Equal(h.clock.Now().Add(10*time.Second)) || f.ErrorCode != 500 {
		t.Fatalf("faults %+v", f)
	}
	expectCode(t, h.do("GET", "deployments/application", nil), http.StatusServiceUnavailable)
	expectCode(t, h.admin("PUT", "/_sim/faults", `{}`), http.StatusOK)
	rec = h.admin("GET", "/_sim/faults", "")
	expectCode(t, rec, http.StatusOK)
	var f Faults
	decodeJSON(t, rec, &f)
	if f.Down || f.ErrorCode != 500 {
		t.Fatalf("GET faults %+v", f)
	}

	rec = h.admin("PATCH", "/_sim/apps/a", `{"deploymentPath":"/drifted.war","properties":{"extra":"1"}}`)
	expectCode(t, rec, http.StatusOK)
	app := h.getApp(t, "a")
	if app.DeploymentPath != "/drifted.war" || app.Properties["extra"] != "1" || app.Properties["poolSize"] != "20" || app.Version != "1.0" {
		t.Fatalf("patched app %+v", app)
	}
	expectCode(t, h.admin("PATCH", "/_sim/apps/a", `{"name":"b"}`), http.StatusBadRequest)
	expectCode(t, h.admin("PATCH", "/_sim/apps/a", `{"colour":"red"}`), http.StatusBadRequest)
	expectCode(t, h.admin("PATCH", "/_sim/apps/nope", `{}`), http.StatusNotFound)

	rec = h.admin("GET", "/_sim/apps/a", "")
	expectCode(t, rec, http.StatusOK)
	var got Application
	decodeJSON(t, rec, &got)
	if got.DeploymentPath != "/drifted.war" {
		t.Fatalf("GET admin app %+v", got)
	}

	expectCode(t, h.admin("DELETE", "/_sim/apps/a", ""), http.StatusNoContent)
	expectCode(t, h.admin("DELETE", "/_sim/apps/a", ""), http.StatusNotFound)
	expectCode(t, h.admin("GET", "/_sim/apps/a", ""), http.StatusNotFound)
	expectCode(t, h.do("GET", "deployments/application/id/a", nil), http.StatusNotFound)
}

func (h *harness) getApp(t *testing.T, name string) Application {
	t.Helper()
	rec := h.do("GET", "deployments/application/id/"+name, nil)
	expectCode(t, rec, http.StatusOK)
	return decodeItem[Application](t, rec)
}

func TestOutOfBandChanges(t *testing.T) {
	h := newHarness(t, Options{})
	h.deployDetached("a")
	h.clock.Advance(time.Hour)

	if !h.sim.ChangeApplication("a", func(app *Application) {
		app.DeploymentPath = "/other.war"
		app.Name = "renamed"
	}) {
		t.Fatal("ChangeApplication: not found")
	}
	if app := h.getApp(t, "a"); app.DeploymentPath != "/other.war" || app.Name != "a" {
		t.Fatalf("changed app %+v", app)
	}
	if h.sim.ChangeApplication("missing", func(*Application) {}) {
		t.Fatal("ChangeApplication of a missing app reported true")
	}

	// A copy from Application does not alias the store.
	app, _ := h.sim.Application("a")
	app.Targets[0] = "mutated"
	app.Properties["poolSize"] = "0"
	if again := h.getApp(t, "a"); again.Targets[0] != "cluster1" || again.Properties["poolSize"] != "20" {
		t.Fatalf("store aliased: %+v", again)
	}

	if !h.sim.DeleteApplication("a") || h.sim.DeleteApplication("a") {
		t.Fatal("DeleteApplication results")
	}
	expectCode(t, h.do("GET", "deployments/application/id/a", nil), http.StatusNotFound)
	// Once gone, the name can be deployed again.
	h.deployDetached("a")

	// A job whose application vanished out of band still finishes.
	job := h.deployDetached("b")
	h.sim.DeleteApplication("b")
	h.clock.Advance(time.Second)
	var j envelope[Job]
	if err := json.Unmarshal(h.getJob(job.ID).Body.Bytes(), &j); err != nil || j.Item.Status != JobCompleted {
		t.Fatalf("job %+v %v", j.Item, err)
	}
	if _, ok := h.sim.Application("b"); ok {
		t.Fatal("finished job resurrected b")
	}
}

// TestPutApplication: an application deployed out of band is active at
// once, refuses a second deploy like any other, and is counted by no
// statistic of the API (the operator made no call for it).
func TestPutApplication(t *testing.T) {
	h := newHarness(t, Options{})
	rec := h.admin("PUT", "/_sim/apps/legacy", `{"deploymentPath":"/apps/legacy.war","targets":["cluster1"],"version":"7"}`)
	expectCode(t, rec, http.StatusOK)
	app := h.getApp(t, "legacy")
	if app.State != StateActive || app.DeploymentPath != "/apps/legacy.war" || app.Version != "7" || app.Properties == nil || app.Type != "application" {
		t.Fatalf("put app %+v", app)
	}
	if st := h.sim.Stats(); st.RequestsByOp["deploy"] != 0 || st.Applications != 1 {
		t.Fatalf("stats after an out-of-band deploy %+v", st)
	}
	expectCode(t, h.do("POST", "deployments/application?__detached=true",
		map[string]any{"name": "legacy", "deploymentPath": "/x.war", "targets": []string{"c"}}), http.StatusBadRequest)
	expectCode(t, h.admin("PUT", "/_sim/apps/legacy", `{"name":"other","deploymentPath":"/x.war"}`), http.StatusBadRequest)
	expectCode(t, h.admin("PUT", "/_sim/apps/legacy", `{"targets":["c"]}`), http.StatusBadRequest)
	expectCode(t, h.admin("PUT", "/_sim/apps/legacy", `{"deploymentPath":"/x.war","colour":"red"}`), http.StatusBadRequest)
	h.sim.PutApplication(Application{Name: "legacy", DeploymentPath: "/v8.war", State: StateFailed})
	if app := h.getApp(t, "legacy"); app.DeploymentPath != "/v8.war" || app.State != StateFailed || app.Targets == nil {
		t.Fatalf("replaced app %+v", app)
	}
}
