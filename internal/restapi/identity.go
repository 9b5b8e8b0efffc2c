package restapi

import (
	"net"
	"net/url"
	"path"
	"strings"
)

// ServerIdentity names the server a base URL points at, so that two
// DatabaseAPIs written differently but reaching the same applications are
// known to be one server: the scheme and host in lower case, the port
// unless it is the scheme's default, and the base path cleaned and without
// a trailing slash. Host names are compared as written: "localhost" and
// "127.0.0.1" stay two identities, since nothing in the URL proves they
// are one server.
func ServerIdentity(baseURL string) (string, error) {
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return "", err
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		// An IPv6 literal keeps its brackets, with or without a port.
		host = net.JoinHostPort(host, port)
		host = strings.TrimSuffix(host, ":")
	}
	p := path.Clean("/" + u.Path)
	p = strings.TrimSuffix((&url.URL{Path: p}).EscapedPath(), "/")
	return u.Scheme + "://" + host + p, nil
}
