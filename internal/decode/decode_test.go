package decode

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/shopspring/decimal"
)

const (
	specPlaced   = `{"schema":"ltv.order.v1","event_id":"8f1c-1","type":"order_placed","customer_id":"c-000042","order_id":"o-991","amount":"499.00","currency":"SEK","gross_margin":"0.40","occurred_at":"2026-03-01T12:00:00Z","channel":"paid_search"}`
	specRefunded = `{"schema":"ltv.order.v1","event_id":"8f1c-2","type":"order_refunded","customer_id":"c-000042","order_id":"o-991","amount":"120.00","currency":"SEK","gross_margin":"0.40","occurred_at":"2026-03-09T08:00:00Z"}`
	specChurned  = `{"schema":"ltv.lifecycle.v1","event_id":"8f1c-3","type":"customer_churned","customer_id":"c-000042","occurred_at":"2026-09-01T00:00:00Z","reason":"subscription_cancelled"}`
)

func mustDecoder(t testing.TB, cfg Config) *Decoder {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestDecodeSpecExamples(t *testing.T) {
	d := mustDecoder(t, Config{})
	cases := []struct {
		name string
		in   string
		want aggregate.Event
	}{
		{"placed", specPlaced, aggregate.Event{Kind: aggregate.OrderPlaced, EventID: "8f1c-1", CustomerID: "c-000042",
			OrderID: "o-991", Amount: dec("499.00"), Margin: dec("0.40"), HasMargin: true, Currency: "SEK",
			OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Channel: "paid_search"}},
		{"refunded", specRefunded, aggregate.Event{Kind: aggregate.OrderRefunded, EventID: "8f1c-2", CustomerID: "c-000042",
			OrderID: "o-991", Amount: dec("120"), Margin: dec("0.4"), HasMargin: true, Currency: "SEK",
			OccurredAt: time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)}},
		{"churned", specChurned, aggregate.Event{Kind: aggregate.CustomerChurned, EventID: "8f1c-3", CustomerID: "c-000042",
			OccurredAt: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), Reason: "subscription_cancelled"}},
		{"reactivated", `{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_reactivated","customer_id":"c","occurred_at":"2026-09-01T02:00:00+02:00"}`,
			aggregate.Event{Kind: aggregate.CustomerReactivated, EventID: "e", CustomerID: "c", OccurredAt: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)}},
		{"json numbers exact", `{"schema":"ltv.order.v1","event_id":"e","type":"order_placed","customer_id":"c","order_id":"o","amount":4.991e2,"currency":"SEK","gross_margin":0.1,"occurred_at":"2026-03-01T12:00:00.123Z"}`,
			aggregate.Event{Kind: aggregate.OrderPlaced, EventID: "e", CustomerID: "c", OrderID: "o", Amount: dec("499.1"), Margin: dec("0.1"), HasMargin: true,
				Currency: "SEK", OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)}},
		{"margin absent or null, escapes, unknown fields", `{"schema":"ltv.order.v1","event_id":"e\u0031","type":"order_placed","customer_id":"c-\u00e5\ud83d\ude00","order_id":"o","amount":"0","currency":"SEK","gross_margin":null,"occurred_at":"2026-03-01t12:00:00z","x":{"a":[1,2,{"b":null}]},"y":true}`,
			aggregate.Event{Kind: aggregate.OrderPlaced, EventID: "e1", CustomerID: "c-å😀", OrderID: "o", Amount: dec("0"), Currency: "SEK",
				OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			assertEvent(t, got, tc.want)
		})
	}
}

