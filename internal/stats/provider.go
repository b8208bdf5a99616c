package stats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"go.uber.org/zap"
)

// Defaults of the Provider's Config.
const (
	DefaultRefresh     = 30 * time.Second
	DefaultSampleLimit = 100_000
	DefaultTimeout     = 5 * time.Minute
)

// ErrClosed is returned by Stats after Close.
var ErrClosed = errors.New("stats provider closed")

// Config configures a Provider.
type Config struct {
	// Source lists and reads the customers (a *store.Redis). Required.
	Source Source
	// Report configures the figures (tiers, histogram edges, acquisition
	// costs). Its AsOf is ignored: each computation is as of its start.
	Report report.Config
	// Refresh is the shortest time between the end of one computation and
	// the start of the next: results younger than this are served from
	// the cache. Default DefaultRefresh (30 s).
	Refresh time.Duration
	// SampleLimit is the largest population read in full; above it a
	// uniform sample of this many customers is read. Default
	// DefaultSampleLimit (100,000); negative: always read everyone.
	SampleLimit int
	// Timeout bounds one computation. Default DefaultTimeout (5 min).
	Timeout time.Duration
	// BatchSize is passed to Read. Default DefaultBatchSize.
	BatchSize int
	// Now is the wall clock (tests set it). Default time.Now.
	Now func() time.Time
	// Logger is told of the keys a computation left out (Stats.Skipped:
	// not customers, or a field that could not be read). Default
	// zap.NewNop().
	Logger *zap.Logger
}

func (c *Config) setDefaults() {
	if c.Refresh <= 0 {
		c.Refresh = DefaultRefresh
	}
	switch {
	case c.SampleLimit == 0:
		c.SampleLimit = DefaultSampleLimit
	case c.SampleLimit < 0:
		c.SampleLimit = 0 // Read's "everyone"
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Provider serves the statistics from a cache, recomputing them at most
// once per refresh interval; concurrent callers that find the cache stale
// share one computation. It is safe for concurrent use. The computation
// runs on a goroutine the Provider owns (so one caller giving up does not
// cancel it for the others); Close stops it.
type Provider struct {
	cfg    Config
	ctx    context.Context // cancelled by Close: the computations' parent
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	last     *report.Stats
	lastDone time.Time // when last was computed (cfg.Now)
	flight   *flight   // the computation under way, nil when none
	closed   bool
}

// flight is one computation; done is closed when stats and err are set.
type flight struct {
	done    chan struct{}
	stats   *report.Stats
	err     error
	waiters int // callers waiting on it (under Provider.mu; for tests)
}

// NewProvider checks cfg (see Config for defaults). Nothing is read until
// the first Stats call.
func NewProvider(cfg Config) (*Provider, error) {
	cfg.setDefaults()
	if cfg.Source == nil {
		return nil, errors.New("stats provider: no source")
	}
	check := cfg.Report
	check.AsOf = time.Unix(0, 0)
	if _, err := report.NewAccumulator(check); err != nil {
		return nil, fmt.Errorf("stats provider: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// Stats returns the latest statistics: from the cache when they were
// computed less than the refresh interval ago, else from a computation,
// started now or already under way for another caller. Cancelling ctx
// stops this caller's wait, not the computation. A failed computation
// returns its error to every caller waiting on it, and the next call
// tries again. The result is shared: do not modify it.
func (p *Provider) Stats(ctx context.Context) (*report.Stats, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if p.last != nil && p.cfg.Now().Sub(p.lastDone) < p.cfg.Refresh {
		s := p.last
		p.mu.Unlock()
		return s, nil
	}
	f := p.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		p.flight = f
		p.wg.Add(1)
		go p.compute(f)
	}
	f.waiters++
	p.mu.Unlock()
	select {
	case <-f.done:
		return f.stats, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("stats: %w", ctx.Err())
	}
}

func (p *Provider) compute(f *flight) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.Timeout)
	defer cancel()
	rc := p.cfg.Report
	rc.AsOf = time.Time{} // as of now
	s, err := Read(ctx, p.cfg.Source, ReadConfig{
		Report:      rc,
		SampleLimit: p.cfg.SampleLimit,
		BatchSize:   p.cfg.BatchSize,
		Now:         p.cfg.Now,
	})
	if err != nil {
		err = fmt.Errorf("stats: %w", err)
	} else if sk := s.Skipped; sk.Total() > 0 {
		p.cfg.Logger.Warn("keys left out of the statistics",
			zap.Int64("not_hash", sk.NotHash), zap.Int64("no_public_fields", sk.NoPublicFields),
			zap.Int64("unreadable", sk.Unreadable), zap.String("first", sk.First))
	}
	p.mu.Lock()
	f.stats, f.err = s, err
	if err == nil {
		p.last, p.lastDone = s, p.cfg.Now()
	}
	p.flight = nil
	p.mu.Unlock()
	close(f.done)
}

// Close cancels a computation under way, waits for it to end, and makes
// every later Stats call fail with ErrClosed. It is idempotent.
func (p *Provider) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}
