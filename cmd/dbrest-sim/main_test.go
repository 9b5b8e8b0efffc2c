package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dbrest-io/dbrest-operator/internal/simulator"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		want    simulator.User
		wantErr bool
	}{
		{in: "admin:secret", name: "admin", want: simulator.User{Password: "secret"}},
		{in: "admin:secret:tok", name: "admin", want: simulator.User{Password: "secret", Token: "tok"}},
		{in: "bot::tok", name: "bot", want: simulator.User{Token: "tok"}},
		{in: "reader:pw:ro", name: "reader", want: simulator.User{Password: "pw", ReadOnly: true}},
		{in: "reader:pw:tok:ro", name: "reader", want: simulator.User{Password: "pw", Token: "tok", ReadOnly: true}},
		{in: "admin", wantErr: true},
		{in: ":pw", wantErr: true},
		{in: "a::", wantErr: true},
		{in: "a:b:c:d", wantErr: true},
	}
	for _, tt := range tests {
		name, u, err := parseUser(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseUser(%q) error %v", tt.in, err)
			continue
		}
		if !tt.wantErr && (name != tt.name || u != tt.want) {
			t.Errorf("parseUser(%q) = %q %+v, want %q %+v", tt.in, name, u, tt.name, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{
		"--user", "a:b", "--user", "r:s:ro", "--location", "relative", "--retry-after", "date",
		"--fail-pattern", "^bad", "--error-every", "3", "--error-code", "429", "--latency", "10ms",
		"--job-duration", "50ms", "--delete-code", "204",
		"--redeploy-in-place", "--mutation-delay", "3s", "--proxy-timeout", "1s",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if len(o.Users) != 2 || !o.Users["r"].ReadOnly || o.Location != simulator.LocationRelative ||
		o.RetryAfter != simulator.RetryAfterDate || !o.FailAppPattern.MatchString("bad-app") ||
		o.Faults.ErrorEveryN != 3 || o.Faults.ErrorCode != 429 || o.Faults.Latency != 10*time.Millisecond ||
		o.JobDuration != 50*time.Millisecond || o.DeleteCode != 204 ||
		!o.RedeployInPlace || o.MutationDelay != 3*time.Second || o.ProxyTimeout != time.Second {
		t.Fatalf("options %+v", o)
	}

	bad := [][]string{
		{"--location", "sideways"},
		{"--retry-after", "never"},
		{"--sync-create-code", "202"},
		{"--fail-pattern", "("},
		{"--tls-cert", "c.pem"},
		{"--ca-out", "ca.pem"},
		{"--error-rate", "2"},
		{"--mutation-delay", "-1s"},
		{"--proxy-timeout", "-1ms"},
		{"--mutation-delay", "soon"},
		{"stray"},
	}
	for _, args := range bad {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestHelpDocumentsAdminEndpoints(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"/_sim/stats", "/_sim/reset-stats", "/_sim/faults", "/_sim/apps/{name}", "curl", "-tls-self-signed", "-reset-every",
		"-redeploy-in-place", "-mutation-delay", "-proxy-timeout", "504"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestSelfSigned serves the simulator with a generated certificate and
// reaches it with only the generated CA trusted.
func TestSelfSigned(t *testing.T) {
	cert, caPEM, err := selfSigned([]string{"localhost", "127.0.0.1", "0.0.0.0", ""}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(simulator.Options{})
	defer sim.Close()
	srv := httptest.NewUnstartedServer(sim.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM not parsed")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", srv.URL+sim.BasePath()+"deployments/application", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
