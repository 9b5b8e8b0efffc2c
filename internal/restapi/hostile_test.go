package restapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// secretWindows returns every 8-byte window of the test secrets. A server
// message cut in the middle of a secret leaves a prefix that no longer
// equals the secret; a window still finds it.
func secretWindows() []string {
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	var out []string
	// The first 8 characters of the Basic value encode "admin:", the user
	// name, which is no secret.
	for _, s := range []string{testPassword, testToken, basic[8:]} {
		for i := 0; i+8 <= len(s); i++ {
			out = append(out, s[i:i+8])
		}
	}
	return out
}

// TestEchoedSecretCutByTheMessageCap: a server echoes the Authorization
// header after enough padding that the message cap (maxMessageRunes) falls
// inside the secret. No part of the secret may reach the error text.
func TestEchoedSecretCutByTheMessageCap(t *testing.T) {
	for _, creds := range []Credentials{
		{Token: testToken},
		{Username: testUser, Password: testPassword},
	} {
		for _, shift := range []int{3, 12, 20} {
			t.Run(fmt.Sprintf("%s shift %d", creds, shift), func(t *testing.T) {
				echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					auth := r.Header.Get("Authorization")
					// The secret starts after "Bearer " or "Basic "; place
					// its first byte `shift` runes before the cap.
					_, value, _ := strings.Cut(auth, " ")
					pad := strings.Repeat("p", maxMessageRunes-shift-len(auth)+len(value))
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = fmt.Fprintf(w, `{"messages":[{"message":"%s %s"}]}`, pad[1:], auth)
				}))
				defer echo.Close()
				c := newTestClient(t, echo.URL, func(c *Config) { c.Credentials = creds })
				_, err := c.GetApplication(context.Background(), "orders")
				if !isA[*ServerError](err) {
					t.Fatalf("got %T %v", err, err)
				}
				for _, w := range secretWindows() {
					if strings.Contains(err.Error(), w) {
						t.Fatalf("error shows %q, part of a secret: %s", w, err)
					}
				}
			})
		}
	}
}

// TestEndlessBodyIsBounded: a server that streams a body forever on a 200
// cannot make the client read more than the cap plus the drain limit, nor
// hang past the request time-out.
func TestEndlessBodyIsBounded(t *testing.T) {
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat(`{"items":[`, 1024))
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.MaxBodyBytes = 64 << 10
		c.RequestTimeout = 5 * time.Second
	})
	start := time.Now()
	_, err := c.GetApplication(context.Background(), "orders")
	if !isA[*ProtocolError](err) {
		t.Fatalf("got %T %v", err, err)
	}
	if d := time.Since(start); d >= 5*time.Second {
		t.Fatalf("the client waited for the time-out (%v) instead of stopping at the cap", d)
	}
	srv.CloseClientConnections()
	// The kernel's socket buffers hold a few MB at most; without the cap
	// the server would have written until the time-out.
	if n := written.Load(); n > 16<<20 {
		t.Fatalf("the server wrote %d bytes before the client stopped reading", n)
	}
}

// FuzzEchoedSecretNeverShows: whatever surrounds an echoed secret in an
// error body (JSON, HTML, plain text, entities, control characters), the
// error text never shows the whole secret.
func FuzzEchoedSecretNeverShows(f *testing.F) {
	for _, s := range [][2]string{
		{`{"messages":[{"message":"bad `, `"}]}`},
		{`<html><body><h1>`, `</h1></body></html>`},
		{`{"message":"`, `"}`},
		{`{"error":{"message":"`, `"}}`},
		{"plain \x00\t", "\r\n"},
		{`<script>`, `</script>x`},
		{`&amp;`, `&#115;`},
	} {
		f.Add(s[0], s[1], 500)
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string, code int) {
		if code < 400 || code > 599 {
			code = 500
		}
		c, err := New(Config{BaseURL: "http://db.example/", Credentials: Credentials{Token: testToken},
			Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: code, Header: http.Header{},
					Body: nopCloser{strings.NewReader(prefix + testToken + suffix)}}, nil
			})})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetApplication(context.Background(), "orders")
		if err == nil {
			t.Fatal("an error status gave no error")
		}
		if strings.Contains(err.Error(), testToken) {
			t.Fatalf("error shows the token: %s", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }
