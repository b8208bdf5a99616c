package api_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardMeanLTVIsThePopulations: the "Mean LTV" key figure is the
// population's mean_ltv, exact to the cent. Two channels of two customers,
// 0.00 and 0.01, and 0.00 and 0.00: their rounded means (0.01 and 0.00)
// weighted by size would show 0.01; the four customers' mean is 0.0025.
func TestDashboardMeanLTVIsThePopulations(t *testing.T) {
	customers := map[string]map[string]string{}
	for i, c := range []struct{ channel, ltv string }{{"email", "0.00"}, {"email", "0.01"}, {"social", "0.00"}, {"social", "0.00"}} {
		customers[fmt.Sprintf("c-%d", i)] = map[string]string{"orders": "1", "revenue": "1.00", "gross_profit": "1.00",
			"churned": "0", "ltv": c.ltv, "tier": "bronze", "segment": "new", "first_order_at": "2026-01-01T00:00:00Z",
			"last_order_at": "2026-01-01T00:00:00Z", "channel": c.channel}
	}
	bctx := openDashboard(t, statsOf(t, customers), nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("kpi-mean-ltv").textContent`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	if shown != "0.00" {
		t.Errorf("mean LTV shown %q, want 0.00 (0.01 over 4 customers)", shown)
	}
}
