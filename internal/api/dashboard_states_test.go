package api_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// fixedStats is a StatsSource that always answers the same.
type fixedStats struct {
	st  *report.Stats
	err error
}

func (f fixedStats) Stats(context.Context) (*report.Stats, error) { return f.st, f.err }

// statsOf serves the figures of the given customers (id → stored public
// fields) as a report as of 2026-12-01 computes them, generated now.
func statsOf(t *testing.T, customers map[string]map[string]string) fixedStats {
	t.Helper()
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for id, h := range customers {
		if err := acc.Add(id, h); err != nil {
			t.Fatal(err)
		}
	}
	return fixedStats{st: acc.Stats(report.Meta{GeneratedAt: time.Now(), Population: int64(len(customers))})}
}

// smallStats are the statistics of three customers: two in the lowest LTV
// band and one in the next, so the histogram's largest band holds 2; and a
// cohort whose first order is after the as-of time, so it has no
// customer-months and its ARPU is null.
func smallStats(t *testing.T) *report.Stats {
	t.Helper()
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for id, h := range map[string]map[string]string{
		"a": {"orders": "1", "revenue": "10.00", "gross_profit": "4.00", "churned": "0", "ltv": "40.00", "tier": "bronze", "segment": "new",
			"first_order_at": "2026-11-01T00:00:00Z", "last_order_at": "2026-11-01T00:00:00Z", "channel": "email"},
		"b": {"orders": "1", "revenue": "15.00", "gross_profit": "6.00", "churned": "0", "ltv": "60.00", "tier": "bronze", "segment": "new",
			"first_order_at": "2026-11-02T00:00:00Z", "last_order_at": "2026-11-02T00:00:00Z", "channel": "email"},
		"c": {"orders": "1", "revenue": "200.00", "gross_profit": "80.00", "churned": "0", "ltv": "700.00", "tier": "bronze", "segment": "new",
			"first_order_at": "2027-01-05T00:00:00Z", "last_order_at": "2027-01-05T00:00:00Z", "channel": "email"},
	} {
		if err := acc.Add(id, h); err != nil {
			t.Fatal(err)
		}
	}
	return acc.Stats(report.Meta{GeneratedAt: time.Now()})
}

// shownState is what these tests read off the page.
type shownState struct {
	Ticks       []string `json:"ticks"`
	ShadedNulls int      `json:"shadedNulls"`
	Status      string   `json:"status"`
	Changes     string   `json:"changes"`
	// ChannelWidths are the widths in pixels of the cohort table's
	// channel cells; Overflow is how far the cohort and the channel
	// tables run past their boxes.
	ChannelWidths []float64 `json:"channelWidths"`
	Overflow      []float64 `json:"overflow"`
}

const readShown = `(() => ({
  ticks: [...document.querySelectorAll("#histogram svg text[text-anchor=end]")].map((e) => e.textContent),
  shadedNulls: [...document.querySelectorAll("#cohorts td")].filter((td) => td.textContent === "—" && td.style.backgroundColor !== "").length,
  status: document.getElementById("status-text").textContent,
  changes: document.getElementById("changes").textContent,
  channelWidths: [...document.querySelectorAll("#cohorts tbody tr td:nth-child(2)")].map((td) => td.getBoundingClientRect().width),
  overflow: ["cohorts", "channels"].map((id) => { const t = document.getElementById(id); return t.scrollWidth - t.parentElement.clientWidth; }),
}))()`

// showDashboard serves the dashboard over the given statistics (and no
// recent changes: that endpoint answers 503), loads it in headless
// Chromium, waits for its first refresh and reads it.
func showDashboard(t *testing.T, stats api.StatsSource) shownState {
	t.Helper()
	bctx := openDashboard(t, stats, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[shownState](readShown))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return shown
}

// openDashboard serves the dashboard over stats and changes (nil: that
// endpoint answers 503) and opens it in headless Chromium; the browser
// and the server are closed when the test ends.
func openDashboard(t *testing.T, stats api.StatsSource, changes api.ChangesSource) context.Context {
	t.Helper()
	testutil.SkipShort(t, "runs a browser")
	browser := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	// The page reads nothing from Redis directly; an unused client will do.
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rc.Close() })
	cfg := api.Config{Redis: rc, Stats: stats}
	if changes != nil {
		cfg.Changes = changes
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1440, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
		hs.CloseClientConnections()
		hs.Close()
	})
	if err := chromedp.Do(bctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	return bctx
}

