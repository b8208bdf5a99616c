package aggregate_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
)

// Shared fixtures for the aggregate tests. Expected values in the tables are
// computed by hand from SPEC §3–§5 (Y = 365.25 days, rounding half away from
// zero) and written as literals; the helpers below only build inputs.

const (
	topicOrders    = "orders"
	topicLifecycle = "customer-lifecycle"
	testCustomer   = "c-000042"
)

// d parses a decimal literal; test inputs are constants, so a typo panics.
func d(s string) money.Exact {
	return money.FromDecimal(dd(s))
}

// dd parses a decimal literal for the model's settings, which stay
// shopspring decimals (configuration, not per-event arithmetic).
func dd(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// at parses an RFC 3339 timestamp.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func placed(id, amount, when string) aggregate.Event {
	return aggregate.Event{
		Kind: aggregate.OrderPlaced, EventID: id, CustomerID: testCustomer,
		OrderID: "o-" + id, Amount: d(amount), Currency: "SEK", OccurredAt: at(when),
	}
}

func placedM(id, amount, margin, when string) aggregate.Event {
	ev := placed(id, amount, when)
	ev.Margin, ev.HasMargin = d(margin), true
	return ev
}

func refunded(id, amount, when string) aggregate.Event {
	ev := placed(id, amount, when)
	ev.Kind = aggregate.OrderRefunded
	return ev
}

func refundedM(id, amount, margin, when string) aggregate.Event {
	ev := refunded(id, amount, when)
	ev.Margin, ev.HasMargin = d(margin), true
	return ev
}

func churned(id, when string) aggregate.Event {
	return aggregate.Event{
		Kind: aggregate.CustomerChurned, EventID: id, CustomerID: testCustomer,
		OccurredAt: at(when), Reason: "subscription_cancelled",
	}
}

func reactivated(id, when string) aggregate.Event {
	return aggregate.Event{
		Kind: aggregate.CustomerReactivated, EventID: id, CustomerID: testCustomer,
		OccurredAt: at(when),
	}
}

// customer drives one customer's state through Apply the way the consumer
// does: every record gets the next offset of its input topic.
type customer struct {
	t       testing.TB
	m       *aggregate.Model
	s       aggregate.State
	offsets map[string]int64
	changes []aggregate.Change
}

func newCustomer(t testing.TB, m *aggregate.Model) *customer {
	if m == nil {
		m = aggregate.DefaultModel()
	}
	return &customer{t: t, m: m, offsets: map[string]int64{}}
}

func topicOf(k aggregate.Kind) string {
	if k.IsOrder() {
		return topicOrders
	}
	return topicLifecycle
}

// apply delivers ev as a new Kafka record (fresh offset on its topic).
func (c *customer) apply(ev aggregate.Event) aggregate.Result {
	c.t.Helper()
	topic := topicOf(ev.Kind)
	c.offsets[topic]++
	return c.applyAt(ev, aggregate.SourceOffset{Topic: aggregate.TopicOf(topic), Partition: 0, Offset: c.offsets[topic]})
}

func (c *customer) applyAt(ev aggregate.Event, src aggregate.SourceOffset) aggregate.Result {
	c.t.Helper()
	r := c.m.Apply(&c.s, &ev, src)
	if r.Changed {
		c.changes = append(c.changes, r.Change)
	}
	if r.Changed && r.Outcome != aggregate.Applied {
		c.t.Fatalf("event %s: Changed=true with outcome %v", ev.EventID, r.Outcome)
	}
	return r
}

func (c *customer) applyAll(evs ...aggregate.Event) {
	c.t.Helper()
	for _, ev := range evs {
		if r := c.apply(ev); r.Outcome != aggregate.Applied {
			c.t.Fatalf("event %s: outcome %v, want applied", ev.EventID, r.Outcome)
		}
	}
}

// figs is the expected rendering of aggregate.Figures, as the strings
// stored in Redis.
type figs struct {
	aov, frequency, tenureDays, ltv string
	churned                         bool
}

// checkFigures compares got to want by value (Equal, so the test fails if
// Figures returns an unrounded value that merely renders the same) and by
// the public fixed-point rendering.
func checkFigures(t *testing.T, got aggregate.Figures, want figs) {
	t.Helper()
	// want literals are written with exactly the public number of places,
	// so Equal also proves the value is already rounded.
	check := func(name string, v money.Exact, places int32, w string) {
		t.Helper()
		if !v.Equal(d(w)) {
			t.Errorf("%s = %s, want %s", name, v.String(), w)
		}
		if got := v.StringFixed(places); got != w {
			t.Errorf("%s renders %q, want %q", name, got, w)
		}
	}
	check("aov", got.AOV, 2, want.aov)
	check("frequency", got.Frequency, 4, want.frequency)
	check("tenure_days", got.TenureDays, 2, want.tenureDays)
	check("ltv", got.LTV, 2, want.ltv)
	if got.Churned != want.churned {
		t.Errorf("churned = %v, want %v", got.Churned, want.churned)
	}
	if got.LTV.Sign() < 0 {
		t.Errorf("ltv = %s is negative", got.LTV)
	}
}

// mustModel validates a hand-built model.
func mustModel(t testing.TB, edit func(m *aggregate.Model)) *aggregate.Model {
	t.Helper()
	m := aggregate.DefaultModel()
	edit(m)
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return m
}

// lifespanOne is a model where an active customer whose orders all share
// one instant has ltv = gross_profit × 1 × Y / Y = gross_profit, which makes
// tier scenarios easy to drive with exact amounts.
func lifespanOne(t testing.TB) *aggregate.Model {
	return mustModel(t, func(m *aggregate.Model) { m.LifespanYears = dd("1") })
}

// stateEqual compares two states by value (decimals with Equal), optionally
// ignoring the offset guard.
func stateEqual(a, b *aggregate.State, ignoreGuard bool) (bool, string) {
	switch {
	case a.Orders != b.Orders:
		return false, "orders"
	case !a.Revenue.Equal(b.Revenue):
		return false, "revenue"
	case !a.GrossProfit.Equal(b.GrossProfit):
		return false, "gross_profit"
	case !a.Refunds.Equal(b.Refunds):
		return false, "refunds"
	case !a.FirstOrderAt.Equal(b.FirstOrderAt):
		return false, "first_order_at"
	case !a.LastOrderAt.Equal(b.LastOrderAt):
		return false, "last_order_at"
	case !a.LastChurnAt.Equal(b.LastChurnAt):
		return false, "last_churn_at"
	case !a.LastReactivatedAt.Equal(b.LastReactivatedAt):
		return false, "last_reactivated_at"
	case !a.LTV.Equal(b.LTV):
		return false, "ltv"
	case a.Tier != b.Tier:
		return false, "tier"
	case len(a.Seen) != len(b.Seen):
		return false, "len(seen)"
	}
	for i := range a.Seen {
		if a.Seen[i] != b.Seen[i] {
			return false, "seen"
		}
	}
	if ignoreGuard {
		return true, ""
	}
	if len(a.Applied) != len(b.Applied) {
		return false, "len(applied)"
	}
	for i := range a.Applied {
		if a.Applied[i] != b.Applied[i] {
			return false, "applied"
		}
	}
	return true, ""
}
