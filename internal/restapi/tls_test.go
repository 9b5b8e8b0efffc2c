package restapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func certPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTLS(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"items":[]}`))
	})
	srv := httptest.NewUnstartedServer(handler)
	// The refused handshakes are the point of the test, not log noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	// Every httptest TLS server shares one certificate, so the other CA is
	// made here.
	otherCA := selfSignedPEM(t)

	cases := []struct {
		name    string
		cfg     func(*Config)
		wantTLS bool
	}{
		{"CA bundle of the server", func(c *Config) { c.CABundle = certPEM(srv) }, false},
		{"CA bundle with a key block and two certificates", func(c *Config) {
			c.CABundle = append(append([]byte(nil), otherCA...), certPEM(srv)...)
			c.CABundle = append(c.CABundle, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})...)
		}, false},
		{"system roots only: unknown authority", nil, true},
		{"another CA: unknown authority", func(c *Config) { c.CABundle = otherCA }, true},
		{"insecure", func(c *Config) { c.InsecureSkipTLSVerify = true }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mut []func(*Config)
			if tc.cfg != nil {
				mut = append(mut, tc.cfg)
			}
			c := newTestClient(t, srv.URL, mut...)
			_, err := c.Deploy(context.Background(), ordersSpec)
			err = errors.Join(err, c.Probe(context.Background()))
			if !tc.wantTLS {
				// Deploy gets a 200 with a list body: done, no application.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var te *TransportError
			if !errors.As(err, &te) || !te.TLS || !te.NotSent || te.OutcomeUnknown() {
				t.Fatalf("got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), "TLS error") {
				t.Errorf("message %q", err.Error())
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	good := "https://db.example:7002/management/wls/latest"
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for success
	}{
		{"ok", Config{BaseURL: good}, ""},
		{"empty", Config{}, "BaseURL is required"},
		{"scheme", Config{BaseURL: "ftp://db/"}, "not http or https"},
		{"relative", Config{BaseURL: "/x/"}, "not http or https"},
		{"no host", Config{BaseURL: "http:///x"}, "no host"},
		{"query", Config{BaseURL: good + "?a=b"}, "query or fragment"},
		{"bad CA", Config{BaseURL: good, CABundle: []byte("not pem")}, "no PEM data"},
		{"bad certificate", Config{BaseURL: good, CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})}, "certificate 1"},
		{"no certificate", Config{BaseURL: good, CABundle: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})}, "no CERTIFICATE"},
		{"header name", Config{BaseURL: good, Headers: map[string]string{"Bad Name": "x"}}, "invalid header"},
		{"header value", Config{BaseURL: good, Headers: map[string]string{"X-A": "a\r\nb"}}, "invalid header"},
		{"template without placeholder", Config{BaseURL: good, Paths: Paths{Application: "apps/x"}}, "must contain {name}"},
		{"template on another host", Config{BaseURL: good, Paths: Paths{Applications: "https://evil/x"}}, "relative to BaseURL"},
		{"template network-path", Config{BaseURL: good, Paths: Paths{Jobs: "//evil/x"}}, "relative to BaseURL"},
		{"negative", Config{BaseURL: good, MaxConcurrentRequests: -1}, "negative"},
		{"password without user", Config{BaseURL: good, Credentials: Credentials{Password: "p"}}, "no username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if tc.want == "" {
				if err != nil || c.BaseURL().String() != good+"/" {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
