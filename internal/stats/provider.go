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
	DefaultMinRefresh  = 250 * time.Millisecond
	DefaultFreshWait   = 500 * time.Millisecond
	DefaultSampleLimit = 100_000
	DefaultTimeout     = 5 * time.Minute
	DefaultMaxStale    = 10 * time.Minute
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
	// Refresh is the longest the figures go unrefreshed while requests
	// come: a request that finds them older starts a refresh. A refresh
	// is due sooner when computing is cheap: once the figures are older
	// than refreshCostFactor times the last computation took (at least
	// MinRefresh), so polling keeps Redis busy with the statistics for a
	// bounded share of the time, and a small population's figures stay
	// seconds fresh instead of Refresh old. After a failed computation
	// the next one starts no sooner than Refresh after it. Default
	// DefaultRefresh (30 s).
	Refresh time.Duration
	// MinRefresh is the shortest time between the end of one computation
	// and the start of the next, however quick they are. Default
	// DefaultMinRefresh (250 ms); at most Refresh.
	MinRefresh time.Duration
	// FreshWait is how long after a refresh began requests that find it
	// due wait for it, when the last computation took at most half of it:
	// fresh figures at the cost of a short wait, where they are quick to
	// compute. Past it, or when computing takes longer, a request gets the
	// last figures at once (the refresh goes on in the background). Default
	// DefaultFreshWait (500 ms); negative: never wait while there are
	// figures to serve.
	FreshWait time.Duration
	// MaxStale bounds how old served figures may be: older ones (a refresh
	// keeps failing, or nobody asked for a long while) are not served, and
	// callers wait for a computation as for the first one. Default the
	// larger of DefaultMaxStale (10 min) and twice Refresh; at least
	// Refresh.
	MaxStale time.Duration
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
	if c.MinRefresh <= 0 {
		c.MinRefresh = DefaultMinRefresh
	}
	c.MinRefresh = min(c.MinRefresh, c.Refresh)
	switch {
	case c.FreshWait == 0:
		c.FreshWait = DefaultFreshWait
	case c.FreshWait < 0:
		c.FreshWait = 0
	}
	switch {
	case c.SampleLimit == 0:
		c.SampleLimit = DefaultSampleLimit
	case c.SampleLimit < 0:
		c.SampleLimit = 0 // Read's "everyone"
	}
	if c.MaxStale <= 0 {
		c.MaxStale = max(DefaultMaxStale, 2*c.Refresh)
	}
	c.MaxStale = max(c.MaxStale, c.Refresh)
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

// Provider serves the statistics from a cache and keeps it fresh without
// making callers wait long (stale-while-revalidate): once there are
// figures, a caller that finds them older than the refresh interval
// starts one computation for the callers after it, and gets the last
// figures at once, or, where computing is quick (Config.FreshWait), the
// new ones after a short wait. The interval adapts to the cost: a multiple
// of the last computation's time, between MinRefresh and Refresh. Only the
// first computation (no figures yet), or one after the figures grew older
// than MaxStale, is waited for in full, by every caller at once. At most
// one computation runs at a time, on a goroutine the Provider owns (one
// caller giving up does not cancel it for the others); Close stops it.
// Safe for concurrent use.
//
// Refreshes are started by requests, not by a timer: without callers
// (no dashboard open) the Provider walks Redis not at all, and the figures
// served are never older than the interval plus one computation while
// anyone polls.
type Provider struct {
	cfg    Config
	ctx    context.Context // cancelled by Close: the computations' parent
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	last     *report.Stats // the last good figures, as computed
	served   *report.Stats // last, or a copy naming the refresh that failed since
	lastDone time.Time     // when last was computed (cfg.Now)
	lastEnd  time.Time     // when the last computation ended, well or not
	lastTook time.Duration // how long the last good computation took
	flight   *flight       // the computation under way, nil when none
	closed   bool
}

