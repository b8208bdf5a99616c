package api_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardFitsANarrowWindow: on a phone-sized window (and just above
// the width where the layout turns to two columns) the page is no wider
// than the window, with revenue in the tens of millions, the widest figure
// of the key-figure boxes. Only the tables scroll sideways, in their boxes.
func TestDashboardFitsANarrowWindow(t *testing.T) {
	customers := map[string]map[string]string{}
	for i := range 3 {
		customers[fmt.Sprintf("c-%d", i)] = map[string]string{"orders": "40", "revenue": "34567890.12", "gross_profit": "12345678.90",
			"churned": "0", "ltv": "41234567.89", "tier": "bronze", "segment": "active", "first_order_at": "2026-01-01T00:00:00Z",
			"last_order_at": "2026-11-01T00:00:00Z", "channel": "email"}
	}
	bctx := openDashboard(t, statsOf(t, customers), nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	for _, width := range []int64{360, 420, 1001} {
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(width, 900)); err != nil {
			t.Fatalf("browser: %v", err)
		}
		type fit struct {
			Revenue   string  `json:"revenue"`
			MeanLTV   string  `json:"meanLTV"`
			PageWider float64 `json:"pageWider"`
			KPIWider  float64 `json:"kpiWider"`
		}
		shown, err := chromedp.Run(bctx, chromedp.Evaluate[fit](`(() => ({
  revenue: document.getElementById("kpi-revenue").textContent,
  meanLTV: document.getElementById("kpi-mean-ltv").textContent,
  pageWider: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  kpiWider: Math.max(...[...document.querySelectorAll(".kpi .value")].map((v) => v.scrollWidth - v.parentElement.clientWidth)),
}))()`))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if shown.Revenue != "103,703,670.36" {
			t.Fatalf("revenue shown %q, want 103,703,670.36", shown.Revenue)
		}
		if shown.MeanLTV != "41,234,567.89" { // the population's mean_ltv, as the server computed it
			t.Fatalf("mean LTV shown %q, want 41,234,567.89", shown.MeanLTV)
		}
		if shown.PageWider > 0 {
			t.Errorf("%d px window: the page is %.0f px wider than the window", width, shown.PageWider)
		}
		if shown.KPIWider > 0 {
			t.Errorf("%d px window: a key figure runs %.0f px past its box", width, shown.KPIWider)
		}
	}
}
