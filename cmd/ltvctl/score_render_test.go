package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestScorePrintsWhatTheConsumerStores: `ltvctl score --as-of T` for a
// customer the consumer scored at T prints, digit for digit, the p_alive,
// expected_orders, expected_spend and predicted_clv Redis holds (SPEC §9:
// one rendering of the floating-point predictions). Two cases the two
// renderings used to differ on: a half-way value (a Gamma-Gamma population
// mean of exactly 0.125, stored "0.13") and a tiny negative predicted value
// (a customer whose refunds made its margin negative, long silent, stored
// "0.00", not "-0.00").
func TestScorePrintsWhatTheConsumerStores(t *testing.T) {
	cfgPath := testutil.WriteFile(t, "ltv.yaml", `predictive:
  model: bgnbd
  time_unit: week
  purchases: {r: 0.243, alpha: 4.414, a: 0.793, b: 2.426}
  spend: {p: 1, q: 3, v: 0.25}
  horizon_months: 12
  discount_rate_monthly: 0.01
  rescore_every_days: 3000
`)
	model, _, err := config.LoadModelFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var events []pipeline.Record
	add := func(typ, id, order, amount, margin, at string) {
		n++
		events = append(events, pipeline.Record{Topic: "orders", Key: []byte(id), Value: fmt.Appendf(nil,
			`{"schema":"ltv.order.v1","event_id":"e-%d","type":%q,"customer_id":%q,"order_id":%q,"amount":%q,"currency":"SEK","gross_margin":%q,"occurred_at":%q}`,
			n, typ, id, order, amount, margin, at)})
	}
	add("order_placed", "c-once", "o-1", "80.00", "0.40", "2020-01-01T00:00:00Z")
	add("order_placed", "c-loss", "o-1", "100.00", "0.10", "2020-01-01T00:00:00Z")
	add("order_placed", "c-loss", "o-2", "100.00", "0.10", "2020-01-31T00:00:00Z")
	add("order_refunded", "c-loss", "o-2", "50.00", "0.50", "2020-02-05T00:00:00Z")
	// Moves stream time on by ten years: both customers are re-scored by
	// their timers (the last one the periodic re-scoring, years after
	// their last order).
	add("order_placed", "c-clock", "o-1", "1.00", "1.00", "2030-03-01T00:00:00Z")
	srv := seedEvents(t, model, events)
	env := map[string]string{"LTV_REDIS_URL": srv.URL(), "LTV_CONFIG": cfgPath}
	fields := []string{"p_alive", "expected_orders", "expected_spend", "predicted_clv"}
	for _, id := range []string{"c-once", "c-loss"} {
		stored, err := srv.Client().HGetAll(context.Background(), "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		if stored["scored_at"] == "" {
			t.Fatalf("customer %s not scored: %v", id, stored)
		}
		rows, _ := scoreRows(t, env, "--as-of", stored["scored_at"])
		row := rows[id]
		if row == nil {
			t.Fatalf("no row for customer %s", id)
		}
		for i, f := range fields {
			if row[i+1] != stored[f] {
				t.Errorf("customer %s %s: score prints %q, the consumer stored %q (as of %s)", id, f, row[i+1], stored[f], stored["scored_at"])
			}
		}
	}
}
