// Package restapi is the client of the database REST API contract
// (docs: PROTOCOL.md). It knows HTTP and the contract and nothing of
// Kubernetes.
//
// The client never retries. A mutating call whose answer was lost may have
// happened; repeating it blindly could deploy twice. The caller owns the
// retry policy and settles a lost call by reading the application first
// (TransportError.OutcomeUnknown says when that is needed). Errors are typed
// (see APIError) so the caller can decide with errors.As alone.
//
// Redirects are never followed: a redirect could carry the request, and
// with it the credentials, to another origin. Credentials are sent only to
// the BaseURL's origin, and job links on another origin are refused with an
// *OriginError.
package restapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// drainLimit is how much of an over-long body is read and discarded so the
// connection can be reused; beyond it closing is cheaper.
const drainLimit = 64 << 10

// minSecretLen is the shortest secret scrubbed from server messages; a
// shorter one would mangle ordinary words, and servers do not echo them.
const minSecretLen = 4

// Client calls one endpoint. It is safe for concurrent use; build one per
// endpoint and reuse it, so connections are pooled and the concurrency
// limit holds.
type Client struct {
	cfg        Config
	base       *url.URL
	baseOrigin string
	http       *http.Client
	sem        chan struct{}
	auth       string
	detached   string
	secrets    []string
}

// New validates cfg, applies defaults and builds the client and its
// transport once.
func New(cfg Config) (*Client, error) {
	cfg, base, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	rt := cfg.Transport
	if rt == nil {
		t, err := newTransport(cfg)
		if err != nil {
			return nil, err
		}
		rt = t
	}
	c := &Client{
		cfg:        cfg,
		base:       base,
		baseOrigin: origin(base),
		http: &http.Client{
			Transport: rt,
			// Answer a redirect as it is: following it could send the
			// request to another origin, and its outcome is ours to judge.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		sem:      make(chan struct{}, cfg.MaxConcurrentRequests),
		detached: "true",
	}
	if cfg.Detached != nil && !*cfg.Detached {
		c.detached = "false"
	}
	cr := cfg.Credentials
	switch {
	case cr.Token != "":
		c.auth = "Bearer " + cr.Token
		c.addSecret(cr.Token)
	case cr.Username != "":
		basic := base64.StdEncoding.EncodeToString([]byte(cr.Username + ":" + cr.Password))
		c.auth = "Basic " + basic
		c.addSecret(cr.Password)
		c.addSecret(basic)
	}
	return c, nil
}

func (c *Client) addSecret(s string) {
	if len(s) >= minSecretLen {
		c.secrets = append(c.secrets, s)
	}
}

// WithDetached returns a client for the same endpoint that sends
// ?__detached=<detached> on deploy, redeploy and undeploy, whatever
// Config.Detached says. It shares the connection pool, the concurrency limit
// and the observer with c, so it is cheap to call per request: the setting
// belongs to each deployment, while the client belongs to the endpoint.
func (c *Client) WithDetached(detached bool) *Client {
	d := *c
	d.detached = strconv.FormatBool(detached)
	return &d
}

// BaseURL returns a copy of the normalised base URL (with trailing slash).
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// String names the endpoint without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("restapi.Client{BaseURL:%s Credentials:%s}", c.base, c.cfg.Credentials)
}

// Format implements fmt.Formatter: every verb prints String, so the
// unexported fields (which hold the Authorization value) never print.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// request is one HTTP call of an operation.
type request struct {
	op       Operation
	method   string
	url      *url.URL
	body     []byte
	mutating bool
}

// response is an answer whose body has been read (up to the cap).
type response struct {
	code      int
	header    http.Header
	body      []byte
	truncated bool
}

