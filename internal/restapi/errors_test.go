package restapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorClasses(t *testing.T) {
	jsonMsg := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name      string
		w         wire
		is        func(error) bool
		retryable bool
		after     time.Duration
		wantMsg   string // substring of Error(); "" for none expected
		noMsgs    bool
	}{
		{"400 JSON messages", wire{400, jsonMsg, `{"messages":[{"message":"application orders is already deployed","severity":"FAILURE"},{"message":"second","severity":"FAILURE"}]}`},
			isA[*InvalidRequestError], false, 0, "HTTP 400 Bad Request: application orders is already deployed; second", false},
		{"401 empty body", wire{401, nil, ""}, isA[*UnauthorizedError], false, 0, "HTTP 401 Unauthorized", true},
		{"403", wire{403, jsonMsg, `{"messages":[{"message":"read-only account","severity":"FAILURE"}]}`},
			isA[*ForbiddenError], false, 0, "read-only account", false},
		{"404", wire{404, jsonMsg, `{"messages":[{"message":"no such application","severity":"FAILURE"}]}`},
			isA[*NotFoundError], false, 0, "HTTP 404 Not Found: no such application", false},
		{"405", wire{405, map[string]string{"Allow": "GET"}, ""}, isA[*ProtocolMismatchError], false, 0, "HTTP 405 Method Not Allowed", true},
		{"406", wire{406, nil, "not acceptable"}, isA[*ProtocolMismatchError], false, 0, "not acceptable", false},
		{"415", wire{415, nil, ""}, isA[*ProtocolMismatchError], false, 0, "HTTP 415 Unsupported Media Type", true},
		{"429 seconds", wire{429, map[string]string{"Retry-After": "7"}, ""}, isA[*ThrottledError], true, 7 * time.Second, "HTTP 429 Too Many Requests", true},
		{"500 text/plain", wire{500, map[string]string{"Content-Type": "text/plain"}, "boom:\n  null pointer\tin deployer\n"},
			isA[*ServerError], true, 0, "HTTP 500 Internal Server Error: boom: null pointer in deployer", false},
		{"502 HTML from a proxy", wire{502, map[string]string{"Content-Type": "text/html"},
			"<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head><body><h1>502 Bad Gateway</h1><hr>nginx &amp; co</body></html>"},
			isA[*UnexpectedStatusError], true, 0, "HTTP 502 Bad Gateway: 502 Bad Gateway 502 Bad Gateway nginx & co", false},
		{"503 date", wire{503, map[string]string{"Retry-After": time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}, ""},
			isA[*UnavailableError], true, 0, "HTTP 503 Service Unavailable", true},
		{"503 invalid Retry-After", wire{503, map[string]string{"Retry-After": "soon"}, ""}, isA[*UnavailableError], true, 0, "", true},
		{"418 other", wire{418, nil, ""}, isA[*UnexpectedStatusError], false, 0, "HTTP 418 I'm a teapot", true},
		{"599 unknown 5xx", wire{599, nil, ""}, isA[*UnexpectedStatusError], true, 0, "HTTP 599 Unknown Status", true},
		{"301 redirect not followed", wire{301, map[string]string{"Location": "https://u:pw@elsewhere.example/login?token=x"}, ""},
			isA[*UnexpectedStatusError], false, 0, "redirect to https://elsewhere.example/login not followed", true},
		{"200 with HTML is a protocol error", wire{200, nil, "<html>login</html>"}, isA[*ProtocolError], false, 0, "protocol error", false},
		{"200 without item", wire{200, jsonMsg, `{"items":[]}`}, isA[*ProtocolError], false, 0, "without an application item", true},
		{"204 on a GET", wire{204, nil, ""}, isA[*UnexpectedStatusError], false, 0, "HTTP 204 No Content", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := cannedServer(t, tc.w)
			c := newTestClient(t, srv.URL)
			_, err := c.GetApplication(context.Background(), "orders")
			if err == nil || !tc.is(err) {
				t.Fatalf("got %T %v", err, err)
			}
			msg := err.Error()
			prefix := "getApp GET " + testBase + "deployments/application/id/orders"
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tc.wantMsg)
			}
			if got := IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tc.retryable)
			}
			if tc.w.code != 200 && StatusCode(err) != tc.w.code {
				t.Errorf("StatusCode = %d, want %d", StatusCode(err), tc.w.code)
			}
			if tc.after != 0 && RetryAfter(err) != tc.after {
				t.Errorf("RetryAfter = %v, want %v", RetryAfter(err), tc.after)
			}
			var ae APIError
			if !errors.As(err, &ae) {
				t.Fatal("not an APIError")
			}
			if tc.noMsgs && len(ae.ServerMessages()) != 0 {
				t.Errorf("messages %q, want none", ae.ServerMessages())
			}
			noSecrets(t, "error", msg)
		})
	}
}

