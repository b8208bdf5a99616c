package stats

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// gated is the real Redis store with a count of computations (listings),
// an optional gate each listing waits at, and an optional failure.
type gated struct {
	Source
	lists atomic.Int32
	gate  chan struct{} // nil: no wait
	fail  atomic.Bool
	// took, when set, is how long a computation appears to take: the
	// listing moves clk on by it.
	took time.Duration
	clk  *clock
}

func (g *gated) EachCustomerID(ctx context.Context, n int, fn func([]string) error) error {
	g.lists.Add(1)
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if g.fail.Load() {
		return errors.New("injected failure")
	}
	if g.took > 0 {
		g.clk.Advance(g.took)
	}
	return g.Source.EachCustomerID(ctx, n, fn)
}

// clock is a settable wall clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func writeCustomer(t *testing.T, srv *testutil.RedisServer, id string) {
	t.Helper()
	err := srv.Client().HSet(context.Background(), store.Key(id), "orders", "1", "revenue", "10.00", "gross_profit", "4.00",
		"ltv", "12.00", "tier", "bronze", "first_order_at", "2025-01-01T00:00:00Z", "churned", "0", "segment", "new").Err()
	if err != nil {
		t.Fatal(err)
	}
}

func newTestProvider(t *testing.T, cfg Config) (*Provider, *gated, *clock, *testutil.RedisServer) {
	t.Helper()
	srv := testutil.StartRedis(t)
	writeCustomer(t, srv, "c-1")
	src := &gated{Source: srv.Store()}
	clk := &clock{now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	src.clk = clk
	cfg.Source, cfg.Now = src, clk.Now
	p, err := NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, src, clk, srv
}

func ctxT(t *testing.T) context.Context { return testutil.Context(t, time.Minute) }

// TestProviderCachesForTheRefreshInterval: within the interval the cached
// figures are served (new customers unseen); the first request after it
// still gets them, and starts the refresh whose figures the next requests
// get. (A fixed interval, no waiting: the adaptive ones are
// TestProviderRefreshesAsOftenAsItIsCheap's.)
func TestProviderCachesForTheRefreshInterval(t *testing.T) {
	p, src, clk, srv := newTestProvider(t, Config{Refresh: 30 * time.Second, MinRefresh: 30 * time.Second, FreshWait: -1})
	steps := []struct {
		advance        time.Duration
		addCustomer    string
		wantPopulation int64
		wantLists      int32 // computations once this request's has ended
	}{
		{0, "", 1, 1},
		{10 * time.Second, "c-2", 1, 1}, // cached: c-2 not seen yet
		{19 * time.Second, "", 1, 1},    // 29 s after: still cached
		{time.Second, "", 1, 2},         // 30 s: served, and refreshed behind
		{0, "", 2, 2},                   // the refreshed figures
		{5 * time.Second, "c-3", 2, 2},
		{30 * time.Second, "", 2, 3},
		{0, "", 3, 3},
	}
	var prev *report.Stats
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.addCustomer != "" {
			writeCustomer(t, srv, s.addCustomer)
		}
		st, err := p.Stats(ctxT(t))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		waitIdle(t, p)
		if st.Population != s.wantPopulation || src.lists.Load() != s.wantLists {
			t.Errorf("step %d: population %d after %d computations, want %d after %d", i, st.Population, src.lists.Load(), s.wantPopulation, s.wantLists)
		}
		if recomputed := st != prev; recomputed != (prev == nil || s.wantPopulation != prev.Population) {
			t.Errorf("step %d: recomputed %v", i, recomputed)
		}
		if recomputedAt := clk.Now().Truncate(time.Second); st != prev && !st.GeneratedAt.Equal(recomputedAt) {
			t.Errorf("step %d: generated_at %v, want %v", i, st.GeneratedAt, recomputedAt)
		}
		prev = st
	}
}

// waitWaiters polls until the computation under way has n waiting callers.
func waitWaiters(t *testing.T, p *Provider, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		got := 0
		if p.flight != nil {
			got = p.flight.waiters
		}
		p.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
}

// TestProviderSharesOneComputation: callers arriving while a computation
// runs wait for it; one giving up does not stop it for the others.
func TestProviderSharesOneComputation(t *testing.T) {
	p, src, _, _ := newTestProvider(t, Config{})
	src.gate = make(chan struct{})
	const callers = 20
	results := make([]*report.Stats, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = p.Stats(ctxT(t)) })
	}
	waitWaiters(t, p, callers)
	impatient, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := p.Stats(impatient); gaveUp <- err }()
	waitWaiters(t, p, callers+1)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(src.gate)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || results[i] != results[0] || results[i].Population != 1 {
			t.Fatalf("caller %d: %v, %p vs %p", i, errs[i], results[i], results[0])
		}
	}
	if n := src.lists.Load(); n != 1 {
		t.Errorf("%d computations for %d callers, want 1", n, callers+1)
	}
}

