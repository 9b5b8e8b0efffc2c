package simulator

import (
	"errors"
	"fmt"
	"log"
	"net/url"
	"regexp"
	"time"
)

// LocationStyle says how a 202 (or 201) names the resource it created.
type LocationStyle string

// Location styles a server may use (PROTOCOL.md, "Variations").
const (
	// LocationAbsolute sends an absolute Location header and a links[] entry.
	LocationAbsolute LocationStyle = "absolute"
	// LocationRelative sends a Location relative to the request URL (such as
	// "../jobs/deployment/id/17") and the same reference in links[].
	LocationRelative LocationStyle = "relative"
	// LocationBodyOnly sends no Location header; the job (or, on a 201, the
	// application) is named only in links[], by an absolute URI.
	LocationBodyOnly LocationStyle = "body-only"
)

// RetryAfterStyle says how Retry-After is written on 202, 429 and 503.
type RetryAfterStyle string

// Retry-After styles a server may use.
const (
	// RetryAfterNone omits the header.
	RetryAfterNone RetryAfterStyle = "none"
	// RetryAfterSeconds writes delta-seconds.
	RetryAfterSeconds RetryAfterStyle = "seconds"
	// RetryAfterDate writes an HTTP-date.
	RetryAfterDate RetryAfterStyle = "date"
)

// User is an account the simulator accepts.
type User struct {
	// Password for HTTP Basic. Empty for token-only users.
	Password string
	// Token for Bearer authentication. Empty for password-only users.
	Token string
	// ReadOnly users may GET but get 403 on POST, PUT and DELETE.
	ReadOnly bool
}

// Options configures a simulator. The zero value of each field picks the
// documented default, so tests set only what they exercise.
type Options struct {
	// BasePath is where the API is mounted. Default "/management/wls/latest/".
	BasePath string
	// Users maps a user name to its account. Default: one read-write user
	// "admin" with password "admin" and token "admin-token".
	Users map[string]User

	// JobDuration is how long a job stays "in progress". Default 2s; for
	// jobs that end at once, use 1ns.
	JobDuration time.Duration
	// JobTTL is how long a finished job is kept before its URL answers 404
	// and its memory is released. Default 10m.
	JobTTL time.Duration
	// FailAppPattern makes every deploy and redeploy of a matching
	// application name fail: the job ends "failed" with a target error and
	// the application ends STATE_FAILED. Remove jobs still complete, so a
	// test can always clean up. Nil means no job fails.
	FailAppPattern *regexp.Regexp

	// Location controls how job (and created-resource) links are written.
	// Default LocationAbsolute.
	Location LocationStyle
	// RetryAfter controls Retry-After on 202, 429 and 503. Default none.
	RetryAfter RetryAfterStyle
	// RetryAfterValue is the delay written in Retry-After. Default 1s.
	RetryAfterValue time.Duration
	// SyncCreateCode is the code of a synchronous (__detached=false) deploy
	// that finishes at once: 201 (default, with Location) or 200 (with
	// {"messages","item"}).
	SyncCreateCode int
	// DeleteCode is the answer to a synchronous DELETE: 200 (default) or 204.
	// A detached DELETE always answers 202.
	DeleteCode int
	// AlwaysAccept makes __detached=false calls answer 202 with a job too.
	AlwaysAccept bool
	// NoJobLink makes a 202 name no job: no Location, no links[rel=job].
	// The job is still created and listed.
	NoJobLink bool
	// JobLinkOrigin writes job links (Location and links[]) absolute on
	// this origin ("http://jobs.example:8080") instead of the request's,
	// as a separate job service behind a gateway, or a proxy that leaks
	// its backend's address, does. The path is the same.
	JobLinkOrigin string
	// JobDoneAtAcceptance makes every job end before its 202 is written,
	// so the 202's body already shows it completed (or failed).
	JobDoneAtAcceptance bool
	// RedeployInPlace makes an in-place swap server: while a redeploy job
	// runs, the application keeps its old fields and its state (normally
	// STATE_ACTIVE); the new fields land only when the job completes, and a
	// failed job leaves the old fields in STATE_FAILED. PROTOCOL.md allows
	// both this and the default (new fields at once, STATE_NEW), so a client
	// cannot learn from the application alone that a redeploy is running.
	// Synchronous redeploys are not affected.
	RedeployInPlace bool

	// MutationDelay makes a slow server: every deploy, redeploy and
	// undeploy is processed (validated, applied, its job created) only
	// this long after it reached the operation, and answered after that.
	// It runs on the wall clock, not Options.Clock, and goes on when the
	// client leaves. Checks that need no stored state (a bad body, a
	// missing name) still answer at once. Zero processes at once.
	MutationDelay time.Duration
	// ProxyTimeout puts a proxy in front: a deploy, redeploy or undeploy
	// still unprocessed this long after it reached the operation gets the
	// proxy's HTML 504 Gateway Time-out, while the server goes on and
	// processes it at MutationDelay, so the call happens but its answer is
	// lost. Zero means no proxy time-out.
	ProxyTimeout time.Duration

	// Faults are injected on the API paths (never on the admin paths).
	Faults Faults
	// Seed seeds the random source behind Faults.ErrorRate, so a run with
	// the same seed and the same request sequence injects the same errors.
	Seed int64

	// Clock is for tests and benchmarks: it replaces time.Now for job
	// progress, job expiry, Retry-After dates and downtime windows.
	// Default time.Now.
	Clock func() time.Time
	// RequestLogger, when set, gets one line per API request (method, path,
	// status, duration). Nil logs nothing.
	RequestLogger *log.Logger
}

