package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// APIError is implemented by every error a Client operation returns, so a
// caller can classify any of them with one errors.As. The concrete types
// below name the class; pick one with errors.As(err, &target).
type APIError interface {
	error
	// HTTPStatus is the status code of the answer, 0 when none arrived or
	// the request was refused before it was sent.
	HTTPStatus() int
	// ServerMessages are the server's messages, cleaned and capped.
	ServerMessages() []string
	// Retryable reports whether the same call may succeed later unchanged.
	Retryable() bool
	// RetryAfterDelay is the server's Retry-After, 0 when absent.
	RetryAfterDelay() time.Duration
}

// StatusError holds what every error class shares. It is embedded by value
// in each class, whose own type is what errors.As matches.
type StatusError struct {
	Op     Operation
	Method string
	// Path is the request path, without query, host or user info, so it is
	// safe to log and to put in a status condition.
	Path string
	// Code is the HTTP status, 0 when no answer arrived.
	Code int
	// Messages are the server's messages, cleaned and capped.
	Messages []string
	// RetryAfterValue is the server's Retry-After, 0 when absent.
	RetryAfterValue time.Duration
}

// Error formats "<op> <METHOD> <path>: HTTP <code> <text>: <messages>".
func (e *StatusError) Error() string { return e.format("") }

func (e *StatusError) format(detail string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", e.Op, e.Method, e.Path)
	if e.Code != 0 {
		text := http.StatusText(e.Code)
		if text == "" {
			text = "Unknown Status"
		}
		fmt.Fprintf(&b, ": HTTP %d %s", e.Code, text)
	}
	if detail != "" {
		b.WriteString(": ")
		b.WriteString(detail)
	}
	if len(e.Messages) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Messages, "; "))
	}
	return b.String()
}

// HTTPStatus implements APIError.
func (e *StatusError) HTTPStatus() int { return e.Code }

// ServerMessages implements APIError.
func (e *StatusError) ServerMessages() []string { return e.Messages }

// RetryAfterDelay implements APIError.
func (e *StatusError) RetryAfterDelay() time.Duration { return e.RetryAfterValue }

// Retryable implements APIError: false unless a class says otherwise.
func (e *StatusError) Retryable() bool { return false }

// InvalidRequestError is a 400: validation failed. Retrying the same spec
// cannot help. Code 0 means the client refused the request before sending it
// (for example an empty application name).
type InvalidRequestError struct{ StatusError }

// UnauthorizedError is a 401: credentials missing or invalid.
type UnauthorizedError struct{ StatusError }

// ForbiddenError is a 403: authenticated but not allowed.
type ForbiddenError struct{ StatusError }

// NotFoundError is a 404. Its meaning depends on the operation: no such
// application, an unknown or expired job, an undeploy of something already
// gone, or a wrong base URL.
type NotFoundError struct{ StatusError }

// ProtocolMismatchError is a 405, 406 or 415: the server does not speak
// this contract at this URL (verb, Accept or Content-Type refused).
type ProtocolMismatchError struct{ StatusError }

// ThrottledError is a 429; retry after RetryAfterDelay.
type ThrottledError struct{ StatusError }

// Retryable implements APIError.
func (e *ThrottledError) Retryable() bool { return true }

// ServerError is a 500; retry with backoff.
type ServerError struct{ StatusError }

// Retryable implements APIError.
func (e *ServerError) Retryable() bool { return true }

// UnavailableError is a 503; retry, honouring RetryAfterDelay.
type UnavailableError struct{ StatusError }

// Retryable implements APIError.
func (e *UnavailableError) Retryable() bool { return true }

// UnexpectedStatusError is any other status, including redirects, which the
// client never follows. A 5xx is retryable.
type UnexpectedStatusError struct {
	StatusError
	// Location is the redirect target (without user info or query), if any.
	Location string
}

// Error names the redirect target when there is one.
func (e *UnexpectedStatusError) Error() string {
	if e.Location != "" {
		return e.format("redirect to " + e.Location + " not followed")
	}
	return e.format("")
}

// Retryable implements APIError.
func (e *UnexpectedStatusError) Retryable() bool { return e.Code >= 500 && e.Code <= 599 }

