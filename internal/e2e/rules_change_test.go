package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestChangedSegmentThresholdsReachQuietCustomers: the service runs under
// the default thresholds (90/180 days), then restarts under 7/365. Once it
// has re-indexed every customer (ltv:timer_rules records the new rules),
// one event moves the partition's stream time on, and every quiet
// customer takes the new rule's segment: one only ordered (new → at_risk
// at 7 days, a timer the old index held at 90), and one lapsed under the
// old rule, which no due time would ever reach (lapsed → at_risk). The
// segment chains stay unbroken and end at the stored segments. (Without
// the re-indexing, c-quiet would stay new until its old due time and
// c-lapsed lapsed until its next order.)
func TestChangedSegmentThresholdsReachQuietCustomers(t *testing.T) {
	ctx := testutil.Context(t, 2*time.Minute)
	e := newEnv(t, 1)
	segment := func(cust string) string { return e.rc.HGet(ctx, "ltv:{"+cust+"}", "segment").Val() }

	write(t, ctx, e.brokers, []kafka.Message{
		tenSEKOrder("l1", "c-lapsed", "2025-06-01T00:00:00Z"),
		tenSEKOrder("q1", "c-quiet", "2026-01-01T00:00:00Z"),
		tenSEKOrder("k1", "c-clock", "2026-01-10T00:00:00Z"),
	})
	svc := startService(t, e.config(t))
	caughtUp(ctx, t, e)
	waitTimerRules(ctx, t, e, "2160h0m0s/4320h0m0s", "at_risk_after", "lapsed_after")
	svc.stop(t)
	if a, b := segment("c-quiet"), segment("c-lapsed"); a != "new" || b != "lapsed" {
		t.Fatalf("under 90/180 days: c-quiet %q, c-lapsed %q; want new, lapsed", a, b)
	}

	svc = startService(t, e.config(t, "--config", testutil.WriteFile(t, "rules.yaml", "at_risk_after_days: 7\nlapsed_after_days: 365\n")))
	defer svc.stop(t)
	waitTimerRules(ctx, t, e, "168h0m0s/8760h0m0s", "at_risk_after", "lapsed_after")
	write(t, ctx, e.brokers, []kafka.Message{tenSEKOrder("k2", "c-clock", "2026-01-20T00:00:00Z")})
	caughtUp(ctx, t, e)
	want := map[string][]string{
		"c-quiet":  {"→new@q1", "new→at_risk@timer:2026-01-08T00:00:00Z"},
		"c-lapsed": {"→new@l1", "new→at_risk@timer:2025-08-30T00:00:00Z", "at_risk→lapsed@timer:2025-11-28T00:00:00Z", "lapsed→at_risk@timer:2025-11-28T00:00:00.000000001Z"},
		"c-clock":  {"→new@k1", "new→at_risk@timer:2026-01-17T00:00:00Z", "at_risk→active@k2"},
	}
	// The last change can be published a moment after the commit that
	// WaitCaughtUp saw: the chains are read until they are complete.
	var got map[string][]string
	for {
		got = map[string][]string{}
		for cust, docs := range readSegmentChains(ctx, t, e.brokers) {
			for _, d := range docs {
				got[cust] = append(got[cust], d.PreviousSegment+"→"+d.Segment+"@"+d.CausedBy)
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for cust, w := range want {
		if strings.Join(got[cust], " ") != strings.Join(w, " ") {
			t.Errorf("%s's segment changes\n got %q\nwant %q", cust, got[cust], w)
		}
		if s, last := segment(cust), w[len(w)-1]; !strings.HasSuffix(strings.SplitN(last, "@", 2)[0], "→"+s) {
			t.Errorf("%s stored segment %q, its chain ends %q", cust, s, last)
		}
	}
}

// TestSwitchingThePredictiveModelOnScoresQuietCustomers: customers stored
// without the predictive model, then the service restarted with it (SPEC
// §9). Once every customer is re-indexed (ltv:timer_rules says the model is
// on), the next event of the partition gets each of them scored, also one
// already lapsed, which has no segment timer: scored just after its clock
// (its lapse), its ltv history plus future.
func TestSwitchingThePredictiveModelOnScoresQuietCustomers(t *testing.T) {
	ctx := testutil.Context(t, 2*time.Minute)
	e := newEnv(t, 1)
	write(t, ctx, e.brokers, []kafka.Message{tenSEKOrder("l1", "c-lapsed", "2025-01-01T00:00:00Z"), tenSEKOrder("k1", "c-clock", "2026-01-10T00:00:00Z")})
	svc := startService(t, e.config(t))
	caughtUp(ctx, t, e)
	waitTimerRules(ctx, t, e, "off", "predictive")
	svc.stop(t)
	h := e.rc.HGetAll(ctx, "ltv:{c-lapsed}").Val()
	if h["segment"] != "lapsed" || h["predicted_clv"] != "" {
		t.Fatalf("without the model: %v", h)
	}

	svc = startService(t, e.config(t, "--config", testutil.WriteFile(t, "on.yaml", spectest.Predictive)))
	defer svc.stop(t)
	waitTimerRules(ctx, t, e, "on", "predictive")
	write(t, ctx, e.brokers, []kafka.Message{tenSEKOrder("k2", "c-clock", "2026-01-20T00:00:00Z")})
	caughtUp(ctx, t, e)
	for {
		h = e.rc.HGetAll(ctx, "ltv:{c-lapsed}").Val()
		if h["predicted_clv"] != "" || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(h["scored_at"], "2025-06-30T00:00:00") || h["predicted_clv"] == "" || h["p_alive"] == "" {
		t.Fatalf("c-lapsed with the model on: %v; want it scored just after its lapse on 2025-06-30", h)
	}
	if h["ltv"] == "30.00" {
		t.Errorf("c-lapsed keeps SPEC §4's ltv %s; with the model it is gross profit plus predicted_clv", h["ltv"])
	}
}

// tenSEKOrder is an order_placed record of 10.00 SEK.
func tenSEKOrder(id, cust, at string) kafka.Message {
	return kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte(cust), Value: []byte(fmt.Sprintf(
		`{"schema":"ltv.order.v1","event_id":%q,"type":"order_placed","customer_id":%q,"order_id":"o-%s","amount":"10.00","currency":"SEK","occurred_at":%q}`,
		id, cust, id, at))}
}

// caughtUp waits until the default group has committed every input record.
func caughtUp(ctx context.Context, t *testing.T, e *env) {
	t.Helper()
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
}

// waitTimerRules waits until ltv:timer_rules holds want in fields, their
// values joined by "/": the consumer has recorded (or re-indexed under)
// the rules it runs with.
func waitTimerRules(ctx context.Context, t *testing.T, e *env, want string, fields ...string) {
	t.Helper()
	recorded := func() string {
		vals := e.rc.HMGet(ctx, store.TimerRulesKey, fields...).Val()
		text := make([]string, len(vals))
		for i, v := range vals {
			text[i], _ = v.(string)
		}
		return strings.Join(text, "/")
	}
	for recorded() != want {
		if ctx.Err() != nil {
			t.Fatalf("ltv:timer_rules %v recorded %q, want %q", fields, recorded(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