// TestDashboardHistogramAxisIsWholeCustomers: with few customers per band
// the count axis is labelled with distinct whole numbers, not quarters of
// the largest band rounded (0, 1, 1, 2, 2 for a largest band of 2).
func TestDashboardHistogramAxisIsWholeCustomers(t *testing.T) {
	shown := showDashboard(t, fixedStats{st: smallStats(t)})
	if len(shown.Ticks) < 2 {
		t.Fatalf("axis labels %q", shown.Ticks)
	}
	seen := map[string]bool{}
	for _, tick := range shown.Ticks {
		if seen[tick] {
			t.Fatalf("axis labels %q repeat %q", shown.Ticks, tick)
		}
		seen[tick] = true
	}
	if got := strings.Join(shown.Ticks, " "); got != "0 1 2" {
		t.Errorf("axis labels %q, want 0 1 2 for a largest band of 2", got)
	}
}

// TestDashboardDoesNotShadeUndefinedFigures: a "—" (a null figure, here
// the ARPU of a cohort without customer-months) is not coloured as the
// lowest value of its column.
func TestDashboardDoesNotShadeUndefinedFigures(t *testing.T) {
	shown := showDashboard(t, fixedStats{st: smallStats(t)})
	if shown.ShadedNulls != 0 {
		t.Errorf("%d cells showing — are shaded", shown.ShadedNulls)
	}
}

// TestDashboardSaysWhenNothingLoads: with every endpoint failing, the
// status does not claim the page was updated just now, and the recent
// changes panel says they are unavailable instead of staying blank.
func TestDashboardSaysWhenNothingLoads(t *testing.T) {
	shown := showDashboard(t, fixedStats{err: errors.New("redis down")})
	if strings.Contains(shown.Status, "updated") || !strings.Contains(shown.Status, "no figures") {
		t.Errorf("status %q while nothing has loaded", shown.Status)
	}
	if !strings.Contains(shown.Changes, "unavailable") {
		t.Errorf("recent changes panel shows %q while they cannot be read", shown.Changes)
	}
}

// TestDashboardKeepsLongChannelNamesNarrow: a long channel name (a UTM
// string) is cut to a bounded width, so the cohort table's figures stay in
// view instead of being pushed off to the right.
func TestDashboardKeepsLongChannelNamesNarrow(t *testing.T) {
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	long := "utm_source=newsletter&utm_medium=email&utm_campaign=black-friday-2026-with-a-rather-long-campaign-name-" + strings.Repeat("x", 40)
	for id, ch := range map[string]string{"a": long, "b": "email"} {
		if err := acc.Add(id, map[string]string{"orders": "1", "revenue": "10.00", "gross_profit": "4.00", "churned": "0", "ltv": "40.00",
			"tier": "bronze", "segment": "new", "first_order_at": "2026-11-01T00:00:00Z", "last_order_at": "2026-11-01T00:00:00Z", "channel": ch}); err != nil {
			t.Fatal(err)
		}
	}
	shown := showDashboard(t, fixedStats{st: acc.Stats(report.Meta{GeneratedAt: time.Now()})})
	if len(shown.ChannelWidths) != 2 {
		t.Fatalf("channel cells %v, want 2 cohort rows", shown.ChannelWidths)
	}
	for _, w := range shown.ChannelWidths {
		if w > 320 {
			t.Errorf("a channel cell is %.0f px wide (cells %v)", w, shown.ChannelWidths)
		}
	}
	for i, name := range []string{"cohort", "channel"} {
		if shown.Overflow[i] > 0 {
			t.Errorf("the %s table runs %.0f px past its box", name, shown.Overflow[i])
		}
	}
}

// hungChanges is a change feed whose brokers do not answer: every read
// fails only after a while (the API's Kafka deadline is 5 s).
type hungChanges struct{ after time.Duration }

func (h hungChanges) Recent(ctx context.Context, _ int) (api.RecentChanges, error) {
	select {
	case <-time.After(h.after):
	case <-ctx.Done():
	}
	return api.RecentChanges{}, errors.New("brokers do not answer")
}

func (hungChanges) Depth() int { return 100 }

// TestDashboardDrawsFiguresWithoutWaitingForKafka: the figures (from
// Redis) are drawn as soon as /v1/stats answers, not after a hung broker
// has made /v1/changes fail.
func TestDashboardDrawsFiguresWithoutWaitingForKafka(t *testing.T) {
	bctx := openDashboard(t, fixedStats{st: smallStats(t)}, hungChanges{after: 5 * time.Second})
	time.Sleep(2 * time.Second)
	population, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("kpi-population").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if population != "3" {
		t.Errorf("2 s after loading, while /v1/changes hangs, the page shows %q customers, want 3", population)
	}
}
