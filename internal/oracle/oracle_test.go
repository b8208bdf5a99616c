package oracle

import (
	"math/big"
	"testing"
)

func TestRound(t *testing.T) {
	cases := []struct {
		num, den int64
		places   int
		want     string
	}{
		{1, 8, 2, "0.13"},
		{-1, 8, 2, "-0.13"},
		{1, 3, 4, "0.3333"},
		{2, 3, 2, "0.67"},
		{0, 1, 2, "0.00"},
		{12345, 100, 1, "123.5"},
		{-12345, 100, 1, "-123.5"},
		{-1, 1000, 2, "0.00"},
		{5, 1000, 2, "0.01"},
		{7, 1, 0, "7"},
	}
	for _, c := range cases {
		if got := Round(big.NewRat(c.num, c.den), c.places); got != c.want {
			t.Errorf("Round(%d/%d, %d) = %s, want %s", c.num, c.den, c.places, got, c.want)
		}
	}
}

func TestExpectSpecExample(t *testing.T) {
	o := New(Params{})
	must := func(s string) {
		t.Helper()
		if err := o.Add([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	must(`{"event_id":"e1","type":"order_placed","customer_id":"c","amount":"499.00","gross_margin":"0.40","occurred_at":"2026-03-01T12:00:00Z"}`)
	must(`{"event_id":"e2","type":"order_refunded","customer_id":"c","amount":"120.00","gross_margin":"0.40","occurred_at":"2026-03-09T08:00:00Z"}`)
	must(`{"event_id":"e2","type":"order_refunded","customer_id":"c","amount":"120.00","gross_margin":"0.40","occurred_at":"2026-03-09T08:00:00Z"}`)
	e, ok := o.Expect("c")
	if !ok {
		t.Fatal("customer missing")
	}
	want := map[string]string{
		"orders": "1", "revenue": "379.00", "gross_profit": "151.60", "refunds": "120.00",
		"aov": "379.00", "frequency": "1.0000", "tenure_days": "0.00", "churned": "0",
		"ltv": "454.80", "first_order_at": "2026-03-01T12:00:00Z", "last_order_at": "2026-03-01T12:00:00Z",
	}
	for k, v := range want {
		if e.Fields[k] != v {
			t.Errorf("%s = %q, want %q", k, e.Fields[k], v)
		}
	}
}
