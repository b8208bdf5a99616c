package aggregate_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// customModel is L = 5 years, min window = 0.5 years, default margin 0.4.
func customModel(t testing.TB) *aggregate.Model {
	return mustModel(t, func(m *aggregate.Model) {
		m.LifespanYears = dd("5")
		m.MinWindowYears = dd("0.5")
		m.DefaultMargin = dd("0.4")
	})
}

// TestFiguresFromState feeds hand-built states to Figures. Every expected
// value is computed by hand from SPEC §4 (Y = 365.25 days):
//
//	tenure_years = tenure_days / 365.25
//	frequency    = orders / max(tenure_years, min_window)
//	ltv          = aov × frequency × lifespan × gp/revenue  (active)
//	             = gross_profit                              (churned)
//
// with every public value rounded once, half away from zero.
func TestFiguresFromState(t *testing.T) {
	const t0 = "2026-01-01T00:00:00Z"
	type row struct {
		name        string
		model       func(testing.TB) *aggregate.Model // nil: default
		orders      int64
		revenue, gp string
		first, last string // "" when no order
		churnAt     string
		want        figs
	}
	rows := []row{
		{name: "zero value state", revenue: "0", gp: "0",
			want: figs{"0.00", "0.0000", "0.00", "0.00", false}},
		{name: "refunds only, no orders", revenue: "-50", gp: "-50",
			want: figs{"0.00", "0.0000", "0.00", "0.00", false}},
		{name: "one order: tenure 0 so window = 1y, ltv = gp×3", orders: 1, revenue: "499.00", gp: "499.00", first: t0, last: t0,
			want: figs{"499.00", "1.0000", "0.00", "1497.00", false}},
		{name: "one order, margin 0.40", orders: 1, revenue: "499.00", gp: "199.60", first: t0, last: t0,
			// 499 × 1 × 3 × 0.4 = 598.80
			want: figs{"499.00", "1.0000", "0.00", "598.80", false}},
		{name: "two orders 181 days apart: window still 1y", orders: 2, revenue: "300", gp: "300",
			first: "2026-01-01T00:00:00Z", last: "2026-07-01T00:00:00Z",
			// aov 150, freq 2/1, ltv 150×2×3×1 = 900
			want: figs{"150.00", "2.0000", "181.00", "900.00", false}},
		{name: "tenure 731 days > 1y: window = tenure", orders: 4, revenue: "1000", gp: "400",
			first: "2024-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z",
			// freq 4×365.25/731 = 1.998632.. ; ltv 400×3×365.25/731 = 599.5896..
			// (the product of the rounded aov and frequency would give 599.58)
			want: figs{"250.00", "1.9986", "731.00", "599.59", false}},
		{name: "exactly 730.5 days = 2 Y", orders: 3, revenue: "900", gp: "900",
			first: "2024-01-01T00:00:00Z", last: "2025-12-31T12:00:00Z",
			// tenure_years 2 → freq 1.5, ltv 300×1.5×3 = 1350
			want: figs{"300.00", "1.5000", "730.50", "1350.00", false}},
		{name: "exactly 365.25 days = 1 Y", orders: 2, revenue: "200", gp: "200",
			first: "2025-01-01T00:00:00Z", last: "2026-01-01T06:00:00Z",
			want: figs{"100.00", "2.0000", "365.25", "600.00", false}},
		{name: "1.5 Y = 547.875 days (tenure_days half rounds up)", orders: 3, revenue: "300", gp: "300",
			first: "2025-01-01T00:00:00Z", last: "2026-07-02T21:00:00Z",
			want: figs{"100.00", "2.0000", "547.88", "600.00", false}},
		{name: "tenure 432 s = 0.005 d rounds to 0.01", orders: 2, revenue: "2", gp: "2",
			first: t0, last: "2026-01-01T00:07:12Z",
			want: figs{"1.00", "2.0000", "0.01", "6.00", false}},
		{name: "tenure 1 ns under 0.005 d rounds to 0.00", orders: 2, revenue: "2", gp: "2",
			first: t0, last: "2026-01-01T00:07:11.999999999Z",
			want: figs{"1.00", "2.0000", "0.00", "6.00", false}},
		{name: "tenure 36 h", orders: 2, revenue: "2", gp: "2",
			first: t0, last: "2026-01-02T12:00:00Z",
			want: figs{"1.00", "2.0000", "1.50", "6.00", false}},
		{name: "1000 days: frequency 1.09575 and ltv 328.725 round half up", orders: 3, revenue: "300", gp: "300",
			first: "2024-01-01T00:00:00Z", last: "2026-09-27T00:00:00Z",
			want: figs{"100.00", "1.0958", "1000.00", "328.73", false}},
		{name: "32e6 s: frequency 1.97235 rounds to 1.9724", orders: 2, revenue: "200", gp: "200",
			first: t0, last: "2027-01-06T08:53:20Z",
			// 2×31557600/32000000 = 1.97235; ltv 600×0.98618 = 591.708
			want: figs{"100.00", "1.9724", "370.37", "591.71", false}},
		{name: "900 days: frequency 2.84083.. rounds down", orders: 7, revenue: "700", gp: "700",
			first: "2024-01-01T00:00:00Z", last: "2026-06-19T00:00:00Z",
			// 7×365.25/900 = 2.840833.., ltv 700×3×365.25/900 = 852.25
			want: figs{"100.00", "2.8408", "900.00", "852.25", false}},
		{name: "400 years (beyond 2^33 s)", orders: 2, revenue: "200", gp: "200",
			first: "1800-01-01T00:00:00Z", last: "2200-01-01T00:00:00Z",
			// 146097 days; freq 730.5/146097 = 0.0050001.., ltv 219150/146097 = 1.50003..
			want: figs{"100.00", "0.0050", "146097.00", "1.50", false}},
		{name: "aov 10.00/3 = 3.33", orders: 3, revenue: "10.00", gp: "10.00", first: t0, last: t0,
			want: figs{"3.33", "3.0000", "0.00", "30.00", false}},
		{name: "aov 20.00/3 = 6.67", orders: 3, revenue: "20.00", gp: "20.00", first: t0, last: t0,
			want: figs{"6.67", "3.0000", "0.00", "60.00", false}},
		{name: "aov 0.25/2 = 0.125 rounds half away from zero", orders: 2, revenue: "0.25", gp: "0.25", first: t0, last: t0,
			want: figs{"0.13", "2.0000", "0.00", "0.75", false}},
		{name: "aov -0.25/2 = -0.125 rounds half away from zero", orders: 2, revenue: "-0.25", gp: "-0.25", first: t0, last: t0,
			want: figs{"-0.13", "2.0000", "0.00", "0.00", false}},
		{name: "refund larger than revenue: aov negative, ltv 0", orders: 1, revenue: "-50", gp: "-50", first: t0, last: t0,
			want: figs{"-50.00", "1.0000", "0.00", "0.00", false}},
		{name: "gross profit negative with revenue positive: ltv 0", orders: 1, revenue: "50", gp: "-15", first: t0, last: t0,
			want: figs{"50.00", "1.0000", "0.00", "0.00", false}},
		{name: "revenue exactly 0", orders: 1, revenue: "0", gp: "0", first: t0, last: t0,
			want: figs{"0.00", "1.0000", "0.00", "0.00", false}},
		{name: "revenue 0 but gp > 0: margin_rate 0", orders: 1, revenue: "0", gp: "50", first: t0, last: t0,
			want: figs{"0.00", "1.0000", "0.00", "0.00", false}},
		{name: "ltv 100.005 rounds half away from zero", orders: 1, revenue: "66.67", gp: "33.335", first: t0, last: t0,
			want: figs{"66.67", "1.0000", "0.00", "100.01", false}},
		{name: "churned: ltv = gp rounded", orders: 1, revenue: "66.67", gp: "33.335", first: t0, last: t0,
			churnAt: "2026-02-01T00:00:00Z",
			want:    figs{"66.67", "1.0000", "0.00", "33.34", true}},
		{name: "churned with negative gp: ltv 0", orders: 1, revenue: "10", gp: "-5", first: t0, last: t0,
			churnAt: "2026-02-01T00:00:00Z",
			want:    figs{"10.00", "1.0000", "0.00", "0.00", true}},
		{name: "churned without orders", revenue: "0", gp: "0", churnAt: t0,
			want: figs{"0.00", "0.0000", "0.00", "0.00", true}},
		{name: "custom model: one order", model: customModel, orders: 1, revenue: "100", gp: "40", first: t0, last: t0,
			// freq 1/0.5 = 2, ltv 100×2×5×0.4 = 400
			want: figs{"100.00", "2.0000", "0.00", "400.00", false}},
		{name: "custom model: 91 days < 0.5y window", model: customModel, orders: 2, revenue: "200", gp: "80",
			first: t0, last: "2026-04-02T00:00:00Z",
			// freq 2/0.5 = 4, ltv 100×4×5×0.4 = 800
			want: figs{"100.00", "4.0000", "91.00", "800.00", false}},
		{name: "custom model: 273 days > 0.5y window", model: customModel, orders: 2, revenue: "200", gp: "80",
			first: t0, last: "2026-10-01T00:00:00Z",
			// freq 730.5/273 = 2.675824.., ltv 80×5×365.25/273 = 535.1648..
			want: figs{"100.00", "2.6758", "273.00", "535.16", false}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			m := aggregate.DefaultModel()
			if r.model != nil {
				m = r.model(t)
			}
			s := aggregate.State{Orders: r.orders, Revenue: d(r.revenue), GrossProfit: d(r.gp)}
			if r.first != "" {
				s.FirstOrderAt, s.LastOrderAt = at(r.first), at(r.last)
			}
			if r.churnAt != "" {
				s.LastChurnAt = at(r.churnAt)
			}
			checkFigures(t, m.Figures(&s), r.want)
		})
	}
}

