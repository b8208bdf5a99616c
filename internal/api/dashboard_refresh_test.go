package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardSaysWhenTheFiguresAreStale: when /v1/stats serves the last
// good figures because its refresh failed (refresh_error), the page draws
// them, but the banner gives the reason and the status says they are
// stale and when they were computed, instead of "updated" just now.
func TestDashboardSaysWhenTheFiguresAreStale(t *testing.T) {
	st := *smallStats(t)
	st.GeneratedAt = time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Second)
	msg := "refresh at 2026-12-05T09:03:00Z failed: stats: read customers: redis down"
	st.RefreshError = &msg
	bctx := openDashboard(t, fixedStats{st: &st}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	banner, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("banner").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("status-text").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, "redis down") || !strings.Contains(banner, "3 min ago") {
		t.Errorf("banner %q, want the refresh's error and the figures' age", banner)
	}
	if strings.Contains(status, "updated") || !strings.Contains(status, "stale") {
		t.Errorf("status %q while the figures are 3 min old and not refreshed", status)
	}
}