// flight is one computation; done is closed when stats and err are set.
type flight struct {
	done    chan struct{}
	stats   *report.Stats
	err     error
	waiters int // callers waiting on it (under Provider.mu; for tests)
	// started is when it began, on the wall clock that FreshWait counts
	// on: a quick refresh is waited for only until FreshWait after it.
	started time.Time
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

// Stats returns the latest statistics. Figures younger than MaxStale are
// returned at once; when they are older than the refresh interval and no
// computation is under way, one is started in the background (after a
// failed one, no sooner than Refresh after it ended), and a caller that
// finds a refresh due, while computing is quick, waits up to FreshWait for
// its figures (ctx ending cuts the wait short). A refresh that
// failed leaves the last good figures served, as a copy whose
// RefreshError says why (GeneratedAt says how old they are). Without
// figures young enough, the caller waits for a computation, started now
// or already under way; cancelling ctx stops this caller's wait, not the
// computation, and a failed computation returns its error to every
// caller waiting on it. The result is shared: do not modify it.
func (p *Provider) Stats(ctx context.Context) (*report.Stats, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	now := p.cfg.Now()
	usable := p.last != nil && now.Sub(p.lastDone) <= p.cfg.MaxStale
	interval := p.interval()
	stale := p.last == nil || now.Sub(p.lastDone) >= interval
	gap := interval
	if p.lastEnd.After(p.lastDone) {
		gap = p.cfg.Refresh // the last computation failed: retry at the slow pace
	}
	f := p.flight
	if f == nil && (!usable || (stale && now.Sub(p.lastEnd) >= gap)) {
		f = &flight{done: make(chan struct{}), started: time.Now()}
		p.flight = f
		p.wg.Add(1)
		go p.compute(p.ctx, f)
	}
	if usable {
		s := p.served
		var wait time.Duration
		if f != nil && stale && p.lastTook <= p.cfg.FreshWait/2 {
			// Until FreshWait after the refresh began: a refresh that
			// hangs holds each caller less, and those after FreshWait not
			// at all.
			wait = p.cfg.FreshWait - time.Since(f.started)
		}
		p.mu.Unlock()
		if wait <= 0 {
			return s, nil
		}
		return p.freshOr(ctx, f, s, wait), nil
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

// interval is how old the figures may grow before a request refreshes
// them: refreshCostFactor times the last good computation, within
// [MinRefresh, Refresh]. Called with p.mu held.
func (p *Provider) interval() time.Duration {
	return min(max(refreshCostFactor*p.lastTook, p.cfg.MinRefresh), p.cfg.Refresh)
}

// refreshCostFactor bounds the share of time the statistics keep Redis
// busy while polled: a refresh is due no sooner than this many times the
// last one took (about a tenth of the time, at most, spent computing).
const refreshCostFactor = 10

// freshOr waits up to wait for the computation f and returns the figures
// served once it has ended (its own, or the last good ones saying it
// failed), or old, the figures served before, if it has not.
func (p *Provider) freshOr(ctx context.Context, f *flight, old *report.Stats, wait time.Duration) *report.Stats {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-f.done:
	case <-timer.C:
		return old
	case <-ctx.Done():
		return old
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served
}

// compute runs one computation and publishes its result.
func (p *Provider) compute(ctx context.Context, f *flight) {
	defer p.wg.Done()
	start := p.cfg.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
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
		p.cfg.Logger.Warn("statistics not refreshed", zap.Error(err))
	} else if sk := s.Skipped; sk.Total() > 0 {
		p.cfg.Logger.Warn("keys left out of the statistics",
			zap.Int64("not_hash", sk.NotHash), zap.Int64("no_public_fields", sk.NoPublicFields),
			zap.Int64("unreadable", sk.Unreadable), zap.String("first", sk.First))
	}
	p.mu.Lock()
	f.stats, f.err = s, err
	p.lastEnd = p.cfg.Now()
	switch {
	case err == nil:
		p.last, p.served, p.lastDone = s, s, p.lastEnd
		p.lastTook = p.lastEnd.Sub(start)
	case p.last != nil:
		// The last good figures stay served, saying so; the shared
		// original is left as it is.
		stale := *p.last
		msg := fmt.Sprintf("refresh at %s failed: %v", p.lastEnd.UTC().Format(time.RFC3339), err)
		stale.RefreshError = &msg
		p.served = &stale
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
