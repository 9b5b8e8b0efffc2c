package simulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// response is an answer computed under the lock and written after it is
// released, so a slow client never holds up other requests.
type response struct {
	code       int
	location   string
	retryAfter string
	allow      string // Allow header of a 405
	body       []byte // JSON; nil for no body
}

func (r response) write(w http.ResponseWriter) {
	h := w.Header()
	if r.location != "" {
		h.Set("Location", r.location)
	}
	if r.retryAfter != "" {
		h.Set("Retry-After", r.retryAfter)
	}
	if r.allow != "" {
		h.Set("Allow", r.allow)
	}
	if r.body != nil {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(r.body)))
	}
	w.WriteHeader(r.code)
	if r.body != nil {
		_, _ = w.Write(r.body)
	}
}

// jsonResponse encodes v. The types encoded here cannot fail to marshal.
func jsonResponse(code int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		return messageResponse(http.StatusInternalServerError, severityFailure, "encoding the answer: "+err.Error())
	}
	return response{code: code, body: b}
}

func messageResponse(code int, severity, msg string) response {
	return jsonResponse(code, messagesBody{Messages: []Message{{Message: msg, Severity: severity}}})
}

func failure(code int, msg string) response {
	return messageResponse(code, severityFailure, msg)
}

func writeFailure(w http.ResponseWriter, code int, msg string) {
	failure(code, msg).write(w)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	jsonResponse(http.StatusOK, v).write(w)
}

// schemeOf reports the scheme the client used to reach us.
func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// absoluteURL turns a server path into a URL on the host the client used.
func absoluteURL(r *http.Request, path string) string {
	return schemeOf(r) + "://" + r.Host + path
}

// linkTo returns the Location header value (maybe empty) and the links[]
// URI that name path, in the configured style.
func (s *Server) linkTo(r *http.Request, path string) (location, uri string) {
	switch s.opts.Location {
	case LocationRelative:
		rel := relativeRef(r.URL.EscapedPath(), path)
		return rel, rel
	case LocationBodyOnly:
		return "", absoluteURL(r, path)
	default:
		abs := absoluteURL(r, path)
		return abs, abs
	}
}

// relativeRef returns a relative reference that, resolved against a
// request for from (RFC 3986 section 5.2), gives the absolute path to.
// Both are escaped absolute paths. Resolution merges the reference with
// from's directory (everything up to its last "/"), so the reference climbs
// out of the part of that directory it does not share with to.
func relativeRef(from, to string) string {
	dir := splitSegments(from[:strings.LastIndexByte(from, '/')+1])
	target := splitSegments(to)
	common := 0
	for common < len(dir) && common < len(target)-1 && dir[common] == target[common] {
		common++
	}
	var b strings.Builder
	for range len(dir) - common {
		b.WriteString("../")
	}
	rest := strings.Join(target[common:], "/")
	// A first segment with a colon would read as a scheme; an empty one
	// would make "//" read as an authority.
	if b.Len() == 0 {
		first, _, _ := strings.Cut(rest, "/")
		if first == "" || strings.Contains(first, ":") {
			b.WriteString("./")
		}
	}
	b.WriteString(rest)
	return b.String()
}

// splitSegments splits an absolute path into its segments, keeping empty
// ones from "//", and dropping the empty one after a trailing "/".
func splitSegments(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	p = strings.TrimSuffix(p, "/")
	return strings.Split(p, "/")
}
