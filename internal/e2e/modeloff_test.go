package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestPredictiveOffTimerWriteRestoresDefaultLTV: the service runs with the
// predictive model (SPEC §9) over one customer's order of 3000.00 (ltv
// gross profit + its small predicted value: silver), then restarts without
// it; another customer's order moves the partition's stream time past the
// first one's at-risk due time, so its next write is a timer's. Then it
// has none of the five prediction fields, SPEC §4's ltv (3000 × 3 years /
// 1 year = 9000.00) and the tier that gives (gold), reached by a change
// caused by the timer its left-over prediction makes due a nanosecond
// after its clock (its order), and its at_risk segment event carries them.
func TestPredictiveOffTimerWriteRestoresDefaultLTV(t *testing.T) {
	ctx := testutil.Context(t, 2*time.Minute)
	e := newEnv(t, 1)
	order := func(id, cust, amount, at string) kafka.Message {
		return kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte(cust), Value: []byte(fmt.Sprintf(
			`{"schema":"ltv.order.v1","event_id":%q,"type":"order_placed","customer_id":%q,"order_id":"o-%s","amount":%q,"currency":"SEK","gross_margin":"1","occurred_at":%q}`,
			id, cust, id, amount, at))}
	}
	run := func(args []string, msgs ...kafka.Message) {
		write(t, ctx, e.brokers, msgs)
		svc := startService(t, e.config(t, args...))
		if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
			t.Fatal(err)
		}
		svc.stop(t)
	}
	run([]string{"--config", testutil.WriteFile(t, "on.yaml", spectest.Predictive)},
		order("e1", "c-off", "3000.00", "2026-01-01T00:00:00Z"), order("e2", "c-clock", "10.00", "2026-01-02T00:00:00Z"))
	h, err := e.rc.HGetAll(ctx, "ltv:{c-off}").Result()
	if err != nil {
		t.Fatal(err)
	}
	if h["predicted_clv"] == "" || h["tier"] != "silver" {
		t.Fatalf("with the model on: %v", h)
	}
	run(nil, order("e3", "c-clock", "10.00", "2026-05-01T00:00:00Z"))
	h, err = e.rc.HGetAll(ctx, "ltv:{c-off}").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"p_alive", "expected_orders", "expected_spend", "predicted_clv", "scored_at"} {
		if v, ok := h[f]; ok {
			t.Errorf("%s = %q kept with the model off", f, v)
		}
	}
	if h["segment"] != "at_risk" || h["ltv"] != "9000.00" || h["tier"] != "gold" {
		t.Errorf("after the timer: segment %q ltv %q tier %q, want at_risk, SPEC §4's 9000.00, gold", h["segment"], h["ltv"], h["tier"])
	}
	chains, _ := readChains(ctx, t, e.brokers, settings.DefaultChangesTopic, "ltv.change.v1")
	chain := chains["c-off"]
	if n := len(chain); n != 2 || chain[1].PreviousTier != "silver" || chain[1].Tier != "gold" ||
		chain[1].CausedBy != "timer:2026-01-01T00:00:00.000000001Z" || chain[1].LTV != "9000.00" {
		t.Errorf("c-off's tier changes: %+v, want \"\" → silver, then silver → gold by timer:2026-01-01T00:00:00.000000001Z at 9000.00", chain)
	}
	segs := readSegmentChains(ctx, t, e.brokers)["c-off"]
	if n := len(segs); n != 2 || segs[1].Segment != "at_risk" || segs[1].LTV != "9000.00" || segs[1].Tier != "gold" {
		t.Errorf("c-off's segment changes: %+v, want new, then at_risk at 9000.00 gold", segs)
	}
}
