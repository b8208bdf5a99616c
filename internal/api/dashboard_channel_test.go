package api_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/report"
)

// TestDashboardTellsTheNoneChannelFromNoChannel: customers without a
// channel show as "(none)"; a channel a producer literally named "(none)"
// must not be shown as the same row name.
func TestDashboardTellsTheNoneChannelFromNoChannel(t *testing.T) {
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for id, ch := range map[string]string{"a": "", "b": "(none)", "c": "email"} {
		h := map[string]string{"orders": "1", "revenue": "10.00", "gross_profit": "4.00", "churned": "0", "ltv": "40.00",
			"tier": "bronze", "segment": "new", "first_order_at": "2026-11-01T00:00:00Z", "last_order_at": "2026-11-01T00:00:00Z"}
		if ch != "" {
			h["channel"] = ch
		}
		if err := acc.Add(id, h); err != nil {
			t.Fatal(err)
		}
	}
	bctx := openDashboard(t, fixedStats{st: acc.Stats(report.Meta{GeneratedAt: time.Now()})}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#channels tbody tr[data-channel]`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#channels tbody tr[data-channel] td:first-child")].map((td) => td.textContent).sort()`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	want := []string{`"(none)"`, "(none)", "email"}
	if len(names) != len(want) {
		t.Fatalf("channel rows %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("channel rows %q, want %q", names, want)
			break
		}
	}
}
