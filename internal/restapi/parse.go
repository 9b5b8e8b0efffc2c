package restapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Caps on what server input can make the client keep or print. They keep
// status conditions, logs and error strings small whatever a server sends.
const (
	maxMessages      = 10
	maxMessageRunes  = 256
	maxRetryAfter    = time.Hour
	maxRetryAfterSec = int64(maxRetryAfter / time.Second)
	maxCleanInput    = 64 << 10
)

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP-date
// relative to now. Past dates give 0, values are capped at maxRetryAfter,
// anything invalid gives 0 (the caller then uses its own backoff).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		// Parse at most a few digits: a longer number is beyond the cap
		// anyway and must not overflow.
		if len(v) > 7 {
			return maxRetryAfter
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return time.Duration(min(n, maxRetryAfterSec)) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	// Round up: the header has second precision.
	return (d + time.Second - 1).Truncate(time.Second)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseMessages extracts the server's messages from a body, never assuming
// JSON. The normal shape is {"messages":[{"message","severity"}]}; a few
// gateway shapes ({"message"}, {"error"}, {"detail"}) are read too. With
// fallback, a body that yields no message becomes one cleaned message
// (plain text or an HTML page from a proxy); without it (success bodies)
// such a body yields none.
func parseMessages(body []byte, fallback bool) []string {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(trimmed, &obj) == nil {
			if msgs := messagesFromObject(obj); len(msgs) > 0 || !fallback || len(obj) == 0 {
				return msgs
			}
		}
	}
	if !fallback {
		return nil
	}
	if msg := cleanText(string(trimmed)); msg != "" {
		return []string{msg}
	}
	return nil
}

func messagesFromObject(obj map[string]json.RawMessage) []string {
	var out []string
	var list []json.RawMessage
	if json.Unmarshal(obj["messages"], &list) == nil {
		for _, raw := range list {
			if len(out) == maxMessages {
				break
			}
			if msg := cleanText(textOf(raw)); msg != "" {
				out = append(out, msg)
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, key := range []string{"message", "error", "detail", "title"} {
		if msg := cleanText(textOf(obj[key])); msg != "" {
			return []string{msg}
		}
	}
	return nil
}

// textOf reads a message that is a JSON string or an object with a
// "message" (or "error") string; anything else gives "".
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var m struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(raw, &m) == nil {
		if m.Message != "" {
			return m.Message
		}
		return m.Error
	}
	return ""
}

// cleanText turns server text into one short printable line: HTML tags
// (and script/style content) removed, entities decoded, control characters
// and runs of white space collapsed, invalid UTF-8 replaced, capped at
// maxMessageRunes.
func cleanText(s string) string {
	// Only the start can survive the cap; a bounded input keeps the work
	// bounded too (a cut rune is repaired by ToValidUTF8).
	if len(s) > maxCleanInput {
		s = s[:maxCleanInput]
	}
	if strings.IndexByte(s, '<') >= 0 {
		s = html.UnescapeString(stripTags(s))
	}
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if utf8.RuneCountInString(s) <= maxMessageRunes {
		return s
	}
	return string([]rune(s)[:maxMessageRunes]) + "…"
}

// stripTags replaces every tag by a space and drops script and style
// elements whole. It is not an HTML parser: it only has to make a proxy's
// error page readable. A "<" not followed by a letter, "/" or "!" is text.
// It runs in linear time: a closing tag that is missing once is never
// searched for again.
func stripTags(s string) string {
	var b strings.Builder
	closing := []struct {
		open, close string
		missing     bool
	}{{"<script", "</script", false}, {"<style", "</style", false}}
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || i+1 == len(s) {
			b.WriteString(s)
			return b.String()
		}
		if c := s[i+1]; c != '/' && c != '!' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = s[i:]
		for k := range closing {
			el := &closing[k]
			if el.missing || !hasPrefixFold(s, el.open) {
				continue
			}
			if end := indexFold(s, el.close); end >= 0 {
				s = s[end+1:]
			} else {
				el.missing = true
			}
		}
		j := strings.IndexByte(s, '>')
		if j < 0 {
			return b.String()
		}
		s = s[j+1:]
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// indexFold is strings.Index ignoring ASCII case; sub must be lower case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := strings.IndexByte(s[i:], sub[0])
		if j < 0 {
			return -1
		}
		i += j
		if hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

// wireLink is an entry of links[].
type wireLink struct {
	Rel  string `json:"rel"`
	URI  string `json:"uri"`
	Href string `json:"href"`
}

// envelope is the body shape {"item":…,"items":…,"links":[…]}.
type envelope struct {
	Item  json.RawMessage   `json:"item"`
	Items []json.RawMessage `json:"items"`
	Links []wireLink        `json:"links"`
}

// jobLinkRef returns the unresolved job reference of a 202: the Location
// header if present, else the first links[] entry with rel "job" at the top
// level or inside item. "" when there is none.
func jobLinkRef(location string, body []byte) string {
	if loc := strings.TrimSpace(location); loc != "" {
		return loc
	}
	var env envelope
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	links := env.Links
	var item struct {
		Links []wireLink `json:"links"`
	}
	if json.Unmarshal(env.Item, &item) == nil {
		links = append(links, item.Links...)
	}
	for _, l := range links {
		if strings.EqualFold(strings.TrimSpace(l.Rel), "job") {
			ref := strings.TrimSpace(l.URI)
			if ref == "" {
				ref = strings.TrimSpace(l.Href)
			}
			if ref != "" {
				return ref
			}
		}
	}
	return ""
}

// resolveRef resolves ref against the request URL (RFC 3986). The result
// must be http or https with a host; user info and fragment are dropped so
// that no credential can ride along in a URL.
func resolveRef(base *url.URL, ref string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, errors.New("job link is not a URL")
	}
	u := base.ResolveReference(r)
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("job link scheme is not http or https")
	}
	if u.Hostname() == "" {
		return nil, errors.New("job link has no host")
	}
	return u, nil
}

// origin is "scheme://host:port" with the scheme and host lower-cased and
// the default port made explicit, so https://DB and https://db:443 match.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if n, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(n)
	}
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), port)
}

// redactURL keeps scheme, host and path: user info, query and fragment may
// hold secrets and are dropped.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[invalid URL]"
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// errInvalidBody tells a caller the body was not JSON of the expected shape.
var errInvalidBody = errors.New("body is not valid JSON of the expected shape")

// itemOf returns the "item" of an envelope, or the body itself when it is a
// bare object without "item" (some servers skip the envelope).
func itemOf(body []byte) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, errInvalidBody
	}
	if len(env.Item) > 0 && !bytes.Equal(env.Item, []byte("null")) {
		return env.Item, nil
	}
	return body, nil
}

// itemsOf returns the "items" of a list envelope, or the elements of a bare
// JSON array.
func itemsOf(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, errInvalidBody
		}
		return items, nil
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, errInvalidBody
	}
	return env.Items, nil
}
