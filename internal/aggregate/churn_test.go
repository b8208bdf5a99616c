package aggregate_test

import (
	"fmt"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// TestChurnByEventTime covers SPEC §4: churned iff the latest churn is
// strictly later (by occurred_at) than every order_placed and every
// customer_reactivated. One order of 499.00 at margin 0.40 gives
// gp = 199.60, so an active customer has ltv 598.80 and a churned one
// 199.60 (history only).
func TestChurnByEventTime(t *testing.T) {
	const (
		jan = "2026-01-01T00:00:00Z"
		feb = "2026-02-01T00:00:00Z"
		mar = "2026-03-01T00:00:00Z"
		apr = "2026-04-01T00:00:00Z"
	)
	order := placedM("o1", "499.00", "0.40", feb)
	active := figs{"499.00", "1.0000", "0.00", "598.80", false}
	gone := figs{"499.00", "1.0000", "0.00", "199.60", true}
	rows := []struct {
		name   string
		events []aggregate.Event
		want   figs
	}{
		{"no lifecycle events", []aggregate.Event{order}, active},
		{"churn after last order", []aggregate.Event{order, churned("c1", mar)}, gone},
		{"churn 1 ns after last order", []aggregate.Event{order, churned("c1", "2026-02-01T00:00:00.000000001Z")}, gone},
		{"churn before last order", []aggregate.Event{order, churned("c1", jan)}, active},
		{"churn before last order, arriving first", []aggregate.Event{churned("c1", jan), order}, active},
		{"churn at the same instant as the last order (tie)", []aggregate.Event{order, churned("c1", feb)}, active},
		{"churn after the first but before the last order",
			[]aggregate.Event{placedM("o0", "0", "0.40", jan), order, churned("c1", "2026-01-15T00:00:00Z")},
			figs{"249.50", "2.0000", "31.00", "598.80", false}},
		{"late order after churn arrives last: reactivates by event time",
			[]aggregate.Event{churned("c1", feb), placedM("o2", "0", "0.40", mar), order},
			figs{"249.50", "2.0000", "28.00", "598.80", false}},
		{"reactivation after churn", []aggregate.Event{order, churned("c1", mar), reactivated("r1", apr)}, active},
		{"reactivation after churn, arriving first", []aggregate.Event{reactivated("r1", apr), order, churned("c1", mar)}, active},
		{"reactivation at the same instant as churn (tie)", []aggregate.Event{order, churned("c1", mar), reactivated("r1", mar)}, active},
		{"reactivation before churn", []aggregate.Event{order, reactivated("r1", mar), churned("c1", apr)}, gone},
		{"churn after reactivation", []aggregate.Event{order, churned("c1", feb), reactivated("r1", mar), churned("c2", apr)}, gone},
		{"earlier churn arriving late does not hide the later one",
			[]aggregate.Event{order, churned("c2", apr), churned("c1", "2026-01-15T00:00:00Z")}, gone},
		{"earlier reactivation arriving late does not hide the later churn",
			[]aggregate.Event{order, churned("c1", apr), reactivated("r1", mar)}, gone},
		{"refund after churn does not reactivate",
			[]aggregate.Event{order, churned("c1", mar), refundedM("f1", "99.00", "0.40", apr)},
			// gp 199.60 − 39.60 = 160.00; revenue 400
			figs{"400.00", "1.0000", "0.00", "160.00", true}},
		{"churn without any order", []aggregate.Event{churned("c1", mar)}, figs{"0.00", "0.0000", "0.00", "0.00", true}},
		{"reactivation without any order", []aggregate.Event{reactivated("r1", mar)}, figs{"0.00", "0.0000", "0.00", "0.00", false}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCustomer(t, nil)
			c.applyAll(r.events...)
			checkFigures(t, c.m.Figures(&c.s), r.want)
			if got := c.s.Churned(); got != r.want.churned {
				t.Errorf("State.Churned() = %v, want %v", got, r.want.churned)
			}
		})
	}
}

// permutations calls f with every ordering of idx (Heap's algorithm).
func permutations(n int, f func(p []int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k == 1 {
			f(p)
			return
		}
		gen(k - 1)
		for i := 0; i < k-1; i++ {
			if k%2 == 0 {
				p[i], p[k-1] = p[k-1], p[i]
			} else {
				p[0], p[k-1] = p[k-1], p[0]
			}
			gen(k - 1)
		}
	}
	gen(n)
}

