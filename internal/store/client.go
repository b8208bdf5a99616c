// The Redis client: Redis URLs (one, or several for Redis Cluster),
// credentials and TLS, and the standalone or Cluster client built from them.

package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures the Redis store.
type Config struct {
	// URL is a redis:// or rediss:// URL, or a comma-separated list of them
	// for Redis Cluster seed nodes (SPEC §7). Default redis://localhost:6379/0.
	URL string
	// KeysPerScript caps how many customers one script call updates, so no
	// single call blocks Redis for long. Default 64.
	KeysPerScript int
	// Username and Password override the URL's credentials when set (so
	// secrets can come from a separate environment variable).
	Username, Password string
	// TLS overrides the TLS configuration implied by rediss://.
	TLS *tls.Config
	// PoolSize is the connection pool size per node. Default 32.
	PoolSize int
	// DialTimeout, ReadTimeout and WriteTimeout bound each operation so a
	// hung Redis turns into an error the pipeline retries. Defaults 5 s,
	// 5 s, 5 s.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.URL == "" {
		c.URL = "redis://localhost:6379/0"
	}
	if c.KeysPerScript <= 0 {
		c.KeysPerScript = 64
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 32
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
}

// NewClient builds a standalone client for one URL, or a cluster client
// when the URL lists several nodes.
func NewClient(cfg Config) (redis.UniversalClient, error) {
	cfg.setDefaults()
	urls := splitURLs(cfg.URL)
	if len(urls) == 0 {
		return nil, errors.New("redis: empty URL")
	}
	if len(urls) == 1 {
		opt, err := redis.ParseURL(urls[0])
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", redactErr(err, urls[0]))
		}
		applyOverrides(cfg, &opt.Username, &opt.Password, &opt.TLSConfig)
		opt.PoolSize = cfg.PoolSize
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
		opt.MaxRetries = 3
		return redis.NewClient(opt), nil
	}
	copt := &redis.ClusterOptions{}
	for i, u := range urls {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis cluster url %d: %w", i+1, redactErr(err, u))
		}
		if opt.DB != 0 {
			return nil, fmt.Errorf("redis cluster url %d: Redis Cluster has only database 0", i+1)
		}
		copt.Addrs = append(copt.Addrs, opt.Addr)
		if i == 0 {
			copt.Username, copt.Password, copt.TLSConfig = opt.Username, opt.Password, opt.TLSConfig
		}
	}
	applyOverrides(cfg, &copt.Username, &copt.Password, &copt.TLSConfig)
	copt.PoolSize = cfg.PoolSize
	copt.DialTimeout, copt.ReadTimeout, copt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
	copt.MaxRetries = 3
	return redis.NewClusterClient(copt), nil
}

func applyOverrides(cfg Config, user, pass *string, tlsCfg **tls.Config) {
	if cfg.Username != "" {
		*user = cfg.Username
	}
	if cfg.Password != "" {
		*pass = cfg.Password
	}
	if cfg.TLS != nil {
		// Keep the server name rediss:// derived from the URL's host (Go
		// verifies the certificate against it); go-redis uses the first
		// seed's for every node of a cluster.
		t := cfg.TLS.Clone()
		if t.ServerName == "" && *tlsCfg != nil {
			t.ServerName = (*tlsCfg).ServerName
		}
		*tlsCfg = t
	}
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// RedactURL removes the password from a Redis URL so it can be logged.
func RedactURL(raw string) string {
	var parts []string
	for _, u := range splitURLs(raw) {
		p, err := url.Parse(u)
		if err != nil {
			parts = append(parts, "<unparseable url>")
			continue
		}
		parts = append(parts, p.Redacted())
	}
	return strings.Join(parts, ",")
}

// redactErr keeps a URL parse error from echoing a password.
func redactErr(err error, raw string) error {
	msg := err.Error()
	if p, perr := url.Parse(raw); perr == nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return errors.New(msg)
}
