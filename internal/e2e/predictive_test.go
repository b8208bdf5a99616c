package e2e

import (
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestPredictiveInTheStream: with the predictive model on, every customer
// with orders carries the §9 fields, ltv = gross_profit + predicted_clv
// drives its tier, churned customers have no future, and the tier falls
// by timers (caused_by timer:<due>) when customers go quiet; the change
// chains stay unbroken.
func TestPredictiveInTheStream(t *testing.T) {
	ctx := testutil.Context(t, 3*time.Minute)
	e := newEnv(t, 4)
	cfg := e.config(t, "--config", testutil.WriteFile(t, "ltv.yaml", spectest.Predictive))
	p := produce(t, ctx, e.brokers, simConfig(20_000, 2_000))
	listening := make(chan string, 1)
	svc := startServiceWith(t, cfg, service.Options{Listening: func(addr string) { listening <- addr }}, 30*time.Second)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	// The model's failures are exported, and with SPEC §9's parameters
	// there are none.
	if v, ok, err := readSeries("http://"+<-listening, "ltv_prediction_failures_total"); err != nil || !ok || v != "0" {
		t.Errorf("/metrics: ltv_prediction_failures_total %q (present %v, %v), want 0", v, ok, err)
	}
	svc.stop(t)

	o := oracleOf(t, p)
	rat := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("not a decimal: %q", s)
		}
		return r
	}
	storedTier := map[string]string{}
	for _, id := range o.Customers() {
		exp, _ := o.Expect(id)
		h, err := e.rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		storedTier[id] = h["tier"]
		if exp.Fields["orders"] == "0" {
			continue
		}
		for _, f := range []string{"p_alive", "expected_orders", "expected_spend", "predicted_clv", "scored_at"} {
			if h[f] == "" {
				t.Fatalf("customer %s lacks %s: %v", id, f, h)
			}
		}
		pa, _ := strconv.ParseFloat(h["p_alive"], 64)
		if pa < 0 || pa > 1 || !strings.Contains(h["p_alive"], ".") || len(strings.Split(h["p_alive"], ".")[1]) != 4 {
			t.Fatalf("customer %s p_alive %q", id, h["p_alive"])
		}
		if h["gross_profit"] != exp.Fields["gross_profit"] || h["revenue"] != exp.Fields["revenue"] {
			t.Fatalf("customer %s sums differ from the recomputation", id)
		}
		ltv := new(big.Rat).Add(rat(h["gross_profit"]), rat(h["predicted_clv"]))
		if ltv.Sign() < 0 {
			ltv.SetInt64(0)
		}
		if ltv.Cmp(rat(h["ltv"])) != 0 {
			t.Fatalf("customer %s ltv %s, want gross_profit %s + predicted_clv %s", id, h["ltv"], h["gross_profit"], h["predicted_clv"])
		}
		if h["churned"] == "1" && (h["p_alive"] != "0.0000" || h["predicted_clv"] != "0.00") {
			t.Fatalf("churned customer %s: p_alive %s predicted_clv %s", id, h["p_alive"], h["predicted_clv"])
		}
		if !tierConsistent(defaultTiers, big.NewRat(5, 100), ltv, h["tier"]) {
			t.Fatalf("customer %s tier %q inconsistent with ltv %s", id, h["tier"], h["ltv"])
		}
	}
	// Tier chains, and tier changes caused by timers.
	chains, published := readChains(ctx, t, e.brokers, settings.DefaultChangesTopic, aggregate.SchemaChange)
	last := map[string]string{}
	byTimer := 0
	for id, chain := range chains {
		for _, c := range chain {
			if c.PreviousTier != last[id] {
				t.Fatalf("customer %s tier chain broken: %q then %q→%q", id, last[id], c.PreviousTier, c.Tier)
			}
			last[id] = c.Tier
			if strings.HasPrefix(c.CausedBy, aggregate.TimerCausePrefix) {
				byTimer++
				if c.Direction != "down" {
					t.Fatalf("a timer raised customer %s's tier: %s → %s by %s", id, c.PreviousTier, c.Tier, c.CausedBy)
				}
			}
		}
	}
	for id, tier := range storedTier {
		if last[id] != tier {
			t.Fatalf("customer %s tier chain ends at %q, stored %q", id, last[id], tier)
		}
	}
	if byTimer == 0 {
		t.Fatal("no tier fell by a timer: customers who go quiet keep their predicted value")
	}
	t.Logf("%d tier changes, %d of them by timers", published.distinct, byTimer)
}
