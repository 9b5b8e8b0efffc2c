package restapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkMessages asserts the bounds every cleaned message list keeps.
func checkMessages(t *testing.T, msgs []string) {
	t.Helper()
	if len(msgs) > maxMessages {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if m == "" || !utf8.ValidString(m) || utf8.RuneCountInString(m) > maxMessageRunes+1 {
			t.Fatalf("bad message %q", m)
		}
		if strings.ContainsAny(m, "\r\n\t\x00") {
			t.Fatalf("control characters in %q", m)
		}
	}
}

func FuzzJobLink(f *testing.F) {
	f.Add("https://db:7002/m/jobs/deployment/id/1", "")
	f.Add("../../jobs/deployment/id/1", "")
	f.Add("", `{"links":[{"rel":"job","uri":"/m/jobs/1"}]}`)
	f.Add("", `{"item":{"links":[{"rel":"JOB","href":"jobs/1"}]}}`)
	f.Add("//evil.example/x", "")
	f.Add("https://u:p@db:7002/j#f", "")
	f.Add("http://[::1]:80/%zz", "{")
	f.Add(":", `{"links":null}`)
	base, _ := url.Parse("https://db:7002/m/deployments/application/id/orders?__detached=true")
	f.Fuzz(func(t *testing.T, location, body string) {
		ref := jobLinkRef(location, []byte(body))
		if ref == "" {
			return
		}
		u, err := resolveRef(base, ref)
		if err != nil {
			return
		}
		if u.User != nil || u.Fragment != "" || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Fatalf("resolved %q to %q", ref, u)
		}
		// A redacted URL never carries user info or a query.
		if r, err := url.Parse(redactURL(ref)); err == nil && (r.User != nil || r.RawQuery != "") {
			t.Fatalf("redactURL(%q) = %q", ref, r)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "5", "86400", "-1", "1e3", "99999999999999999999",
		now.Add(time.Minute).Format(http.TimeFormat), "Mon, 02 Jan 2006 15:04:05 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v", v, d)
		}
	})
}

func FuzzErrorBody(f *testing.F) {
	for _, s := range []string{"", "plain", `{"messages":[{"message":"m","severity":"FAILURE"}]}`,
		`{"messages":["a",1,null,{"message":2}]}`, `{"message":{"x":1}}`, "<html><script>x</script><b>502</b></html>",
		"<script", "<style>a</sty", strings.Repeat("<a>", 100), "\xff\xfe", `{"messages":[` + strings.Repeat(`"x",`, 30) + `"y"]}`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, fallback bool) {
		checkMessages(t, parseMessages(body, fallback))
	})
}

func FuzzJobBody(f *testing.F) {
	for _, s := range []string{`{"item":` + jobInProgress + `}`, jobInProgress,
		`{"item":{"id":17,"status":"FAILED","beginTime":"1e3","endTime":1.5e12,"targets":[{"name":"c","errors":["e",{"message":"m"},3,null]}]}}`,
		`{"item":{"status":null}}`, `{"item":"x"}`, `[]`, `null`, `{"id":{"a":1}}`, `{"status":"weird"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		job, err := parseJobBody(body)
		if err == nil {
			switch job.Status {
			case JobInProgress, JobCompleted, JobFailed:
			default:
				t.Fatalf("accepted status %q", job.Status)
			}
			if job.Done() != (job.Status != JobInProgress) || job.Failed() != (job.Status == JobFailed) {
				t.Fatal("Done/Failed disagree with Status")
			}
		}
		msgs := job.ErrorMessages()
		if len(msgs) > maxJobErrors {
			t.Fatalf("%d error messages", len(msgs))
		}
		for _, m := range msgs {
			if !utf8.ValidString(m) || utf8.RuneCountInString(m) > 2*maxMessageRunes+4 {
				t.Fatalf("bad error message %q", m)
			}
		}
		_, _, _ = parseApplicationBody(body)
		_, _ = itemsOf(body)
	})
}