func assertEvent(t *testing.T, got, want aggregate.Event) {
	t.Helper()
	if got.Kind != want.Kind || got.EventID != want.EventID || got.CustomerID != want.CustomerID || got.OrderID != want.OrderID ||
		!got.Amount.Equal(want.Amount) || !got.Margin.Equal(want.Margin) || got.HasMargin != want.HasMargin ||
		got.Currency != want.Currency || !got.OccurredAt.Equal(want.OccurredAt) || got.OccurredAt.Location() != time.UTC ||
		got.Channel != want.Channel || got.Reason != want.Reason {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	d := mustDecoder(t, Config{MaxBytes: 4096})
	order := func(replace ...string) string { return strings.NewReplacer(replace...).Replace(specPlaced) }
	cases := []struct {
		name, in, field, reason string
	}{
		{"malformed", `{"schema":`, "", "invalid JSON"},
		{"not an object", `[1,2]`, "", "must be a JSON object"},
		{"empty", ``, "", "empty value"},
		{"trailing garbage", specPlaced + `x`, "", "after the JSON object"},
		{"two objects", specPlaced + specPlaced, "", "after the JSON object"},
		{"missing amount", order(`"amount":"499.00",`, ``), "amount", `missing required field "amount"`},
		{"missing event_id", order(`"event_id":"8f1c-1",`, ``), "event_id", `missing required field "event_id"`},
		{"null customer", order(`"customer_id":"c-000042"`, `"customer_id":null`), "customer_id", `missing required field "customer_id"`},
		{"empty customer", order(`"customer_id":"c-000042"`, `"customer_id":""`), "customer_id", `empty required field "customer_id"`},
		{"numeric event_id", order(`"event_id":"8f1c-1"`, `"event_id":17`), "event_id", "must be a string"},
		{"missing order_id", order(`"order_id":"o-991",`, ``), "order_id", `missing required field "order_id"`},
		{"missing currency", order(`"currency":"SEK",`, ``), "currency", `missing required field "currency"`},
		{"missing occurred_at", order(`,"occurred_at":"2026-03-01T12:00:00Z"`, ``), "occurred_at", `missing required field "occurred_at"`},
		{"unknown type", order(`"order_placed"`, `"order_cancelled"`), "type", `unknown type "order_cancelled"`},
		{"schema mismatch", order(`"ltv.order.v1"`, `"ltv.lifecycle.v1"`), "schema", "does not match type"},
		{"schema version", order(`"ltv.order.v1"`, `"ltv.order.v2"`), "schema", "does not match type"},
		{"negative amount", order(`"499.00"`, `"-5.00"`), "amount", `negative value "-5.00"`},
		{"negative number amount", order(`"499.00"`, `-5`), "amount", "negative value"},
		{"non-numeric amount", order(`"499.00"`, `"abc"`), "amount", "is not a decimal number"},
		{"amount with space", order(`"499.00"`, `" 499"`), "amount", "is not a decimal number"},
		{"amount plus sign", order(`"499.00"`, `"+499"`), "amount", "is not a decimal number"},
		{"amount exponent in string", order(`"499.00"`, `"4.99e2"`), "amount", "is not a decimal number"},
		{"amount empty fraction", order(`"499.00"`, `"1."`), "amount", "is not a decimal number"},
		{"amount bool", order(`"499.00"`, `true`), "amount", "must be a decimal string or a number"},
		{"amount 1e400", order(`"499.00"`, `1e400`), "amount", "out of range"},
		{"amount 1e-400", order(`"499.00"`, `1e-400`), "amount", "out of range"},
		{"amount huge exponent", order(`"499.00"`, `1e999999999`), "amount", "out of range"},
		{"amount 40 digits", order(`"499.00"`, `"1234567890123456789012345678901234567890"`), "amount", "out of range"},
		{"amount too many decimals", order(`"499.00"`, `"1.123456789"`), "amount", "out of range"},
		{"margin above 1", order(`"0.40"`, `"1.5"`), "gross_margin", "gross_margin: 1.5 is outside [0,1]"},
		{"margin negative", order(`"0.40"`, `"-0.1"`), "gross_margin", "outside [0,1]"},
		{"margin number above 1", order(`"0.40"`, `2`), "gross_margin", "gross_margin: 2 is outside [0,1]"},
		{"margin text", order(`"0.40"`, `"forty"`), "gross_margin", "is not a decimal number"},
		{"wrong currency", order(`"SEK"`, `"EUR"`), "currency", `currency "EUR" is not the base currency "SEK"`},
		{"timestamp with space", order(`2026-03-01T12:00:00Z`, `2026-03-01 12:00:00Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp no zone", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00`), "occurred_at", "is not RFC 3339"},
		{"timestamp date only", order(`2026-03-01T12:00:00Z`, `2026-03-01`), "occurred_at", "is not RFC 3339"},
		{"timestamp bad month", order(`2026-03-01T12:00:00Z`, `2026-13-01T12:00:00Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp unix", order(`"2026-03-01T12:00:00Z"`, `1772366400`), "occurred_at", "must be a string"},
		{"duplicate key", order(`"amount":"499.00"`, `"amount":"499.00","amount":"1.00"`), "amount", `duplicate key "amount"`},
		{"duplicate unknown key", order(`"channel"`, `"x":1,"x":2,"channel"`), "", `duplicate key "x"`},
		{"duplicate nested key", order(`"channel"`, `"x":{"a":1,"a":2},"channel"`), "", `duplicate key "a"`},
		{"deep nesting", order(`"channel"`, `"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,"channel"`), "", "nested deeper"},
		{"oversized", `{"x":"` + strings.Repeat("a", 5000) + `"}`, "", "exceeds the 4096-byte limit"},
		{"invalid utf-8", order(`c-000042`, "c-\xff"), "", "invalid UTF-8"},
		{"lone surrogate", order(`c-000042`, `c-\ud800`), "", "surrogate"},
		{"raw control char", order(`c-000042`, "c-\x01"), "", "control character"},
		{"escaped control char in id", order(`c-000042`, `c-\u0000`), "customer_id", "control character"},
		{"id too long", order(`c-000042`, strings.Repeat("c", 300)), "customer_id", "longer than 256 bytes"},
		{"bad escape", order(`c-000042`, `c-\q`), "", "invalid escape"},
		{"leading zero", order(`"499.00"`, `0499`), "", "invalid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode([]byte(tc.in))
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("want *Error, got %v", err)
			}
			if !strings.Contains(de.Reason, tc.reason) || de.Field != tc.field {
				t.Fatalf("got field %q reason %q; want field %q and reason containing %q", de.Field, de.Reason, tc.field, tc.reason)
			}
		})
	}
}

func TestFXConversion(t *testing.T) {
	d := mustDecoder(t, Config{BaseCurrency: "SEK", FXRates: map[string]decimal.Decimal{"EUR": dec("11.50")}})
	ev, err := d.Decode([]byte(strings.Replace(strings.Replace(specPlaced, `"SEK"`, `"EUR"`, 1), `"499.00"`, `"10.01"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Amount.Equal(dec("115.115")) || ev.Currency != "EUR" {
		t.Fatalf("amount %s currency %s", ev.Amount, ev.Currency)
	}
	if _, err := New(Config{FXRates: map[string]decimal.Decimal{"EUR": dec("0")}}); err == nil {
		t.Fatal("zero rate accepted")
	}
}

func TestDecodedStringsDoNotAliasInput(t *testing.T) {
	d := mustDecoder(t, Config{})
	buf := []byte(specPlaced)
	ev, err := d.Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if ev.CustomerID != "c-000042" || ev.EventID != "8f1c-1" || ev.OrderID != "o-991" || ev.Channel != "paid_search" {
		t.Fatalf("decoded strings changed with the input buffer: %+v", ev)
	}
}

func TestMagnitude(t *testing.T) {
	cases := []struct {
		in          string
		intD, fracD int
		ok          bool
	}{
		{"499.00", 3, 0, true}, {"0.0001", 0, 4, true}, {"1e3", 4, 0, true}, {"1.5e-3", 0, 4, true},
		{"000", 0, 0, true}, {"1e99999", 0, 0, false}, {"123.4500", 3, 2, true}, {"-7.25", 1, 2, true},
	}
	for _, c := range cases {
		i, f, ok := magnitude([]byte(c.in))
		if ok != c.ok || (ok && (i != c.intD || f != c.fracD)) {
			t.Errorf("magnitude(%s) = %d,%d,%v want %d,%d,%v", c.in, i, f, ok, c.intD, c.fracD, c.ok)
		}
	}
}

// canonical renders an accepted event back to JSON (for the fuzz
// round-trip property).
func canonical(ev aggregate.Event) []byte {
	m := map[string]any{
		"schema": ev.Kind.Schema(), "event_id": ev.EventID, "type": ev.Kind.String(),
		"customer_id": ev.CustomerID, "occurred_at": ev.OccurredAt.Format(time.RFC3339Nano),
	}
	if ev.Kind.IsOrder() {
		m["order_id"], m["amount"], m["currency"] = ev.OrderID, ev.Amount.String(), "SEK"
		if ev.HasMargin {
			m["gross_margin"] = ev.Margin.String()
		}
		if ev.Channel != "" {
			m["channel"] = ev.Channel
		}
	} else if ev.Reason != "" {
		m["reason"] = ev.Reason
	}
	b, _ := json.Marshal(m)
	return b
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{specPlaced, specRefunded, specChurned,
		`{"schema":"ltv.order.v1","event_id":"e","type":"order_placed","customer_id":"c","order_id":"o","amount":4.991e2,"currency":"SEK","occurred_at":"2026-03-01T12:00:00.5+01:00"}`,
		`{"a":[[[[[[]]]]]],"b":"\ud83d\ude00"}`, `{"amount":1e400}`, `{`, `{"x":"\ud800"}`, "\xff", `{"amount":"1","amount":"2"}`,
		`{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_reactivated","customer_id":"c","occurred_at":"2026-09-01T00:00:00Z","reason":null}`,
	} {
		f.Add([]byte(s))
	}
	d := mustDecoder(f, Config{MaxBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := d.Decode(in)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("error is not a *Error with a reason: %v", err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON: %q", in)
		}
		if ev.EventID == "" || ev.CustomerID == "" || ev.Kind == aggregate.KindUnknown || ev.OccurredAt.Location() != time.UTC {
			t.Fatalf("invariants broken: %+v", ev)
		}
		if ev.Kind.IsOrder() {
			if ev.OrderID == "" || ev.Amount.Sign() < 0 {
				t.Fatalf("order invariants broken: %+v", ev)
			}
			if ev.HasMargin && (ev.Margin.Sign() < 0 || ev.Margin.GreaterThan(decimal.NewFromInt(1))) {
				t.Fatalf("margin out of range: %+v", ev)
			}
		}
		again, err := d.Decode(canonical(ev))
		if err != nil {
			t.Fatalf("canonical form of an accepted event rejected: %v", err)
		}
		assertEvent(t, again, ev)
	})
}

func BenchmarkDecode(b *testing.B) {
	d := mustDecoder(b, Config{})
	in := []byte(specPlaced)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := d.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
