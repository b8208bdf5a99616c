package pipeline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
)

// TestValuesAFloatCannotHoldStayExact sends, through the real decoder and
// redis-server, amounts and margins that a float64 would change (SPEC §2:
// "parsed exactly (never through float64)"), from whole numbers past 2^53
// to twenty decimal places, one event per batch so every sum is stored and
// read back between events. Every public field must be the exact
// rational computation's, rounded as SPEC §3 says. With the predictive
// model on (SPEC §9), whose scoring is in floating point, the history
// fields stay exact and nothing fails.
func TestValuesAFloatCannotHoldStayExact(t *testing.T) {
	var f config.File
	if err := config.ParseFile([]byte(spectest.Predictive), &f); err != nil {
		t.Fatal(err)
	}
	predictive, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		model *aggregate.Model
	}{{"default model", aggregate.DefaultModel()}, {"predictive", predictive}} {
		t.Run(tc.name, func(t *testing.T) { checkValuesStayExact(t, tc.model) })
	}
}

func checkValuesStayExact(t *testing.T, m *aggregate.Model) {
	dec, err := decode.New(decode.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, _, rc := setupConfig(t, func(c *pipeline.Config) { c.Decoder, c.Model = dec, m })
	doc := func(id, typ, customer, order, amount, margin, at string) string {
		return fmt.Sprintf(`{"schema":"ltv.order.v1","event_id":%q,"type":%q,"customer_id":%q,"order_id":%q,`+
			`"amount":%s,"currency":"SEK","gross_margin":%s,"occurred_at":%q}`, id, typ, customer, order, amount, margin, at)
	}
	docs := []string{
		// 2^53 + 1 as a JSON number, a third to 18 places as a string.
		doc("b1", "order_placed", "c-big", "o1", `9007199254740993`, `"0.333333333333333333"`, "2026-01-05T10:00:00Z"),
		// The float64 sum 0.1 + 0.2, as a number and as a string.
		doc("b2", "order_placed", "c-big", "o2", `0.30000000000000004`, `0.1`, "2026-02-05T10:00:00Z"),
		doc("b3", "order_refunded", "c-big", "o2", `"0.00000000000000000001"`, `"0.5"`, "2026-02-06T10:00:00Z"),
		// Half a cent twice: whole cents only once both are summed exactly.
		doc("t1", "order_placed", "c-tiny", "o1", `"0.005"`, `"0.12345678901234567890"`, "2026-01-01T00:00:00Z"),
		doc("t2", "order_placed", "c-tiny", "o2", `0.005`, `"1"`, "2026-03-01T00:00:00Z"),
		// The largest amount the decoder takes, with every place it takes.
		doc("h1", "order_placed", "c-huge", "o1", `"999999999999999999999999999999.99999999999999999999"`, `"0.99999999999999999999"`, "2026-01-01T00:00:00Z"),
		doc("h2", "order_placed", "c-huge", "o2", `1e29`, `1e-20`, "2026-06-01T00:00:00Z"),
		doc("h3", "order_refunded", "c-huge", "o1", `"123456789012345678901234567890.12345678901234567890"`, `"0.00000000000000000001"`, "2026-06-02T00:00:00Z"),
	}
	o := oracle.New(oracle.Params{})
	for i, d := range docs {
		if err := o.Add([]byte(d)); err != nil {
			t.Fatal(err)
		}
		customer := d[strings.Index(d, `"customer_id":"`)+len(`"customer_id":"`):]
		customer = customer[:strings.IndexByte(customer, '"')]
		rec := pipeline.Record{Topic: "orders", Partition: 0, Offset: int64(i), Key: []byte(customer), Value: []byte(d)}
		stats, err := p.Process(ctxT(t), []pipeline.Record{rec})
		if err != nil {
			t.Fatal(err)
		}
		if stats.Applied != 1 {
			t.Fatalf("event %d not applied (stats %+v): %s", i, stats, d)
		}
	}
	for _, c := range []string{"c-big", "c-tiny", "c-huge"} {
		want, _ := o.Expect(c)
		got := rc.HGetAll(ctxT(t), "ltv:{"+c+"}").Val()
		for field, w := range want.Fields {
			if field == "ltv" && m.Predictive != nil {
				if got["predicted_clv"] == "" || got["p_alive"] == "" {
					t.Errorf("%s: not scored: %v", c, got)
				}
				continue // gross_profit + predicted_clv, from the scoring's floats
			}
			if field == "first_order_at" || field == "last_order_at" {
				if g, err := time.Parse(time.RFC3339Nano, got[field]); err != nil || g.Format(time.RFC3339Nano) != w {
					t.Errorf("%s: %s = %q, want %s", c, field, got[field], w)
				}
				continue
			}
			if got[field] != w {
				t.Errorf("%s: %s = %q, want %q", c, field, got[field], w)
			}
		}
	}
	// Spot checks the oracle's arithmetic does not hide.
	if got := rc.HGet(ctxT(t), "ltv:{c-tiny}", "revenue").Val(); got != "0.01" {
		t.Errorf("two half cents: revenue %q, want 0.01", got)
	}
	if got := rc.HGet(ctxT(t), "ltv:{c-big}", "revenue").Val(); got != "9007199254740993.30" {
		t.Errorf("c-big revenue %q, want 9007199254740993.30", got)
	}
}
