package restapi

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"5", 5 * time.Second}, {" 120 ", 2 * time.Minute},
		{"3600", time.Hour}, {"86400", time.Hour}, {"99999999999999999999999", time.Hour},
		{"-1", 0}, {"1.5", 0}, {"soon", 0}, {"5s", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseMessages(t *testing.T) {
	long := strings.Repeat("é", 300)
	cases := []struct {
		name     string
		body     string
		fallback bool
		want     []string
	}{
		{"empty", "  \n", true, nil},
		{"messages", `{"messages":[{"message":"a","severity":"FAILURE"},{"message":" b\n c ","severity":"WARNING"},{"severity":"x"}]}`, true, []string{"a", "b c"}},
		{"string messages", `{"messages":["x","y"]}`, true, []string{"x", "y"}},
		{"gateway message", `{"message":"rate limited"}`, true, []string{"rate limited"}},
		{"gateway error object", `{"error":{"message":"nested"}}`, true, []string{"nested"}},
		{"unknown JSON falls back", `{"status":503}`, true, []string{`{"status":503}`}},
		{"unknown JSON without fallback", `{"item":{}}`, false, nil},
		{"empty object", `{}`, true, nil},
		{"plain text", "Service\tUnavailable\r\n", true, []string{"Service Unavailable"}},
		{"plain text without fallback", "oops", false, nil},
		{"html", "<!DOCTYPE html><html><head><script>var a = '<b>';</script></head><body><p>Gateway&nbsp;Timeout</p></body></html>", true, []string{"Gateway Timeout"}},
		{"less-than is text", "a < b and c>d", true, []string{"a < b and c>d"}},
		{"capped", long, true, []string{strings.Repeat("é", maxMessageRunes) + "…"}},
		{"invalid UTF-8", "bad \xff byte", true, []string{"bad \uFFFD byte"}},
		{"too many", `{"messages":["1","2","3","4","5","6","7","8","9","10","11","12"]}`, true, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseMessages([]byte(tc.body), tc.fallback); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJobLinkResolution(t *testing.T) {
	req, _ := url.Parse("https://db:7002/mgmt/latest/deployments/application/id/orders?__detached=true")
	cases := []struct {
		name, location, body, want string
	}{
		{"absolute", "https://db:7002/mgmt/latest/jobs/deployment/id/1", "", "https://db:7002/mgmt/latest/jobs/deployment/id/1"},
		{"relative", "../../../jobs/deployment/id/1", "", "https://db:7002/mgmt/latest/jobs/deployment/id/1"},
		{"same directory", "2", "", "https://db:7002/mgmt/latest/deployments/application/id/2"},
		{"root", "/jobs/1", "", "https://db:7002/jobs/1"},
		{"query kept, fragment and user info dropped", "https://u:p@db:7002/j/1?x=1#f", "", "https://db:7002/j/1?x=1"},
		{"Location wins over body", "/a", `{"links":[{"rel":"job","uri":"/b"}]}`, "https://db:7002/a"},
		{"body only", "", `{"links":[{"rel":"self","uri":"/s"},{"rel":"job","uri":"/b"}]}`, "https://db:7002/b"},
		{"body only, href", "", `{"links":[{"rel":"Job","href":"/h"}]}`, "https://db:7002/h"},
		{"no link", "", `{"links":[{"rel":"self","uri":"/s"}]}`, ""},
		{"invalid body", "", `<html>`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := jobLinkRef(tc.location, []byte(tc.body))
			got := ""
			if ref != "" {
				u, err := resolveRef(req, ref)
				if err != nil {
					t.Fatal(err)
				}
				got = u.String()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"mailto:x@y", "ftp://h/x", "http://", "http://%zz/"} {
		if _, err := resolveRef(req, bad); err == nil {
			t.Errorf("resolveRef(%q) accepted", bad)
		}
	}
}

func TestOrigin(t *testing.T) {
	same := [][2]string{
		{"https://db/x", "https://DB:443/y"},
		{"http://db:80", "HTTP://db"},
		{"https://[::1]:7002/a", "https://[::1]:07002/b"},
		{"https://db./", "https://db/"},
	}
	for _, p := range same {
		a, _ := url.Parse(p[0])
		b, _ := url.Parse(p[1])
		if origin(a) != origin(b) {
			t.Errorf("%s and %s differ: %s %s", p[0], p[1], origin(a), origin(b))
		}
	}
	diff := [][2]string{{"https://db", "http://db"}, {"https://db", "https://db:7002"}, {"https://db", "https://db2"}}
	for _, p := range diff {
		a, _ := url.Parse(p[0])
		b, _ := url.Parse(p[1])
		if origin(a) == origin(b) {
			t.Errorf("%s and %s match", p[0], p[1])
		}
	}
}

func TestJobErrorMessagesAreCapped(t *testing.T) {
	j := Job{Status: JobFailed}
	for i := range 25 {
		j.Targets = append(j.Targets, JobTarget{Name: "t", Errors: []string{"e" + strings.Repeat("x", i)}})
	}
	msgs := j.ErrorMessages()
	if len(msgs) != maxJobErrors || msgs[maxJobErrors-1] != "and 16 more errors" || msgs[0] != "t: e" {
		t.Fatalf("got %q", msgs)
	}
	j.Targets = j.Targets[:maxJobErrors]
	if msgs := j.ErrorMessages(); len(msgs) != maxJobErrors || strings.HasPrefix(msgs[maxJobErrors-1], "and") {
		t.Fatalf("exactly the cap: %q", msgs)
	}
}

func TestNormaliseJobStatus(t *testing.T) {
	cases := map[string]string{
		"in progress": JobInProgress, "IN_PROGRESS": JobInProgress, "Running": JobInProgress,
		"completed": JobCompleted, " SUCCESS ": JobCompleted, "failed": JobFailed, "error": JobFailed,
		"": "", "paused": "",
	}
	for in, want := range cases {
		if got := normaliseJobStatus(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	if OutcomeDone.String() != "Done" || OutcomeAccepted.String() != "Accepted" || Outcome(7).String() != "Outcome(7)" {
		t.Error("Outcome.String")
	}
}
