package api_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/shopspring/decimal"
)

// TestDashboardShowsCustomersWithoutATier: with a ladder that starts above
// 0, the customers below it (tier "") have a bar of their own in the tier
// chart, labelled "(none)" as the tables label a customer without a
// channel, first (below the ladder), so the bars add up to the population.
func TestDashboardShowsCustomersWithoutATier(t *testing.T) {
	tiers := []aggregate.Tier{{Name: "silver", Min: decimal.NewFromInt(100)}, {Name: "gold", Min: decimal.NewFromInt(1000)}}
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tiers: tiers})
	if err != nil {
		t.Fatal(err)
	}
	for id, tier := range map[string]string{"a": "", "b": "", "c": "silver", "d": "gold"} {
		if err := acc.Add(id, map[string]string{"orders": "1", "ltv": "50.00", "tier": tier, "segment": "new"}); err != nil {
			t.Fatal(err)
		}
	}
	bctx := openDashboard(t, fixedStats{st: acc.Stats(report.Meta{GeneratedAt: time.Now()})}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#tiers .bar-row`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	type row struct {
		Name  string `json:"name"`
		Label string `json:"label"`
		Count string `json:"count"`
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll("#tiers .bar-row")].map((r) => ({
		name: r.dataset.name, label: r.querySelector(".name").textContent, count: r.querySelector(".count").textContent }))`))
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{"", "(none)", "2"}, {"silver", "silver", "1"}, {"gold", "gold", "1"}}
	if len(rows) != len(want) {
		t.Fatalf("tier bars %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("tier bar %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}
