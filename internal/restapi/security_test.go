package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAuthentication(t *testing.T) {
	cases := []struct {
		name  string
		creds Credentials
		check func(*http.Request) bool
	}{
		{"basic", Credentials{Username: testUser, Password: testPassword}, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == testUser && p == testPassword
		}},
		{"bearer wins over basic", Credentials{Username: testUser, Password: testPassword, Token: testToken}, func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+testToken
		}},
		{"none", Credentials{}, func(r *http.Request) bool { return r.Header.Get("Authorization") == "" }},
		{"header from Headers is replaced by credentials", Credentials{Token: testToken}, func(r *http.Request) bool {
			return r.Header.Get("Authorization") == "Bearer "+testToken
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := cannedServer(t, wire{204, nil, ""})
			c := newTestClient(t, srv.URL, func(c *Config) {
				c.Credentials = tc.creds
				c.Headers = map[string]string{"Authorization": "Basic bm9wZTpub3Bl"}
				if tc.creds == (Credentials{}) {
					c.Headers = nil
				}
			})
			_, _ = c.Undeploy(context.Background(), "orders")
			if r, _ := rec.last(t); !tc.check(r) {
				t.Errorf("Authorization %q", r.Header.Get("Authorization"))
			}
		})
	}
}

func TestCredentialsNeverLeaveTheOrigin(t *testing.T) {
	other, otherRec := cannedServer(t, wire{200, nil, `{"item":` + jobInProgress + `}`})
	cases := []struct {
		name string
		w    wire
		call func(*Client) error
		is   func(error) bool
	}{
		{"202 Location to another host", wire{202, map[string]string{"Location": other.URL + "/jobs/1"}, ""},
			func(c *Client) error { _, err := c.Deploy(context.Background(), ordersSpec); return err }, isA[*OriginError]},
		{"202 body link to another host", wire{202, nil, `{"links":[{"rel":"job","uri":"` + other.URL + `/jobs/1"}]}`},
			func(c *Client) error { _, err := c.Undeploy(context.Background(), "orders"); return err }, isA[*OriginError]},
		{"202 Location to another host at the contract's job path is rebased, not followed",
			wire{202, map[string]string{"Location": other.URL + testBase + "jobs/deployment/id/1"}, ""},
			func(c *Client) error {
				res, err := c.Deploy(context.Background(), ordersSpec)
				if err == nil && (res.IgnoredOrigin != other.URL || strings.HasPrefix(res.JobURL, other.URL)) {
					return fmt.Errorf("result %+v: the link was not rebased", res)
				}
				return err
			}, func(err error) bool { return err == nil }},
		{"307 redirect of a POST", wire{307, map[string]string{"Location": other.URL + "/x"}, ""},
			func(c *Client) error { _, err := c.Deploy(context.Background(), ordersSpec); return err }, isA[*UnexpectedStatusError]},
		{"302 redirect of a GET", wire{302, map[string]string{"Location": other.URL + "/x"}, ""},
			func(c *Client) error { _, err := c.GetApplication(context.Background(), "orders"); return err }, isA[*UnexpectedStatusError]},
		{"job URL on another port", wire{500, nil, ""},
			func(c *Client) error { _, err := c.GetJob(context.Background(), other.URL+"/jobs/1"); return err }, isA[*OriginError]},
		{"job URL with another host name", wire{500, nil, ""},
			func(c *Client) error {
				_, err := c.GetJob(context.Background(), strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/jobs/1")
				return err
			}, isA[*OriginError]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := cannedServer(t, tc.w)
			c := newTestClient(t, srv.URL, func(c *Config) { c.Credentials.Token = testToken })
			err := tc.call(c)
			if !tc.is(err) || IsRetryable(err) {
				t.Fatalf("got %T %v", err, err)
			}
			if err != nil {
				noSecrets(t, "error", err.Error())
			}
			if n := otherRec.count(); n != 0 {
				t.Fatalf("the other origin saw %d requests", n)
			}
		})
	}
	// The OriginError names both origins.
	srv, _ := cannedServer(t, wire{202, map[string]string{"Location": "https://u:" + testPassword + "@Evil.example/jobs/1?k=v"}, ""})
	_, err := newTestClient(t, srv.URL).Deploy(context.Background(), ordersSpec)
	if msg := err.Error(); !strings.Contains(msg, "https://evil.example:443") || !strings.Contains(msg, srv.URL) {
		t.Errorf("message %q", msg)
	}
}

func TestRedaction(t *testing.T) {
	// A server that echoes the request headers back in its error message.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = fmt.Fprintf(w, `{"messages":[{"message":"bad header %s"}]}`, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	creds := Credentials{Username: testUser, Password: testPassword, Token: testToken}
	cfg := Config{BaseURL: echo.URL, Credentials: creds, Headers: map[string]string{"X-Api-Key": testToken}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cBasic := newTestClient(t, echo.URL)
	printed := fmt.Sprintf("%v %+v %#v %s %q %x %v %+v %#v %v %+v %#v %s", creds, creds, creds, creds, creds, creds,
		cfg, cfg, cfg, c, c, c, []any{cfg, &cfg, c})
	noSecrets(t, "fmt", printed)
	if !strings.Contains(printed, testUser) || !strings.Contains(printed, redacted) {
		t.Errorf("printout lost the user name or the redaction marker: %s", printed)
	}
	for _, cl := range []*Client{c, cBasic} {
		_, err1 := cl.GetApplication(context.Background(), "orders")
		_, err2 := cl.Deploy(context.Background(), ordersSpec)
		for _, err := range []error{err1, err2} {
			if !isA[*ServerError](err) {
				t.Fatalf("got %T %v", err, err)
			}
			noSecrets(t, "error", err.Error())
			var ae APIError
			if errors.As(err, &ae) {
				noSecrets(t, "messages", fmt.Sprint(ae.ServerMessages()))
			}
		}
	}
	// New refuses user info in BaseURL without repeating it.
	_, err = New(Config{BaseURL: "https://admin:" + testPassword + "@db.example/"})
	if err == nil {
		t.Fatal("user info accepted")
	}
	noSecrets(t, "New error", err.Error())
	_, err = New(Config{BaseURL: "https://admin:" + testPassword + "@db.example/%zz"})
	if err == nil {
		t.Fatal("invalid URL accepted")
	}
	noSecrets(t, "New error", err.Error())
}