// do sends one request under the concurrency limit and the per-request
// time-out, and reads the capped body. Any failure is a *TransportError.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.transportError(r, err, true)
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, c.transportError(r, ctx.Err(), true)
	}
	defer func() { <-c.sem }()

	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return nil, c.transportError(r, err, true)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(r.op, 0, time.Since(start))
		return nil, c.transportError(r, err, false)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err == nil && int64(len(body)) > c.cfg.MaxBodyBytes {
		// Read a little more so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	}
	_ = resp.Body.Close()
	c.observe(r.op, resp.StatusCode, time.Since(start))
	if err != nil {
		// The status line arrived but the body did not: for a mutating
		// call the server has acted, and we do not know how it ended.
		return nil, c.transportError(r, err, false)
	}
	out := &response{code: resp.StatusCode, header: resp.Header, body: body}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		out.body, out.truncated = body[:c.cfg.MaxBodyBytes], true
	}
	return out, nil
}

func (c *Client) newHTTPRequest(ctx context.Context, r request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url.String(), body)
	if err != nil {
		return nil, err
	}
	h := req.Header
	for k, v := range c.cfg.Headers {
		h.Set(k, v)
	}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.cfg.UserAgent)
	if r.body != nil {
		h.Set("Content-Type", "application/json")
	}
	if r.mutating && h.Get("X-Requested-By") == "" {
		h.Set("X-Requested-By", DefaultRequestedBy)
	}
	// Credentials go only to the configured origin. Every URL the client
	// builds is on it and GetJob refuses others, so this is the last guard.
	if c.auth != "" && origin(r.url) == c.baseOrigin {
		h.Set("Authorization", c.auth)
	} else {
		h.Del("Authorization")
	}
	return req, nil
}

func (c *Client) observe(op Operation, code int, d time.Duration) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.ObserveRequest(op, code, d)
	}
}

// base is the StatusError for a request, without an answer yet.
func (r request) status() StatusError {
	return StatusError{Op: r.op, Method: r.method, Path: r.url.EscapedPath()}
}

// transportError classifies a failure to get an answer. notSent is true
// when the request certainly never left (a slot was never acquired).
func (c *Client) transportError(r request, err error, notSent bool) *TransportError {
	// url.Error repeats the URL; the path is already in the message.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	var oe *net.OpError
	te := &TransportError{
		StatusError: r.status(),
		Err:         err,
		Mutating:    r.mutating,
		TLS:         isTLSError(err),
		Timeout:     errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()),
	}
	// A dial or handshake failure means no request byte was written.
	te.NotSent = notSent || te.TLS || (errors.As(err, &oe) && oe.Op == "dial")
	return te
}

// errorFor turns a non-success answer into its error class.
func (c *Client) errorFor(r request, resp *response) error {
	se := c.statusFrom(r, resp, true)
	location := ""
	if loc := resp.header.Get("Location"); loc != "" && resp.code >= 300 && resp.code < 400 {
		location = redactURL(loc)
		if u, err := resolveRef(r.url, loc); err == nil {
			location = redactURL(u.String())
		}
	}
	return statusError(se, location)
}

// statusFrom fills a StatusError from an answer. With fallback, a body that
// is not a messages document becomes one cleaned message.
func (c *Client) statusFrom(r request, resp *response, fallback bool) StatusError {
	se := r.status()
	se.Code = resp.code
	se.Messages = c.scrub(parseMessages(c.scrubBody(resp.body), fallback))
	se.RetryAfterValue = parseRetryAfter(resp.header.Get("Retry-After"), time.Now())
	return se
}

// scrub removes the client's own secrets from server text, in case a
// server or proxy echoes a header back.
// scrubBody removes secrets from a raw body before it is parsed and cut
// to the message cap: a cut could otherwise leave the front part of an
// echoed secret that scrub, after parsing, no longer recognises.
func (c *Client) scrubBody(body []byte) []byte {
	for _, s := range c.secrets {
		if bytes.Contains(body, []byte(s)) {
			body = bytes.ReplaceAll(body, []byte(s), []byte(redacted))
		}
	}
	return body
}

func (c *Client) scrub(msgs []string) []string {
	for i, m := range msgs {
		for _, s := range c.secrets {
			m = strings.ReplaceAll(m, s, redacted)
		}
		msgs[i] = m
	}
	return msgs
}

func (c *Client) protocolError(r request, resp *response, reason string) *ProtocolError {
	se := r.status()
	if resp != nil {
		se = c.statusFrom(r, resp, false)
	}
	return &ProtocolError{StatusError: se, Reason: reason}
}
