// The read API's wiring: ltvctl serve and the demo run it from the
// consumer's configuration.

package service

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

// APIOptions are what ServeAPI takes beside the configuration. Zero
// values take the defaults of internal/stats and internal/api.
type APIOptions struct {
	Logger *zap.Logger // nil: log nothing
	// StatsRefresh, SampleLimit: stats.Config's Refresh and SampleLimit.
	StatsRefresh time.Duration
	SampleLimit  int // see StatsRefresh
	// StatsMaxStale is stats.Config's MaxStale: the oldest figures served
	// while a refresh fails (0: its default).
	StatsMaxStale time.Duration
	// ChangesDepth: api.FeedConfig's Depth.
	ChangesDepth int
	// ChangesMaxAge: api.FeedConfig's MaxAge.
	ChangesMaxAge time.Duration
	// CAC is the acquisition cost per new customer by channel, for the
	// statistics' LTV:CAC (report.Config's CAC).
	CAC map[string]decimal.Decimal
}

// ServeAPI runs the read API and the dashboard of `ltvctl serve` (SPEC
// §11) on ln with the consumer's settings until ctx ends, then shuts down
// gracefully and returns nil. It only reads Redis, and reads the output
// topics without a consumer group.
func ServeAPI(ctx context.Context, cfg *config.Config, ln net.Listener, opt APIOptions) error {
	defer ln.Close()
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	kafkaSec, redisTLS, err := Security(cfg)
	if err != nil {
		return err
	}
	transport, err := kafkaSec.Transport()
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections() // the changes feed's; see Run
	client, err := store.NewClient(store.Config{URL: cfg.RedisURL, Username: cfg.RedisUsername, Password: cfg.RedisPassword, TLS: redisTLS,
		ContextDeadlines: true})
	if err != nil {
		return err
	}
	defer client.Close()
	provider, err := stats.NewProvider(stats.Config{Source: store.NewRedis(client, store.Config{}),
		Report: report.Config{Tiers: cfg.Model.Tiers, CAC: opt.CAC, Currency: cfg.BaseCurrency}, Refresh: opt.StatsRefresh, MaxStale: opt.StatsMaxStale, SampleLimit: opt.SampleLimit,
		Logger: opt.Logger})
	if err != nil {
		return err
	}
	defer provider.Close()
	feed, err := api.NewFeed(api.FeedConfig{Client: stream.NewAdminClient(cfg.Brokers, transport),
		Topics: []string{cfg.ChangesTopic, cfg.SegmentsTopic}, Depth: opt.ChangesDepth, MaxAge: opt.ChangesMaxAge, Logger: opt.Logger})
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{Redis: client, Stats: provider, Changes: feed, CORSOrigins: cfg.APICORSOrigins, Logger: opt.Logger})
	if err != nil {
		return err
	}
	opt.Logger.Info("serving the read API", zap.String("addr", ln.Addr().String()), zap.String("redis", store.RedactURL(cfg.RedisURL)),
		zap.Strings("topics", []string{cfg.ChangesTopic, cfg.SegmentsTopic}), zap.Stringer("kafka", kafkaSec))
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	opt.Logger.Info("read API stopped")
	return nil
}

// URLOf is the URL a person opens for a listening address: a wildcard
// host (":8081") is shown as localhost.
func URLOf(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
