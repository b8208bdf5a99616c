package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles are the file-based TLS settings of one connection (Kafka or
// Redis). Files rather than inline PEM: in Kubernetes they are mounted
// from Secrets, and a file path is safe to log.
type TLSFiles struct {
	// Enabled turns TLS on without any file (system roots). For Redis,
	// TLS is chosen by the rediss:// scheme instead.
	Enabled            bool
	CAFile             string // PEM CA bundle to verify the server; "" means the system roots
	CertFile, KeyFile  string // PEM client certificate and key for mutual TLS; both or neither
	InsecureSkipVerify bool   // skip verifying the server's certificate (testing only)
}

// errCAFile marks an error of the CA file (the others are of the client
// certificate and key), so that the caller can name the setting.
var errCAFile = errors.New("tls ca file")

// Wanted reports whether any setting asks for TLS.
func (t TLSFiles) Wanted() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify
}

// Config builds the tls.Config (nil when TLS is not wanted). serverName
// may be empty: Go then uses the dialled host name.
func (t TLSFiles) Config() (*tls.Config, error) {
	if !t.Wanted() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as testing only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w %s: no PEM certificate found", errCAFile, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
