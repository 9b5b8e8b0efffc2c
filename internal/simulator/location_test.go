package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRelativeRef(t *testing.T) {
	tests := []struct{ from, to, want string }{
		{"/m/w/l/deployments/application", "/m/w/l/jobs/deployment/id/17", "../jobs/deployment/id/17"},
		{"/m/w/l/deployments/application/", "/m/w/l/jobs/deployment/id/17", "../../jobs/deployment/id/17"},
		{"/m/w/l/deployments/application/id/a/redeploy", "/m/w/l/jobs/deployment/id/17", "../../../../jobs/deployment/id/17"},
		{"/m/w/l/deployments/application/id/a", "/m/w/l/jobs/deployment/id/17", "../../../jobs/deployment/id/17"},
		{"/m/w/l/deployments/application", "/m/w/l/deployments/application/id/a", "application/id/a"},
		{"/a//b", "/a/x", "../x"},
		{"/", "/jobs/1", "jobs/1"},
		{"/x/y", "/x/a:b", "./a:b"},
	}
	for _, tt := range tests {
		got := relativeRef(tt.from, tt.to)
		if got != tt.want {
			t.Errorf("relativeRef(%q, %q) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
		base, _ := url.Parse("http://h" + tt.from)
		ref, _ := url.Parse(got)
		if res := base.ResolveReference(ref).EscapedPath(); res != tt.to {
			t.Errorf("resolving %q against %q gives %q, want %q", got, tt.from, res, tt.to)
		}
	}
}

// TestLocationStyles sends each mutating call to a real server, resolves
// the Location header and links[] against the request URL as a client
// must, and follows them to the job.
func TestLocationStyles(t *testing.T) {
	styles := []LocationStyle{LocationAbsolute, LocationRelative, LocationBodyOnly}
	for _, style := range styles {
		for _, useTLS := range []bool{false, true} {
			name := string(style)
			if useTLS {
				name += "/tls"
			}
			t.Run(name, func(t *testing.T) {
				sim := New(Options{Location: style})
				defer sim.Close()
				srv := httptest.NewUnstartedServer(sim.Handler())
				if useTLS {
					srv.StartTLS()
				} else {
					srv.Start()
				}
				defer srv.Close()
				base := srv.URL + sim.BasePath()
				client := srv.Client()

				calls := []struct{ method, path, body string }{
					{"POST", "deployments/application?__detached=true", `{"name":"a","deploymentPath":"/a.war","targets":["c1"]}`},
					{"POST", "deployments/application/id/a/redeploy?__detached=true", `{"name":"a","version":"2"}`},
					{"POST", "deployments/application/id/a/redeploy/?__detached=true", `{"name":"a","version":"3"}`},
					{"DELETE", "deployments/application/id/a?__detached=true", ""},
				}
				for _, c := range calls {
					reqURL := base + c.path
					resp := send(t, client, c.method, reqURL, c.body)
					if resp.code != http.StatusAccepted {
						t.Fatalf("%s %s: %d %s", c.method, c.path, resp.code, resp.body)
					}
					var body envelope[Job]
					if err := json.Unmarshal(resp.body, &body); err != nil {
						t.Fatal(err)
					}
					wantJob := base + "jobs/deployment/id/" + body.Item.ID
					if len(body.Links) != 1 || body.Links[0].Rel != "job" {
						t.Fatalf("links %+v", body.Links)
					}
					targets := []string{body.Links[0].URI}
					switch loc := resp.header.Get("Location"); {
					case style == LocationBodyOnly && loc != "":
						t.Fatalf("body-only style sent Location %q", loc)
					case style != LocationBodyOnly:
						targets = append(targets, loc)
					}
					for _, ref := range targets {
						if style == LocationRelative && strings.HasPrefix(ref, "http") {
							t.Errorf("relative style sent absolute %q", ref)
						}
						got := resolve(t, reqURL, ref)
						if got != wantJob {
							t.Fatalf("%q resolved against %q is %q, want %q", ref, reqURL, got, wantJob)
						}
						if r := send(t, client, "GET", got, ""); r.code != http.StatusOK {
							t.Fatalf("GET %s: %d", got, r.code)
						}
					}
				}
			})
		}
	}
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	u := b.ResolveReference(r)
	u.RawQuery = ""
	return u.String()
}

type sent struct {
	code   int
	header http.Header
	body   []byte
}

// send makes one well-formed API call as admin.
func send(t *testing.T, c *http.Client, method, u, body string) sent {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Requested-By", "test")
	req.SetBasicAuth("admin", "admin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sent{code: resp.StatusCode, header: resp.Header, body: b}
}