func TestRetryAfterDateOn503(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	srv, _ := cannedServer(t, wire{503, map[string]string{"Retry-After": at}, ""})
	_, err := newTestClient(t, srv.URL).ListApplications(context.Background())
	if d := RetryAfter(err); d < 80*time.Second || d > 91*time.Second {
		t.Fatalf("RetryAfter = %v, want about 90s", d)
	}
}

func TestErrorBodyOverCapStaysClassified(t *testing.T) {
	huge := strings.Repeat("x", 3<<20)
	srv, _ := cannedServer(t, wire{500, nil, huge})
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	_, err := c.ListJobs(context.Background())
	if !isA[*ServerError](err) {
		t.Fatalf("got %T %v", err, err)
	}
	var ae APIError
	if !errors.As(err, &ae) {
		t.Fatal("not an APIError")
	}
	msgs := ae.ServerMessages()
	if len(msgs) != 1 || len([]rune(msgs[0])) > maxMessageRunes+1 {
		t.Fatalf("messages not capped: %d runes", len([]rune(msgs[0])))
	}
}

func TestSuccessBodyOverCapIsProtocolError(t *testing.T) {
	big := `{"items":[` + strings.Repeat(appOrders+",", 2000) + appOrders + `]}`
	srv, _ := cannedServer(t, wire{200, nil, big})
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxBodyBytes = 4 << 10 })
	if _, err := c.ListApplications(context.Background()); !isA[*ProtocolError](err) || !strings.Contains(err.Error(), "exceeds 4096 bytes") {
		t.Fatalf("got %T %v", err, err)
	}
	// Probe accepts a truncated JSON list: the endpoint speaks JSON.
	if err := c.Probe(context.Background()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
}

func TestZeroValueErrorsClassify(t *testing.T) {
	// Fakes in controller tests build errors by hand; the class alone must
	// decide retryability.
	cases := []struct {
		err       error
		retryable bool
	}{
		{&InvalidRequestError{}, false}, {&UnauthorizedError{}, false}, {&ForbiddenError{}, false},
		{&NotFoundError{}, false}, {&ProtocolMismatchError{}, false}, {&ThrottledError{}, true},
		{&ServerError{}, true}, {&UnavailableError{}, true}, {&TransportError{}, true},
		{&ProtocolError{}, false}, {&OriginError{}, false},
		{&UnexpectedStatusError{StatusError: StatusError{Code: 502}}, true},
		{&UnexpectedStatusError{StatusError: StatusError{Code: 302}}, false},
		{context.Canceled, false},
	}
	for _, tc := range cases {
		if got := IsRetryable(tc.err); got != tc.retryable {
			t.Errorf("IsRetryable(%T) = %v, want %v", tc.err, got, tc.retryable)
		}
	}
	if !(&TransportError{Mutating: true}).OutcomeUnknown() {
		t.Error("a mutating transport error must leave the outcome unknown")
	}
	if (&TransportError{Mutating: true, NotSent: true}).OutcomeUnknown() {
		t.Error("a request that was never sent has a known outcome")
	}
}
