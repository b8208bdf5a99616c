package api_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/shopspring/decimal"
)

// TestDashboardLabelsTierNamesWithEveryUnderscore: a configured tier name
// with several underscores is shown with each of them as a space (as
// at_risk is shown "at risk"), not only the first.
func TestDashboardLabelsTierNamesWithEveryUnderscore(t *testing.T) {
	tiers := []aggregate.Tier{{Name: "base", Min: decimal.Zero}, {Name: "top_1_per_cent", Min: decimal.NewFromInt(1000)}}
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tiers: tiers})
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.Add("a", map[string]string{"orders": "1", "ltv": "2000.00", "tier": "top_1_per_cent", "segment": "new"}); err != nil {
		t.Fatal(err)
	}
	bctx := openDashboard(t, fixedStats{st: acc.Stats(report.Meta{GeneratedAt: time.Now()})}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#tiers .bar-row[data-name="top_1_per_cent"]`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	label, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#tiers .bar-row[data-name="top_1_per_cent"] .name').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if label != "top 1 per cent" {
		t.Errorf("tier top_1_per_cent labelled %q, want %q", label, "top 1 per cent")
	}
}
