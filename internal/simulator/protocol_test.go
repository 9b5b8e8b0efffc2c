package simulator

import (
	"net/http"
	"strings"
	"testing"
)

func TestProtocolErrors(t *testing.T) {
	users := map[string]User{
		"admin":  {Password: "admin", Token: "admin-token"},
		"reader": {Password: "reader", ReadOnly: true},
		"robot":  {Token: "robot-token"},
	}
	tests := []struct {
		name     string
		method   string
		path     string
		body     any
		opts     []reqOption
		want     int
		wantMsg  string // substring of the first message; "" skips
		wantHdrs map[string]string
	}{
		{name: "no credentials", method: "GET", path: "deployments/application", opts: []reqOption{withoutHeader("Authorization")},
			want: 401, wantMsg: "credentials", wantHdrs: map[string]string{"WWW-Authenticate": `Basic realm="dbrest-sim"`}},
		{name: "wrong password", method: "GET", path: "deployments/application", opts: []reqOption{withBasic("admin", "nope")}, want: 401},
		{name: "unknown user", method: "GET", path: "deployments/application", opts: []reqOption{withBasic("ghost", "admin")}, want: 401},
		{name: "token user has no password", method: "GET", path: "deployments/application", opts: []reqOption{withBasic("robot", "")}, want: 401},
		{name: "wrong token", method: "GET", path: "deployments/application", opts: []reqOption{withBearer("nope")}, want: 401},
		{name: "bearer token", method: "GET", path: "deployments/application", opts: []reqOption{withBearer("robot-token")}, want: 200},
		{name: "read-only GET", method: "GET", path: "deployments/application", opts: []reqOption{withBasic("reader", "reader")}, want: 200},
		{name: "read-only deploy", method: "POST", path: "deployments/application", body: deployBody("a"), opts: []reqOption{withBasic("reader", "reader")},
			want: 403, wantMsg: "read-only"},
		{name: "read-only undeploy", method: "DELETE", path: "deployments/application/id/a", opts: []reqOption{withBasic("reader", "reader")}, want: 403},
		{name: "unknown path under base", method: "GET", path: "deployments/nothing", want: 404, wantMsg: "no such resource"},
		{name: "path outside base needs no auth", method: "GET", path: "/other/deployments/application", opts: []reqOption{withoutHeader("Authorization")}, want: 404},
		{name: "job id with extra segment", method: "GET", path: "jobs/deployment/id/1/x", want: 404},
		{name: "unknown application", method: "GET", path: "deployments/application/id/missing", want: 404, wantMsg: "missing not found"},
		{name: "unknown job", method: "GET", path: "jobs/deployment/id/999", want: 404, wantMsg: "unknown or expired"},
		{name: "PUT on collection", method: "PUT", path: "deployments/application", want: 405, wantHdrs: map[string]string{"Allow": "GET, POST"}},
		{name: "GET on redeploy", method: "GET", path: "deployments/application/id/a/redeploy", want: 405, wantHdrs: map[string]string{"Allow": "POST"}},
		{name: "DELETE on job", method: "DELETE", path: "jobs/deployment/id/1", want: 405},
		{name: "Accept xml", method: "GET", path: "deployments/application", opts: []reqOption{withHeader("Accept", "application/xml")}, want: 406},
		{name: "Accept json refused by q=0", method: "GET", path: "deployments/application", opts: []reqOption{withHeader("Accept", "application/json;q=0, text/html")}, want: 406},
		{name: "Accept absent", method: "GET", path: "deployments/application", opts: []reqOption{withoutHeader("Accept")}, want: 200},
		{name: "Accept wildcard", method: "GET", path: "deployments/application", opts: []reqOption{withHeader("Accept", "text/html, */*;q=0.1")}, want: 200},
		{name: "Accept json with charset", method: "GET", path: "deployments/application", opts: []reqOption{withHeader("Accept", "application/json; charset=utf-8")}, want: 200},
		{name: "form body", method: "POST", path: "deployments/application", body: "name=a", opts: []reqOption{withHeader("Content-Type", "application/x-www-form-urlencoded")}, want: 415},
		{name: "body without Content-Type", method: "POST", path: "deployments/application", body: deployBody("a"), opts: []reqOption{withoutHeader("Content-Type")}, want: 415},
		{name: "json with charset is fine", method: "POST", path: "deployments/application", body: deployBody("a"), opts: []reqOption{withHeader("Content-Type", "application/json; charset=utf-8")}, want: 201},
		{name: "POST without X-Requested-By", method: "POST", path: "deployments/application", body: deployBody("a"), opts: []reqOption{withoutHeader("X-Requested-By")},
			want: 400, wantMsg: "X-Requested-By"},
		{name: "DELETE without X-Requested-By", method: "DELETE", path: "deployments/application/id/a", opts: []reqOption{withoutHeader("X-Requested-By")}, want: 400, wantMsg: "X-Requested-By"},
		{name: "invalid JSON", method: "POST", path: "deployments/application", body: `{"name":`, want: 400, wantMsg: "invalid JSON"},
		{name: "empty body", method: "POST", path: "deployments/application", want: 400, wantMsg: "invalid JSON"},
		{name: "missing name", method: "POST", path: "deployments/application", body: map[string]any{"deploymentPath": "/x.war", "targets": []string{"c"}}, want: 400, wantMsg: "name is required"},
		{name: "name with control character", method: "POST", path: "deployments/application", body: map[string]any{"name": "a\nb", "deploymentPath": "/x.war", "targets": []string{"c"}}, want: 400, wantMsg: "control"},
		{name: "missing deploymentPath", method: "POST", path: "deployments/application", body: map[string]any{"name": "a", "targets": []string{"c"}}, want: 400, wantMsg: "deploymentPath is required"},
		{name: "empty targets", method: "POST", path: "deployments/application", body: map[string]any{"name": "a", "deploymentPath": "/x.war", "targets": []string{}}, want: 400, wantMsg: "at least one target"},
		{name: "missing targets", method: "POST", path: "deployments/application", body: map[string]any{"name": "a", "deploymentPath": "/x.war"}, want: 400, wantMsg: "targets is required"},
		{name: "bad __detached", method: "POST", path: "deployments/application?__detached=maybe", body: deployBody("a"), want: 400, wantMsg: "__detached"},
		{name: "redeploy name mismatch", method: "POST", path: "deployments/application/id/a/redeploy", body: map[string]any{"name": "b"}, want: 400, wantMsg: "does not match"},
		{name: "redeploy without name", method: "POST", path: "deployments/application/id/a/redeploy", body: map[string]any{"version": "2"}, want: 400, wantMsg: "name is required"},
		{name: "redeploy empty targets", method: "POST", path: "deployments/application/id/a/redeploy", body: map[string]any{"name": "a", "targets": []string{}}, want: 400, wantMsg: "at least one target"},
		{name: "redeploy unknown", method: "POST", path: "deployments/application/id/zzz/redeploy", body: map[string]any{"name": "zzz"}, want: 404},
		{name: "undeploy unknown", method: "DELETE", path: "deployments/application/id/zzz", want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Users: users})
			rec := h.do(tt.method, tt.path, tt.body, tt.opts...)
			expectCode(t, rec, tt.want)
			if tt.want >= 400 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				m := firstMessage(t, rec)
				if m.Severity != "FAILURE" || !strings.Contains(m.Message, tt.wantMsg) {
					t.Errorf("message %+v, want FAILURE containing %q", m, tt.wantMsg)
				}
			}
			for k, v := range tt.wantHdrs {
				if got := rec.Header().Values(k); len(got) == 0 || got[0] != v {
					t.Errorf("%s = %q, want %q first", k, got, v)
				}
			}
		})
	}
}