// Validate reports options that New cannot honour. Zero values are valid:
// they select the defaults.
func (o Options) Validate() error {
	var errs []error
	switch o.Location {
	case "", LocationAbsolute, LocationRelative, LocationBodyOnly:
	default:
		errs = append(errs, fmt.Errorf("unknown location style %q", o.Location))
	}
	switch o.RetryAfter {
	case "", RetryAfterNone, RetryAfterSeconds, RetryAfterDate:
	default:
		errs = append(errs, fmt.Errorf("unknown retry-after style %q", o.RetryAfter))
	}
	switch o.SyncCreateCode {
	case 0, 200, 201:
	default:
		errs = append(errs, fmt.Errorf("sync create code %d: want 200 or 201", o.SyncCreateCode))
	}
	switch o.DeleteCode {
	case 0, 200, 204:
	default:
		errs = append(errs, fmt.Errorf("delete code %d: want 200 or 204", o.DeleteCode))
	}
	if o.JobLinkOrigin != "" {
		if u, err := url.Parse(o.JobLinkOrigin); err != nil || !u.IsAbs() || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("job link origin %q: want scheme://host[:port]", o.JobLinkOrigin))
		}
	}
	if o.JobDuration < 0 || o.JobTTL < 0 || o.RetryAfterValue < 0 || o.MutationDelay < 0 || o.ProxyTimeout < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	for name, u := range o.Users {
		if name == "" {
			errs = append(errs, errors.New("user with an empty name"))
		}
		if u.Password == "" && u.Token == "" {
			errs = append(errs, fmt.Errorf("user %q has neither password nor token", name))
		}
	}
	if err := o.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Faults describes injected failures. They can be replaced at run time with
// Server.SetFaults or the admin endpoint, so a test can start and end an outage.
// Replacing them restarts the request count behind ErrorEveryN and
// ResetEveryN and reseeds the random source, so a test that sets faults
// knows exactly which of its following requests fail.
//
// In JSON (PUT /_sim/faults) the fields are camelCase, Latency is a Go
// duration string such as "150ms", and DownUntil is an RFC 3339 time.
type Faults struct {
	// Latency is added before every API response. The wait ends early when
	// the client gives up, and then nothing is answered.
	Latency time.Duration `json:"latency"`
	// ErrorEveryN answers every Nth API request with ErrorCode (0: off).
	ErrorEveryN int `json:"errorEveryN"`
	// ErrorRate answers this fraction (0..1) of API requests with ErrorCode,
	// drawn from the source seeded by Options.Seed.
	ErrorRate float64 `json:"errorRate"`
	// ErrorCode is the injected status: 500 (default), 503 or 429.
	ErrorCode int `json:"errorCode"`
	// ErrorRetryAfter adds Retry-After (per Options.RetryAfter style, or
	// seconds when that is none) to injected errors.
	ErrorRetryAfter bool `json:"errorRetryAfter"`
	// HTMLErrors writes injected errors and downtime answers as an HTML page
	// from a "proxy" instead of the JSON messages body.
	HTMLErrors bool `json:"htmlErrors"`
	// ResetEveryN closes the connection without an answer on every Nth API
	// request (0: off). The request is processed first (for a mutating
	// request the change is applied), so the client loses the answer of a
	// call that did happen.
	ResetEveryN int `json:"resetEveryN"`
	// Down answers every API request with 503 (a downtime window) until
	// DownUntil; a zero DownUntil with Down set means until turned off.
	// Retry-After follows Options.RetryAfter and counts down to DownUntil
	// when that is set.
	Down bool `json:"down"`
	// DownUntil ends the downtime window started by Down (zero: no end).
	DownUntil time.Time `json:"downUntil,omitzero"`
}
