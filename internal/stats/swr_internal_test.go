package stats

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// waitIdle polls until no computation is under way.
func waitIdle(t *testing.T, p *Provider) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		idle := p.flight == nil
		p.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the computation did not end")
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
}

// waitLists polls until n computations have started listing.
func waitLists(t *testing.T, src *gated, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for src.lists.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d computations started, want %d", src.lists.Load(), n)
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
}

// TestProviderServesTheLastFiguresWhileRefreshing: once there are
// figures, and with FreshWait off, no caller waits for a refresh. Callers that find the figures
// older than the refresh interval get them at once, however long the
// refresh takes; exactly one refresh runs; its figures are served once it
// ends.
func TestProviderServesTheLastFiguresWhileRefreshing(t *testing.T) {
	p, src, clk, srv := newTestProvider(t, Config{Refresh: 30 * time.Second, MinRefresh: 30 * time.Second, FreshWait: -1})
	first, err := p.Stats(ctxT(t))
	if err != nil || first.Population != 1 {
		t.Fatalf("first computation: %v %+v", err, first)
	}
	src.gate = make(chan struct{}) // the refresh hangs until opened
	writeCustomer(t, srv, "c-2")
	clk.Advance(31 * time.Second)
	const callers = 20
	var wg sync.WaitGroup
	got := make([]*report.Stats, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			// A caller that waited for the hung refresh would run out of
			// this second.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			got[i], errs[i] = p.Stats(ctx)
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i] != first {
			t.Fatalf("caller %d during the refresh: %v, %p; want the last figures %p at once", i, errs[i], got[i], first)
		}
	}
	// The refresh started by the first of them runs on (it has reached
	// the gate, or soon will); none other started beside it.
	waitLists(t, src, 2)
	p.mu.Lock()
	running := p.flight != nil
	p.mu.Unlock()
	if n := src.lists.Load(); n != 2 || !running {
		t.Errorf("%d computations, refresh running %v; want the first and exactly one refresh, running", n, running)
	}
	close(src.gate)
	waitIdle(t, p)
	st, err := p.Stats(ctxT(t))
	if err != nil || st.Population != 2 || !st.GeneratedAt.Equal(clk.Now().Truncate(time.Second)) || st.RefreshError != nil {
		t.Fatalf("after the refresh: %v %+v", err, st)
	}
	if n := src.lists.Load(); n != 2 {
		t.Errorf("%d computations after the refresh, want 2", n)
	}
}

// TestProviderRefreshesAsOftenAsItIsCheap: a refresh is due once the
// figures are older than ten times the last computation took (at least
// MinRefresh, at most Refresh), and a request that finds one due waits
// for it where computing is quick (at most half of FreshWait), and gets
// the last figures at once otherwise.
func TestProviderRefreshesAsOftenAsItIsCheap(t *testing.T) {
	cases := []struct {
		name     string
		took     time.Duration // how long each computation takes
		interval time.Duration // how old the figures may grow
		waits    bool          // the request that finds them older gets the new figures
	}{
		{"instant: the floor", 0, DefaultMinRefresh, true},
		{"quick", 100 * time.Millisecond, time.Second, true},
		{"as long as waited for", 250 * time.Millisecond, 2500 * time.Millisecond, true},
		{"too slow to wait for", 2 * time.Second, 20 * time.Second, false},
		{"slow: the ceiling", 10 * time.Second, 30 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, src, clk, srv := newTestProvider(t, Config{Refresh: 30 * time.Second})
			src.took = tc.took
			if st, err := p.Stats(ctxT(t)); err != nil || st.Population != 1 {
				t.Fatalf("first computation: %v %+v", err, st)
			}
			writeCustomer(t, srv, "c-2")
			clk.Advance(tc.interval - time.Millisecond)
			st, err := p.Stats(ctxT(t))
			waitIdle(t, p)
			if err != nil || st.Population != 1 || src.lists.Load() != 1 {
				t.Fatalf("just within %v: %v, %+v after %d computations; want the cached figures", tc.interval, err, st, src.lists.Load())
			}
			clk.Advance(time.Millisecond)
			st, err = p.Stats(ctxT(t))
			waitIdle(t, p)
			if err != nil || src.lists.Load() != 2 {
				t.Fatalf("at %v: %v after %d computations; want a refresh", tc.interval, err, src.lists.Load())
			}
			if got := st.Population == 2; got != tc.waits {
				t.Errorf("at %v: population %d; want the new figures at once: %v", tc.interval, st.Population, tc.waits)
			}
			if st, err = p.Stats(ctxT(t)); err != nil || st.Population != 2 {
				t.Fatalf("after the refresh: %v %+v", err, st)
			}
		})
	}
}