func TestUnauthorizedOffersBothSchemes(t *testing.T) {
	h := newHarness(t, Options{})
	rec := h.do("GET", "deployments/application", nil, withoutHeader("Authorization"))
	got := strings.Join(rec.Header().Values("WWW-Authenticate"), "; ")
	if !strings.Contains(got, "Basic") || !strings.Contains(got, "Bearer") {
		t.Fatalf("WWW-Authenticate %q, want Basic and Bearer challenges", got)
	}
	if rec := h.do("GET", "deployments/application", nil, withBearer("admin-token")); rec.Code != http.StatusOK {
		t.Fatalf("default token: status %d", rec.Code)
	}
}

func TestRequestCounters(t *testing.T) {
	h := newHarness(t, Options{})
	h.do("GET", "deployments/application", nil)
	h.do("GET", "deployments/application/id/x", nil)
	h.do("PUT", "deployments/application", nil)
	h.do("GET", "/elsewhere", nil)
	h.deployDetached("a")
	st := h.sim.Stats()
	wantReq := map[string]int{"GET 200": 1, "GET 404": 2, "PUT 405": 1, "POST 202": 1}
	for k, v := range wantReq {
		if st.Requests[k] != v {
			t.Errorf("Requests[%q] = %d, want %d (all: %v)", k, st.Requests[k], v, st.Requests)
		}
	}
	wantOp := map[string]int{"listApps": 1, "getApp": 1, "other": 2, "deploy": 1}
	for k, v := range wantOp {
		if st.RequestsByOp[k] != v {
			t.Errorf("RequestsByOp[%q] = %d, want %d (all: %v)", k, st.RequestsByOp[k], v, st.RequestsByOp)
		}
	}
}
