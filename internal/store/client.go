// The Redis client: Redis URLs (one, or several for Redis Cluster),
// credentials and TLS, and the standalone or Cluster client built from them.

package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ltv-stream/ltv-stream/internal/settings"
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
	// ContextDeadlines makes a command end at its context's deadline when
	// that comes before ReadTimeout (go-redis otherwise ignores it), for
	// callers that answer within a bound, such as the read API.
	ContextDeadlines bool
}

func (c *Config) setDefaults() {
	settings.IfZero(&c.URL, "redis://localhost:6379/0")
	settings.Positive(&c.KeysPerScript, 64)
	settings.Positive(&c.PoolSize, 32)
	settings.Positive(&c.DialTimeout, 5*time.Second)
	settings.Positive(&c.ReadTimeout, 5*time.Second)
	settings.Positive(&c.WriteTimeout, 5*time.Second)
}

// protocol is the RESP version every client speaks, whatever the URL
// asks for: RESP2, which every Redis version and proxy understands, and in
// which HGETALL answers with a flat list of field, value pairs that a load
// decodes as it comes (Redis.LoadTo) instead of a map built to be read once.
const protocol = 2

// NewClient builds a standalone client for one URL, or a cluster client
// when the URL lists several nodes.
func NewClient(cfg Config) (redis.UniversalClient, error) {
	cfg.setDefaults()
	urls := settings.SplitList(cfg.URL)
	if len(urls) == 0 {
		return nil, errors.New("redis: empty URL")
	}
	if len(urls) == 1 {
		opt, err := redis.ParseURL(urls[0])
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", redactErr(err, urls[0]))
		}
		if opt.DB < 0 {
			// go-redis would skip SELECT and use database 0.
			return nil, fmt.Errorf("redis url: database %d is negative", opt.DB)
		}
		if err := checkPort(opt.Addr); err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		applyOverrides(cfg, &opt.Username, &opt.Password, &opt.TLSConfig)
		opt.PoolSize = cfg.PoolSize
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
		opt.MaxRetries = 3
		opt.ContextTimeoutEnabled = cfg.ContextDeadlines
		opt.Protocol = protocol
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
		if err := checkPort(opt.Addr); err != nil {
			return nil, fmt.Errorf("redis cluster url %d: %w", i+1, err)
		}
		copt.Addrs = append(copt.Addrs, opt.Addr)
		if i == 0 {
			copt.Username, copt.Password, copt.TLSConfig = opt.Username, opt.Password, opt.TLSConfig
			continue
		}
		// One client reaches every node with one scheme and one set of
		// credentials: a node's own would be dropped silently.
		if (opt.TLSConfig != nil) != (copt.TLSConfig != nil) || opt.Username != copt.Username || opt.Password != copt.Password {
			return nil, fmt.Errorf("redis cluster url %d: its scheme (redis:// or rediss://) and credentials must be those of the first", i+1)
		}
	}
	applyOverrides(cfg, &copt.Username, &copt.Password, &copt.TLSConfig)
	copt.PoolSize = cfg.PoolSize
	copt.DialTimeout, copt.ReadTimeout, copt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
	copt.MaxRetries = 3
	copt.ContextTimeoutEnabled = cfg.ContextDeadlines
	copt.Protocol = protocol
	return redis.NewClusterClient(copt), nil
}

// checkPort refuses an address whose port no server can listen on (0, or
// above 65535): go-redis takes it and then fails to dial for as long as
// the service runs. The Kafka brokers' ports are checked alike.
func checkPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // not host:port (a unix socket path): go-redis's to judge
	}
	if n, ok := settings.Port(port); !ok || n == 0 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
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

// RedactURL removes the password from a Redis URL so it can be logged.
func RedactURL(raw string) string {
	var parts []string
	for _, u := range settings.SplitList(raw) {
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
	// A URL that does not parse is quoted whole in url.Error, password
	// included, and even the inner error may hold part of it (an escape
	// such as "%RE"): say only what to check.
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return errors.New("not a valid URL (characters such as % @ : / in the user name or password must be percent-encoded)")
	}
	msg := err.Error()
	if p, perr := url.Parse(raw); perr == nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return errors.New(msg)
}
