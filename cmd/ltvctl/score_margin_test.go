package main

import (
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestScoreSummaryUsesTheDefaultMargin: a summary file has no margins, so
// `score --summary` values its customers' orders at the configured
// default_gross_margin, as the consumer values an order without
// gross_margin (SPEC §2, §7): predicted_clv is expected gross profit
// (SPEC §9), not revenue.
func TestScoreSummaryUsesTheDefaultMargin(t *testing.T) {
	summary := testutil.WriteFile(t, "summary.csv", "customer_id,frequency,recency,T,monetary_value\na,2,20,30,40\nb,0,0,12,0\n")
	cfgPath := testutil.WriteFile(t, "ltv.yaml", "default_gross_margin: 0.4\n"+spectest.Predictive)
	model, _, err := config.LoadModelFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := scoreRows(t, map[string]string{"LTV_CONFIG": cfgPath}, "--summary", summary)
	for _, c := range []struct {
		id          string
		x, tx, T, m float64
	}{{"a", 2, 20, 30, 40}, {"b", 0, 0, 12, 0}} {
		p := model.Predictive.Predictor.Predict(c.x, c.tx, c.T, c.m, 0.4)
		if got, want := rows[c.id][4], aggregate.PredictionText(p.CLV, 2); got != want {
			t.Errorf("customer %s: predicted_clv %s, want %s (margin 0.4)", c.id, got, want)
		}
	}
}
