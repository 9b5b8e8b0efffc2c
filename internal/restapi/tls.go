package restapi

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// newTransport builds the client's own transport: a clone of the default
// one (proxy from the environment, HTTP/2) with the TLS settings of cfg and
// idle pooling sized for the concurrency limit.
func newTransport(cfg Config) (*http.Transport, error) {
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Opt-in only; documented on Config.InsecureSkipTLSVerify.
		InsecureSkipVerify: cfg.InsecureSkipTLSVerify, //nolint:gosec
	}
	if len(cfg.CABundle) > 0 {
		pool, err := parseCABundle(cfg.CABundle)
		if err != nil {
			return nil, err
		}
		tlsConfig.RootCAs = pool
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		// Someone replaced the default transport; start from scratch.
		base = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	t := base.Clone()
	t.TLSClientConfig = tlsConfig
	t.ForceAttemptHTTP2 = true
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.MaxIdleConns = cfg.MaxConcurrentRequests
	t.MaxIdleConnsPerHost = cfg.MaxConcurrentRequests
	t.IdleConnTimeout = 90 * time.Second
	t.ExpectContinueTimeout = time.Second
	return t, nil
}

// parseCABundle parses every CERTIFICATE block of a PEM bundle and says
// which block is broken, because x509.CertPool.AppendCertsFromPEM only
// answers false.
func parseCABundle(bundle []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest := bytes.TrimSpace(bundle)
	n := 0
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if n == 0 {
				return nil, errors.New("restapi: CABundle holds no PEM data")
			}
			return nil, fmt.Errorf("restapi: CABundle has data after certificate %d that is not PEM", n)
		}
		rest = bytes.TrimSpace(rest)
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("restapi: CABundle certificate %d: %w", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, errors.New("restapi: CABundle holds no CERTIFICATE block")
	}
	return pool, nil
}

// isTLSError reports whether err is a certificate or TLS handshake failure.
func isTLSError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalid          x509.CertificateInvalidError
		hostname         x509.HostnameError
		verification     *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		alert            tls.AlertError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verification) || errors.As(err, &record) || errors.As(err, &alert)
}