// TransportError means no usable answer arrived: connection refused or
// reset, TLS failure, time-out or cancellation. It is retryable; for a
// mutating call check OutcomeUnknown first.
type TransportError struct {
	StatusError
	// Err is the cause, without the URL the net/http error would repeat.
	Err error
	// Mutating is true for deploy, redeploy and undeploy.
	Mutating bool
	// NotSent is true when the request surely never reached the server
	// (waiting for a slot, dial failure, TLS handshake failure).
	NotSent bool
	// TLS is true for certificate and handshake failures; those need a
	// configuration change rather than a retry.
	TLS bool
	// Timeout is true when the request timed out.
	Timeout bool
}

// Error formats the operation and the cause.
func (e *TransportError) Error() string {
	kind := "transport error"
	switch {
	case e.TLS:
		kind = "TLS error"
	case e.Timeout:
		kind = "time-out"
	}
	if e.Err != nil {
		kind += ": " + e.Err.Error()
	}
	return e.format(kind)
}

// Unwrap returns the cause, so errors.Is(err, context.Canceled) works.
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable implements APIError.
func (e *TransportError) Retryable() bool { return true }

// OutcomeUnknown reports whether a mutating request may have reached the
// server although no answer arrived. The caller must then read the
// application to learn what happened, never repeat the call blindly.
func (e *TransportError) OutcomeUnknown() bool { return e.Mutating && !e.NotSent }

// ProtocolError means the server answered something the client cannot use:
// invalid JSON on a 2xx, a 202 without a job link, a job without a known
// status, a body over the size cap. Not retryable: the endpoint does not
// speak this contract.
type ProtocolError struct {
	StatusError
	// Reason says what was wrong.
	Reason string
}

// Error formats the operation and the reason.
func (e *ProtocolError) Error() string { return e.format("protocol error: " + e.Reason) }

// OriginError means a job link or job URL points to another origin (scheme,
// host or port) than the BaseURL. It is never followed, so credentials never
// leave the configured origin. Not retryable.
type OriginError struct {
	StatusError
	// Want is the BaseURL's origin; Got is the other one.
	Want, Got string
}

// Error names both origins.
func (e *OriginError) Error() string {
	return e.format(fmt.Sprintf("URL on origin %s is not on %s; not followed", e.Got, e.Want))
}

// IsRetryable reports whether err is an APIError that a later identical
// call may not return.
func IsRetryable(err error) bool {
	var ae APIError
	return errors.As(err, &ae) && ae.Retryable()
}

// RetryAfter returns the server's Retry-After carried by err, 0 when none.
func RetryAfter(err error) time.Duration {
	var ae APIError
	if errors.As(err, &ae) {
		return ae.RetryAfterDelay()
	}
	return 0
}

// StatusCode returns the HTTP status carried by err, 0 when none.
func StatusCode(err error) int {
	var ae APIError
	if errors.As(err, &ae) {
		return ae.HTTPStatus()
	}
	return 0
}

// Compile-time checks that every class is an APIError.
var (
	_ APIError = (*InvalidRequestError)(nil)
	_ APIError = (*UnauthorizedError)(nil)
	_ APIError = (*ForbiddenError)(nil)
	_ APIError = (*NotFoundError)(nil)
	_ APIError = (*ProtocolMismatchError)(nil)
	_ APIError = (*ThrottledError)(nil)
	_ APIError = (*ServerError)(nil)
	_ APIError = (*UnavailableError)(nil)
	_ APIError = (*UnexpectedStatusError)(nil)
	_ APIError = (*TransportError)(nil)
	_ APIError = (*ProtocolError)(nil)
	_ APIError = (*OriginError)(nil)
)

// statusError maps an HTTP status to its class.
func statusError(se StatusError, location string) APIError {
	switch se.Code {
	case http.StatusBadRequest:
		return &InvalidRequestError{se}
	case http.StatusUnauthorized:
		return &UnauthorizedError{se}
	case http.StatusForbidden:
		return &ForbiddenError{se}
	case http.StatusNotFound:
		return &NotFoundError{se}
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return &ProtocolMismatchError{se}
	case http.StatusTooManyRequests:
		return &ThrottledError{se}
	case http.StatusInternalServerError:
		return &ServerError{se}
	case http.StatusServiceUnavailable:
		return &UnavailableError{se}
	default:
		return &UnexpectedStatusError{StatusError: se, Location: location}
	}
}