// TestProviderErrorsAndRetries: a failed computation's error reaches its
// callers and is not cached; the next call computes again.
func TestProviderErrorsAndRetries(t *testing.T) {
	p, src, _, _ := newTestProvider(t, Config{})
	src.fail.Store(true)
	if _, err := p.Stats(ctxT(t)); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("error %v", err)
	}
	src.fail.Store(false)
	st, err := p.Stats(ctxT(t))
	if err != nil || st.Population != 1 || src.lists.Load() != 2 {
		t.Fatalf("after the failure: %v, %+v, %d computations", err, st, src.lists.Load())
	}
}

// TestProviderCloseStopsTheComputation: Close cancels a computation under
// way, its callers get an error, and later calls get ErrClosed.
func TestProviderCloseStopsTheComputation(t *testing.T) {
	p, src, _, _ := newTestProvider(t, Config{})
	src.gate = make(chan struct{}) // never opened
	got := make(chan error, 1)
	go func() { _, err := p.Stats(ctxT(t)); got <- err }()
	waitWaiters(t, p, 1)
	p.Close()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting caller: %v", err)
	}
	if _, err := p.Stats(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	p.Close() // idempotent
}

func TestProviderConfig(t *testing.T) {
	srv := testutil.StartRedis(t)
	src := srv.Store()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no source", Config{}, "no source"},
		{"bad edges", Config{Source: src, Report: report.Config{Edges: []decimal.Decimal{decimal.NewFromInt(5)}}}, "must start at 0"},
		{"bad cost", Config{Source: src, Report: report.Config{CAC: map[string]decimal.Decimal{"tv": decimal.NewFromInt(-1)}}}, "above 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewProvider(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	p, err := NewProvider(Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.cfg.Refresh != DefaultRefresh || p.cfg.SampleLimit != DefaultSampleLimit || p.cfg.Timeout != DefaultTimeout || p.cfg.MaxStale != DefaultMaxStale {
		t.Errorf("defaults %+v", p.cfg)
	}
	for _, tc := range []struct{ refresh, maxStale, want time.Duration }{
		{time.Hour, 0, 2 * time.Hour},           // default: at least two intervals
		{time.Minute, time.Second, time.Minute}, // never below the interval
		{time.Minute, time.Hour, time.Hour},     // as set
	} {
		q, err := NewProvider(Config{Source: src, Refresh: tc.refresh, MaxStale: tc.maxStale})
		if err != nil {
			t.Fatal(err)
		}
		if q.cfg.MaxStale != tc.want {
			t.Errorf("refresh %s, max stale %s: got %s, want %s", tc.refresh, tc.maxStale, q.cfg.MaxStale, tc.want)
		}
		q.Close()
	}
}

// TestProviderSamples: above its sample limit the provider reads a sample.
func TestProviderSamples(t *testing.T) {
	p, _, _, srv := newTestProvider(t, Config{SampleLimit: 2})
	for _, id := range []string{"c-2", "c-3", "c-4"} {
		writeCustomer(t, srv, id)
	}
	st, err := p.Stats(ctxT(t))
	if err != nil || !st.Sampled || st.SampleSize != 2 || st.Population != 4 || st.Tiers["bronze"] != 4 {
		t.Fatalf("%v %+v", err, st)
	}
}

// TestProviderLogsSkippedCustomers: a customer whose fields cannot be read
// is left out of the figures; the figures count it, the log says which.
func TestProviderLogsSkippedCustomers(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	p, _, _, srv := newTestProvider(t, Config{Logger: zap.New(core)})
	if err := srv.Client().HSet(context.Background(), store.Key("c-bad"), "orders", "two", "tier", "bronze").Err(); err != nil {
		t.Fatal(err)
	}
	st, err := p.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped.Unreadable != 1 || st.Skipped.Total() != 1 {
		t.Fatalf("skipped %+v, want 1 unreadable", st.Skipped)
	}
	entries := logs.FilterMessage("keys left out of the statistics").All()
	if len(entries) != 1 || entries[0].ContextMap()["unreadable"] != int64(1) || !strings.Contains(entries[0].ContextMap()["first"].(string), "c-bad") {
		t.Fatalf("log entries %+v, want one naming c-bad", logs.All())
	}
}
