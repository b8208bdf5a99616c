package api_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/shopspring/decimal"
)

// TestDashboardShowsCustomersWithoutATierOrSegment: customers below a
// ladder that starts above 0 (tier ""), and customers without orders and
// not churned (no segment, SPEC §8), have a bar of their own in their
// chart, labelled "(none)" as the tables label a customer without a
// channel, first, so the bars add up to the population.
func TestDashboardShowsCustomersWithoutATierOrSegment(t *testing.T) {
	tiers := []aggregate.Tier{{Name: "silver", Min: decimal.NewFromInt(100)}, {Name: "gold", Min: decimal.NewFromInt(1000)}}
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tiers: tiers})
	if err != nil {
		t.Fatal(err)
	}
	for id, c := range map[string]struct{ tier, segment string }{"a": {"", "new"}, "b": {"", ""}, "c": {"silver", "new"}, "d": {"gold", "at_risk"}} {
		f := map[string]string{"orders": "1", "ltv": "50.00", "tier": c.tier, "churned": "0"}
		if c.segment != "" {
			f["segment"] = c.segment
		} else {
			f["orders"] = "0"
		}
		if err := acc.Add(id, f); err != nil {
			t.Fatal(err)
		}
	}
	bctx := openDashboard(t, fixedStats{st: acc.Stats(report.Meta{GeneratedAt: time.Now()})}, nil)
	type row struct {
		Name  string `json:"name"`
		Label string `json:"label"`
		Count string `json:"count"`
	}
	for _, tc := range []struct {
		chart string
		want  []row
	}{
		{"tiers", []row{{"", "(none)", "2"}, {"silver", "silver", "1"}, {"gold", "gold", "1"}}},
		{"segments", []row{{"", "(none)", "1"}, {"new", "new", "2"}, {"active", "active", "0"}, {"at_risk", "at risk", "1"}, {"lapsed", "lapsed", "0"}, {"churned", "churned", "0"}}},
	} {
		if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#`+tc.chart+` .bar-row`))); err != nil {
			t.Fatalf("browser: %v", err)
		}
		rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll("#`+tc.chart+` .bar-row")].map((r) => ({
			name: r.dataset.name, label: r.querySelector(".name").textContent, count: r.querySelector(".count").textContent }))`))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(tc.want) {
			t.Fatalf("%s bars %+v, want %+v", tc.chart, rows, tc.want)
		}
		for i := range tc.want {
			if rows[i] != tc.want[i] {
				t.Errorf("%s bar %d: %+v, want %+v", tc.chart, i, rows[i], tc.want[i])
			}
		}
	}
}