// TestProviderIsFreshOnTheWallClock: with the defaults and the real clock,
// a small population's customer written after the figures were computed
// is in the answer of the first request once the (short) interval has
// passed: no second request, no 30 s wait.
func TestProviderIsFreshOnTheWallClock(t *testing.T) {
	srv := testutil.StartRedis(t)
	writeCustomer(t, srv, "c-1")
	p, err := NewProvider(Config{Source: srv.Store()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if st, err := p.Stats(ctxT(t)); err != nil || st.Population != 1 {
		t.Fatalf("first computation: %v %+v", err, st)
	}
	writeCustomer(t, srv, "c-2")
	p.mu.Lock()
	interval, took := p.interval(), p.lastTook
	p.mu.Unlock()
	if interval >= DefaultRefresh {
		t.Fatalf("interval %v after a computation of %v; want it below Refresh", interval, took)
	}
	time.Sleep(interval + 10*time.Millisecond) // let the figures come due
	if st, err := p.Stats(ctxT(t)); err != nil || st.Population != 2 {
		t.Fatalf("one request after %v: %v, %+v; want the new customer counted", interval, err, st)
	}
}

// TestProviderWaitsAtMostFreshWait: a quick computation that hangs holds
// its caller no longer than FreshWait after it began; the caller then gets
// the last figures, later callers get them at once, and the refresh goes
// on for the callers after it.
func TestProviderWaitsAtMostFreshWait(t *testing.T) {
	const freshWait = 200 * time.Millisecond
	p, src, clk, srv := newTestProvider(t, Config{Refresh: 30 * time.Second, FreshWait: freshWait})
	first, err := p.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	src.gate = make(chan struct{})
	writeCustomer(t, srv, "c-2")
	clk.Advance(time.Minute)
	start := time.Now()
	st, err := p.Stats(ctxT(t))
	waited := time.Since(start)
	if err != nil || st != first {
		t.Fatalf("during a hung refresh: %v, %p; want the last figures %p", err, st, first)
	}
	if waited < freshWait {
		t.Errorf("answered after %v, before FreshWait %v: the refresh was not waited for", waited, freshWait)
	}
	// The refresh, still hung, began more than FreshWait ago: the callers
	// after it are not held at all.
	start = time.Now()
	if st, err = p.Stats(ctxT(t)); err != nil || st != first {
		t.Fatalf("later, during the hung refresh: %v, %p; want the last figures %p", err, st, first)
	}
	if waited = time.Since(start); waited >= freshWait/2 {
		t.Errorf("a caller after FreshWait waited %v for the hung refresh", waited)
	}
	close(src.gate)
	waitIdle(t, p)
	if st, err = p.Stats(ctxT(t)); err != nil || st.Population != 2 {
		t.Fatalf("after the refresh: %v %+v", err, st)
	}
}

// TestProviderRefreshFailure: a failed refresh keeps the last good figures
// served, saying why in refresh_error (generated_at says how old they
// are), and is retried once per refresh interval, not on every request.
// Figures older than MaxStale are never served: callers then wait for a
// computation as for the first one, and get its error if it fails.
func TestProviderRefreshFailure(t *testing.T) {
	p, src, clk, _ := newTestProvider(t, Config{Refresh: 30 * time.Second, MinRefresh: 30 * time.Second, FreshWait: -1, MaxStale: 5 * time.Minute})
	good, err := p.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	src.fail.Store(true)
	steps := []struct {
		advance   time.Duration
		wantLists int32
		wantErr   bool // the last good figures are too old
		wantStale bool // served with refresh_error
	}{
		{31 * time.Second, 2, false, false}, // served at once; the refresh fails behind
		{0, 2, false, true},                 // the failure is told
		{10 * time.Second, 2, false, true},  // not retried within the interval
		{25 * time.Second, 3, false, true},  // retried after it
		{3 * time.Minute, 4, false, true},   // 4 min 6 s old: still served
		{time.Minute, 5, true, false},       // 5 min 6 s old: waited for, failed
		{0, 6, true, false},                 // and again, no throttle while nothing can be served
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		st, err := p.Stats(ctxT(t))
		waitIdle(t, p)
		if n := src.lists.Load(); n != s.wantLists {
			t.Errorf("step %d: %d computations, want %d", i, n, s.wantLists)
		}
		if s.wantErr {
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Errorf("step %d: %v, %+v; want the refresh's error", i, err, st)
			}
			continue
		}
		if err != nil || st.GeneratedAt != good.GeneratedAt || st.Population != good.Population {
			t.Fatalf("step %d: %v %+v; want the last good figures", i, err, st)
		}
		if stale := st.RefreshError != nil; stale != s.wantStale || (stale && !strings.Contains(*st.RefreshError, "injected failure")) {
			t.Errorf("step %d: refresh_error %v, want one: %v", i, st.RefreshError, s.wantStale)
		}
		if good.RefreshError != nil {
			t.Fatalf("step %d: the shared figures were modified", i)
		}
	}
	src.fail.Store(false)
	st, err := p.Stats(ctxT(t))
	if err != nil || st.RefreshError != nil || !st.GeneratedAt.Equal(clk.Now().Truncate(time.Second)) {
		t.Fatalf("once the source is back: %v %+v", err, st)
	}
}

// TestProviderCloseStopsARefresh: a refresh running in the background is
// the provider's: Close cancels it and waits for it.
func TestProviderCloseStopsARefresh(t *testing.T) {
	p, src, clk, _ := newTestProvider(t, Config{Refresh: time.Second})
	if _, err := p.Stats(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	src.gate = make(chan struct{}) // never opened
	clk.Advance(2 * time.Second)
	if _, err := p.Stats(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the refresh")
	}
	if _, err := p.Stats(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