// TestArrivalOrderPermutations applies every arrival order of the same
// events (across both input topics) and checks that the figures and the
// order-independent parts of the state never change (SPEC §4: decided by
// event time).
func TestArrivalOrderPermutations(t *testing.T) {
	base := []aggregate.Event{
		placed("o1", "100", "2026-01-01T00:00:00Z"),
		placedM("o2", "50", "0.5", "2026-03-01T00:00:00Z"),
		refunded("f1", "20", "2026-03-05T00:00:00Z"),
		churned("c1", "2026-04-01T00:00:00Z"),
		reactivated("r1", "2026-05-01T00:00:00Z"),
		churned("c2", "2026-06-01T00:00:00Z"),
	}
	sets := []struct {
		name                      string
		events                    []aggregate.Event
		orders                    int64
		revenue, gp, refunds      string
		firstOrderAt, lastOrderAt string
		want                      figs
	}{
		{"ends churned", base, 2, "130", "105", "20", "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z",
			// gp 100 + 25 − 20 = 105 (churned: history only); tenure 59 days
			figs{"65.00", "2.0000", "59.00", "105.00", true}},
		{"ends active: an order after the last churn",
			append(append([]aggregate.Event(nil), base...), placed("o3", "70", "2026-07-01T00:00:00Z")),
			3, "200", "175", "20", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z",
			// 181 days < 1y; ltv = 200/3 × 3 × 3 × 175/200 = 525
			figs{"66.67", "3.0000", "181.00", "525.00", false}},
		{"ends active: reactivated at the churn instant",
			append(append([]aggregate.Event(nil), base...), reactivated("r2", "2026-06-01T00:00:00Z")),
			2, "130", "105", "20", "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z",
			// 65 × 2 × 3 × 105/130 = 315
			figs{"65.00", "2.0000", "59.00", "315.00", false}},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			n, perms := len(set.events), 0
			permutations(n, func(p []int) {
				perms++
				c := newCustomer(t, nil)
				for _, i := range p {
					c.apply(set.events[i])
				}
				s := &c.s
				fail := func(format string, args ...any) {
					t.Helper()
					t.Errorf("order %v: %s", p, fmt.Sprintf(format, args...))
				}
				if s.Orders != set.orders || !s.Revenue.Equal(d(set.revenue)) ||
					!s.GrossProfit.Equal(d(set.gp)) || !s.Refunds.Equal(d(set.refunds)) {
					fail("sums orders=%d revenue=%s gp=%s refunds=%s", s.Orders, s.Revenue, s.GrossProfit, s.Refunds)
				}
				if !s.FirstOrderAt.Equal(at(set.firstOrderAt)) || !s.LastOrderAt.Equal(at(set.lastOrderAt)) {
					fail("order dates %v..%v", s.FirstOrderAt, s.LastOrderAt)
				}
				f := c.m.Figures(s)
				if f.AOV.StringFixed(2) != set.want.aov || f.Frequency.StringFixed(4) != set.want.frequency ||
					f.TenureDays.StringFixed(2) != set.want.tenureDays || f.LTV.StringFixed(2) != set.want.ltv ||
					f.Churned != set.want.churned {
					fail("figures aov=%s freq=%s tenure=%s ltv=%s churned=%v", f.AOV, f.Frequency, f.TenureDays, f.LTV, f.Churned)
				}
				if !s.LTV.Equal(f.LTV) {
					fail("stored ltv %s != figures %s", s.LTV, f.LTV)
				}
			})
			want := 1
			for i := 2; i <= n; i++ {
				want *= i
			}
			if perms != want {
				t.Fatalf("ran %d permutations, want %d", perms, want)
			}
		})
	}
}

// TestLateOrders: first/last_order_at are the min/max by event time,
// whatever the arrival order.
func TestLateOrders(t *testing.T) {
	const (
		jan = "2026-01-10T00:00:00Z"
		feb = "2026-02-10T00:00:00Z"
		mar = "2026-03-10T00:00:00Z"
	)
	rows := []struct {
		name        string
		arrival     []string
		first, last string
		tenureDays  string
	}{
		{"in order", []string{jan, feb, mar}, jan, mar, "59.00"},
		{"reverse", []string{mar, feb, jan}, jan, mar, "59.00"},
		{"late first", []string{feb, mar, jan}, jan, mar, "59.00"},
		{"late middle", []string{jan, mar, feb}, jan, mar, "59.00"},
		{"late last", []string{feb, jan, mar}, jan, mar, "59.00"},
		{"two orders at one instant", []string{feb, feb}, feb, feb, "0.00"},
		{"sub-second ordering", []string{"2026-01-10T00:00:00.5Z", "2026-01-10T00:00:00.25Z", "2026-01-10T00:00:00.75Z"},
			"2026-01-10T00:00:00.25Z", "2026-01-10T00:00:00.75Z", "0.00"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCustomer(t, nil)
			for i, when := range r.arrival {
				c.applyAll(placed(fmt.Sprintf("o%d", i), "10", when))
			}
			if !c.s.FirstOrderAt.Equal(at(r.first)) {
				t.Errorf("first_order_at = %v, want %s", c.s.FirstOrderAt, r.first)
			}
			if !c.s.LastOrderAt.Equal(at(r.last)) {
				t.Errorf("last_order_at = %v, want %s", c.s.LastOrderAt, r.last)
			}
			if got := c.m.Figures(&c.s).TenureDays.StringFixed(2); got != r.tenureDays {
				t.Errorf("tenure_days = %s, want %s", got, r.tenureDays)
			}
		})
	}
}