// TestFiguresFromEvents goes through Apply, so the margin handling (event
// margin vs configured default) and the refund arithmetic are covered too.
func TestFiguresFromEvents(t *testing.T) {
	const t0 = "2026-01-01T00:00:00Z"
	type row struct {
		name                      string
		model                     func(testing.TB) *aggregate.Model
		events                    []aggregate.Event
		orders                    int64
		revenue, gp, refunds      string
		firstOrderAt, lastOrderAt string
		want                      figs
	}
	rows := []row{
		{name: "default margin is 1.0",
			events: []aggregate.Event{placed("e1", "100", t0)},
			orders: 1, revenue: "100", gp: "100", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"100.00", "1.0000", "0.00", "300.00", false}},
		{name: "explicit margin 0.40",
			events: []aggregate.Event{placedM("e1", "100", "0.40", t0)},
			orders: 1, revenue: "100", gp: "40", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"100.00", "1.0000", "0.00", "120.00", false}},
		{name: "explicit margin 0 is honoured, not replaced by the default",
			events: []aggregate.Event{placedM("e1", "100", "0", t0)},
			orders: 1, revenue: "100", gp: "0", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"100.00", "1.0000", "0.00", "0.00", false}},
		{name: "explicit margin 1",
			events: []aggregate.Event{placedM("e1", "100", "1", t0)},
			orders: 1, revenue: "100", gp: "100", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"100.00", "1.0000", "0.00", "300.00", false}},
		{name: "mixed default and explicit margins",
			events: []aggregate.Event{placed("e1", "100", t0), placedM("e2", "100", "0.5", t0)},
			orders: 2, revenue: "200", gp: "150", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			// aov 100, freq 2, margin_rate 0.75: 100×2×3×0.75 = 450
			want: figs{"100.00", "2.0000", "0.00", "450.00", false}},
		{name: "partial refund with its own margin",
			events: []aggregate.Event{placedM("e1", "100", "0.4", t0), refundedM("e2", "50", "0.4", "2026-01-05T00:00:00Z")},
			orders: 1, revenue: "50", gp: "20", refunds: "50", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"50.00", "1.0000", "0.00", "60.00", false}},
		{name: "refund without margin uses the default margin",
			events: []aggregate.Event{placedM("e1", "100", "0.4", t0), refunded("e2", "50", "2026-01-05T00:00:00Z")},
			orders: 1, revenue: "50", gp: "-10", refunds: "50", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"50.00", "1.0000", "0.00", "0.00", false}},
		{name: "refund larger than revenue: revenue negative, ltv 0",
			events: []aggregate.Event{placed("e1", "100", t0), refunded("e2", "150", "2026-01-05T00:00:00Z")},
			orders: 1, revenue: "-50", gp: "-50", refunds: "150", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"-50.00", "1.0000", "0.00", "0.00", false}},
		{name: "full refund",
			events: []aggregate.Event{placed("e1", "100", t0), refunded("e2", "100", "2026-01-05T00:00:00Z")},
			orders: 1, revenue: "0", gp: "0", refunds: "100", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"0.00", "1.0000", "0.00", "0.00", false}},
		{name: "refund only: no orders, no order dates",
			events: []aggregate.Event{refunded("e1", "30", t0)},
			orders: 0, revenue: "-30", gp: "-30", refunds: "30",
			want: figs{"0.00", "0.0000", "0.00", "0.00", false}},
		{name: "refund does not move the order dates",
			events: []aggregate.Event{placed("e1", "100", t0), refunded("e2", "10", "2026-12-31T00:00:00Z"), refunded("e3", "10", "2025-06-01T00:00:00Z")},
			orders: 1, revenue: "80", gp: "80", refunds: "20", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"80.00", "1.0000", "0.00", "240.00", false}},
		{name: "sub-cent amounts and margins stay exact",
			events: []aggregate.Event{placedM("e1", "66.67", "0.5", t0)},
			orders: 1, revenue: "66.67", gp: "33.335", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"66.67", "1.0000", "0.00", "100.01", false}},
		{name: "custom model: default margin 0.4",
			model:  customModel,
			events: []aggregate.Event{placed("e1", "100", t0)},
			orders: 1, revenue: "100", gp: "40", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			want: figs{"100.00", "2.0000", "0.00", "400.00", false}},
		{name: "custom model: explicit margin overrides 0.4",
			model:  customModel,
			events: []aggregate.Event{placedM("e1", "100", "1", t0)},
			orders: 1, revenue: "100", gp: "100", refunds: "0", firstOrderAt: t0, lastOrderAt: t0,
			// 100 × 2 × 5 × 1 = 1000
			want: figs{"100.00", "2.0000", "0.00", "1000.00", false}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var m *aggregate.Model
			if r.model != nil {
				m = r.model(t)
			}
			c := newCustomer(t, m)
			c.applyAll(r.events...)
			s := &c.s
			if s.Orders != r.orders {
				t.Errorf("orders = %d, want %d", s.Orders, r.orders)
			}
			for _, f := range []struct {
				name      string
				got, want money.Exact
			}{
				{"revenue", s.Revenue, d(r.revenue)},
				{"gross_profit", s.GrossProfit, d(r.gp)},
				{"refunds", s.Refunds, d(r.refunds)},
			} {
				if !f.got.Equal(f.want) {
					t.Errorf("%s = %s, want %s", f.name, f.got, f.want)
				}
			}
			wantTime := func(name string, got time.Time, want string) {
				t.Helper()
				if want == "" {
					if !got.IsZero() {
						t.Errorf("%s = %v, want zero", name, got)
					}
					return
				}
				if !got.Equal(at(want)) {
					t.Errorf("%s = %v, want %s", name, got, want)
				}
			}
			wantTime("first_order_at", s.FirstOrderAt, r.firstOrderAt)
			wantTime("last_order_at", s.LastOrderAt, r.lastOrderAt)
			fig := c.m.Figures(s)
			checkFigures(t, fig, r.want)
			if !s.LTV.Equal(fig.LTV) {
				t.Errorf("state ltv %s != figures ltv %s", s.LTV, fig.LTV)
			}
		})
	}
}

// TestFiguresDoesNotMutate: Figures is a read of the state.
func TestFiguresDoesNotMutate(t *testing.T) {
	c := newCustomer(t, nil)
	c.applyAll(placed("e1", "10", "2026-01-01T00:00:00Z"), churned("e2", "2026-02-01T00:00:00Z"))
	before := c.s.Clone()
	_ = c.m.Figures(&c.s)
	if ok, field := stateEqual(&before, &c.s, false); !ok {
		t.Fatalf("Figures changed %s", field)
	}
}
