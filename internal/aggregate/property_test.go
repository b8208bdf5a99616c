package aggregate_test

import (
	"fmt"
	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"math/big"
	"math/rand"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// This file holds an independent reference implementation of SPEC §3–§5
// on math/big rationals (not shopspring/decimal, not the package's
// simplified ltv formula) and checks the package against it on random
// event streams with producer duplicates and Kafka redeliveries mixed in.

// ratOf parses a decimal literal exactly.
func ratOf(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// roundText renders r rounded half away from zero to places decimals; it
// is the oracle's rounding, which shares no code with the package.
func roundText(r *big.Rat, places int) string { return oracle.Round(r, places) }

func TestRoundText(t *testing.T) {
	for _, r := range []struct {
		in     string
		places int
		want   string
	}{
		{"0.125", 2, "0.13"}, {"-0.125", 2, "-0.13"}, {"0.124999", 2, "0.12"}, {"10/3", 2, "3.33"},
		{"20/3", 2, "6.67"}, {"0", 2, "0.00"}, {"-0.001", 2, "0.00"}, {"1.09575", 4, "1.0958"},
		{"5230.1", 2, "5230.10"}, {"-50", 2, "-50.00"},
	} {
		if got := roundText(ratOf(r.in), r.places); got != r.want {
			t.Errorf("roundText(%s, %d) = %s, want %s", r.in, r.places, got, r.want)
		}
	}
}

// refEvent is a generated input event in reference form.
type refEvent struct {
	ev             aggregate.Event
	amount, margin *big.Rat
}

// refResult is what SPEC §3–§4 say for a set of distinct events.
type refResult struct {
	orders                          int64
	revenue, gp, refunds            *big.Rat
	first, last                     time.Time
	aov, frequency, tenureDays, ltv string
	churned                         bool
}

var (
	refYearNs    = new(big.Rat).SetInt64(31_557_600_000_000_000) // 365.25 × 86400 s
	refDayNs     = new(big.Rat).SetInt64(86_400_000_000_000)
	refLifespan  = ratOf("3")
	refMinWindow = ratOf("1")
)

func reference(events []refEvent) refResult {
	r := refResult{revenue: new(big.Rat), gp: new(big.Rat), refunds: new(big.Rat)}
	var lastChurn, lastReact time.Time
	var hasChurn, hasReact bool
	for _, e := range events {
		switch e.ev.Kind {
		case aggregate.OrderPlaced:
			r.orders++
			r.revenue.Add(r.revenue, e.amount)
			r.gp.Add(r.gp, new(big.Rat).Mul(e.amount, e.margin))
			if r.orders == 1 || e.ev.OccurredAt.Before(r.first) {
				r.first = e.ev.OccurredAt
			}
			if r.orders == 1 || e.ev.OccurredAt.After(r.last) {
				r.last = e.ev.OccurredAt
			}
		case aggregate.OrderRefunded:
			r.revenue.Sub(r.revenue, e.amount)
			r.refunds.Add(r.refunds, e.amount)
			r.gp.Sub(r.gp, new(big.Rat).Mul(e.amount, e.margin))
		case aggregate.CustomerChurned:
			if !hasChurn || e.ev.OccurredAt.After(lastChurn) {
				lastChurn, hasChurn = e.ev.OccurredAt, true
			}
		case aggregate.CustomerReactivated:
			if !hasReact || e.ev.OccurredAt.After(lastReact) {
				lastReact, hasReact = e.ev.OccurredAt, true
			}
		}
	}
	// churned: the latest churn is later than every order placed and
	// every reactivation
	r.churned = hasChurn &&
		(r.orders == 0 || lastChurn.After(r.last)) &&
		(!hasReact || lastChurn.After(lastReact))

	tenureNs := new(big.Rat)
	if r.orders > 0 {
		tenureNs.SetInt64(int64(r.last.Sub(r.first)))
	}
	tenureYears := new(big.Rat).Quo(tenureNs, refYearNs)
	window := tenureYears
	if window.Cmp(refMinWindow) < 0 {
		window = refMinWindow
	}
	aov, freq := new(big.Rat), new(big.Rat)
	if r.orders > 0 {
		n := new(big.Rat).SetInt64(r.orders)
		aov.Quo(r.revenue, n)
		freq.Quo(n, window)
	}
	marginRate := new(big.Rat)
	if r.revenue.Sign() > 0 {
		marginRate.Quo(r.gp, r.revenue)
	}
	var ltv *big.Rat
	if r.churned {
		ltv = new(big.Rat).Set(r.gp)
	} else {
		// literally aov × frequency × lifespan × margin_rate
		ltv = new(big.Rat).Mul(aov, freq)
		ltv.Mul(ltv, refLifespan)
		ltv.Mul(ltv, marginRate)
	}
	if ltv.Sign() < 0 {
		ltv.SetInt64(0)
	}
	r.aov = roundText(aov, 2)
	r.frequency = roundText(freq, 4)
	r.tenureDays = roundText(new(big.Rat).Quo(tenureNs, refDayNs), 2)
	r.ltv = roundText(ltv, 2)
	return r
}

// refNextTier is SPEC §5 for the default ladder: promotion as soon as a
// threshold is reached; a tier is left only below threshold × 0.95, for
// the tier the LTV reaches.
func refNextTier(current string, ltv *big.Rat) string {
	names := []string{"bronze", "silver", "gold", "platinum"}
	mins := []*big.Rat{ratOf("0"), ratOf("1000"), ratOf("5000"), ratOf("20000")}
	natural := -1
	for i, m := range mins {
		if ltv.Cmp(m) >= 0 {
			natural = i
		}
	}
	cur := -1
	for i, n := range names {
		if n == current {
			cur = i
		}
	}
	if cur > natural && ltv.Cmp(new(big.Rat).Mul(mins[cur], ratOf("0.95"))) >= 0 {
		natural = cur
	}
	if natural < 0 {
		return ""
	}
	return names[natural]
}

// genEvents makes n distinct events for one customer. Times are on a
// 12-hour grid over three years, so ties between orders, churns and
// reactivations are common.
func genEvents(rng *rand.Rand, seq, n int) []refEvent {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]refEvent, 0, n)
	for i := 0; i < n; i++ {
		when := base.Add(time.Duration(rng.Intn(2200)) * 12 * time.Hour)
		if rng.Intn(10) == 0 {
			when = when.Add(time.Duration(rng.Intn(1_000_000_000))) // sub-second
		}
		id := fmt.Sprintf("s%d-e%d", seq, i)
		var ev aggregate.Event
		var amount, margin *big.Rat
		switch x := rng.Intn(20); {
		case x < 14:
			cents := rng.Intn(200_000)
			if rng.Intn(8) == 0 {
				cents = rng.Intn(100) // small, to hit the 0.005 boundaries
			}
			amt := fmt.Sprintf("%d.%02d", cents/100, cents%100)
			amount = ratOf(amt)
			margin = ratOf("1") // the default
			if x < 10 {
				ev = placed(id, amt, "2026-01-01T00:00:00Z")
			} else {
				ev = refunded(id, amt, "2026-01-01T00:00:00Z")
			}
			if rng.Intn(2) == 0 {
				mg := fmt.Sprintf("0.%03d", rng.Intn(1000))
				if rng.Intn(10) == 0 {
					mg = "1"
				}
				ev.Margin, ev.HasMargin = d(mg), true
				margin = ratOf(mg)
			}
		case x < 17:
			ev = churned(id, "2026-01-01T00:00:00Z")
		default:
			ev = reactivated(id, "2026-01-01T00:00:00Z")
		}
		ev.OccurredAt = when
		out = append(out, refEvent{ev: ev, amount: amount, margin: margin})
	}
	return out
}

// record is one delivered Kafka record.
type record struct {
	ev   aggregate.Event
	src  aggregate.SourceOffset
	want aggregate.Outcome
}

// deliver builds the record stream: every distinct event once, plus
// producer duplicates (new records repeating an id among the customer's
// last DefaultDedupeWindow distinct ids) and Kafka redeliveries (an
// already applied record handed out again).
func deliver(rng *rand.Rand, events []refEvent) []record {
	offsets := map[string]int64{}
	next := func(k aggregate.Kind) aggregate.SourceOffset {
		topic := topicOf(k)
		offsets[topic]++
		return aggregate.SourceOffset{Topic: aggregate.TopicOf(topic), Partition: 7, Offset: offsets[topic]}
	}
	var out []record
	for i, e := range events {
		out = append(out, record{e.ev, next(e.ev.Kind), aggregate.Applied})
		for rng.Intn(3) == 0 { // 0..n producer duplicates
			lo := max(0, i+1-aggregate.DefaultDedupeWindow)
			j := lo + rng.Intn(i+1-lo)
			dup := events[j].ev
			if rng.Intn(2) == 0 {
				dup.Amount = dup.Amount.Add(d("1")) // a retry is judged by id only
			}
			out = append(out, record{dup, next(dup.Kind), aggregate.DuplicateEvent})
		}
		if rng.Intn(10) == 0 { // Kafka redelivery of some earlier record
			r := out[rng.Intn(len(out))]
			r.want = aggregate.Redelivered
			out = append(out, r)
		}
	}
	return out
}

func TestPropertyDuplicatesAndReference(t *testing.T) {
	const sequences = 400
	rng := rand.New(rand.NewSource(20260301))
	m := aggregate.DefaultModel()
	var checked, dups, redeliveries, churnedSeqs, changes int
	for seq := 0; seq < sequences; seq++ {
		events := genEvents(rng, seq, 1+rng.Intn(60))
		records := deliver(rng, events)

		// A: the stream with duplicates and redeliveries.
		a := newCustomer(t, m)
		for i, r := range records {
			res := a.applyAt(r.ev, r.src)
			if res.Outcome != r.want {
				t.Fatalf("seq %d record %d (%s): outcome %v, want %v", seq, i, r.ev.EventID, res.Outcome, r.want)
			}
			switch r.want {
			case aggregate.DuplicateEvent:
				dups++
			case aggregate.Redelivered:
				redeliveries++
			}
			if len(a.s.Seen) > m.DedupeWindow || len(a.s.Applied) > aggregate.MaxGuardEntries {
				t.Fatalf("seq %d: bounds exceeded: seen %d applied %d", seq, len(a.s.Seen), len(a.s.Applied))
			}
		}
		// B: the distinct events only.
		b := newCustomer(t, m)
		for _, e := range events {
			b.applyAll(e.ev)
		}
		if ok, field := stateEqual(&a.s, &b.s, true); !ok {
			t.Fatalf("seq %d: state with duplicates differs from de-duplicated state in %s", seq, field)
		}
		if len(a.changes) != len(b.changes) {
			t.Fatalf("seq %d: %d changes with duplicates, %d without", seq, len(a.changes), len(b.changes))
		}
		for i := range a.changes {
			x, y := a.changes[i], b.changes[i]
			if x.EventID() != y.EventID() || x.Tier != y.Tier || x.PreviousTier != y.PreviousTier || !x.LTV.Equal(y.LTV) {
				t.Fatalf("seq %d change %d differs: %+v vs %+v", seq, i, x, y)
			}
		}

		// Independent recomputation.
		ref := reference(events)
		s := &a.s
		if s.Orders != ref.orders {
			t.Fatalf("seq %d: orders %d, want %d", seq, s.Orders, ref.orders)
		}
		for _, f := range []struct {
			name string
			got  string
			want *big.Rat
		}{
			{"revenue", s.Revenue.String(), ref.revenue},
			{"gross_profit", s.GrossProfit.String(), ref.gp},
			{"refunds", s.Refunds.String(), ref.refunds},
		} {
			if ratOf(f.got).Cmp(f.want) != 0 {
				t.Fatalf("seq %d: %s %s, want %s", seq, f.name, f.got, f.want.FloatString(6))
			}
		}
		if ref.orders > 0 && (!s.FirstOrderAt.Equal(ref.first) || !s.LastOrderAt.Equal(ref.last)) {
			t.Fatalf("seq %d: order dates %v..%v, want %v..%v", seq, s.FirstOrderAt, s.LastOrderAt, ref.first, ref.last)
		}
		f := m.Figures(s)
		got := refResult{
			aov: f.AOV.StringFixed(2), frequency: f.Frequency.StringFixed(4),
			tenureDays: f.TenureDays.StringFixed(2), ltv: f.LTV.StringFixed(2), churned: f.Churned,
		}
		if got.aov != ref.aov || got.frequency != ref.frequency || got.tenureDays != ref.tenureDays ||
			got.ltv != ref.ltv || got.churned != ref.churned {
			t.Fatalf("seq %d: figures aov %s freq %s tenure %s ltv %s churned %v; reference %s %s %s %s %v",
				seq, got.aov, got.frequency, got.tenureDays, got.ltv, got.churned,
				ref.aov, ref.frequency, ref.tenureDays, ref.ltv, ref.churned)
		}
		if ref.churned {
			churnedSeqs++
		}

		// Tier path: replay the distinct events through the reference rule
		// and check the change chain.
		tier, ci := "", 0
		for i, e := range events {
			prefix := make([]refEvent, i+1)
			copy(prefix, events[:i+1])
			ltv := ratOf(reference(prefix).ltv)
			next := refNextTier(tier, ltv)
			if next != tier {
				if ci >= len(b.changes) {
					t.Fatalf("seq %d event %d: missing change %q -> %q", seq, i, tier, next)
				}
				c := b.changes[ci]
				if c.PreviousTier != tier || c.Tier != next || c.CausedBy != e.ev.EventID ||
					c.LTV.StringFixed(2) != ltv.FloatString(2) {
					t.Fatalf("seq %d event %d: change %q->%q by %s ltv %s, want %q->%q by %s ltv %s",
						seq, i, c.PreviousTier, c.Tier, c.CausedBy, c.LTV, tier, next, e.ev.EventID, ltv.FloatString(2))
				}
				if c.Up != (tierRank(next) > tierRank(tier)) {
					t.Fatalf("seq %d event %d: direction %s for %q -> %q", seq, i, c.Direction(), tier, next)
				}
				ci++
				tier = next
			}
		}
		if ci != len(b.changes) || b.s.Tier != tier {
			t.Fatalf("seq %d: %d changes (want %d), tier %q (want %q)", seq, len(b.changes), ci, b.s.Tier, tier)
		}
		changes += ci

		// Arrival order: a shuffled stream gives the same figures.
		shuffled := append([]refEvent(nil), events...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		c := newCustomer(t, m)
		for _, e := range shuffled {
			c.applyAll(e.ev)
		}
		if f2 := m.Figures(&c.s); !f2.AOV.Equal(f.AOV) || !f2.Frequency.Equal(f.Frequency) ||
			!f2.TenureDays.Equal(f.TenureDays) || !f2.LTV.Equal(f.LTV) || f2.Churned != f.Churned {
			t.Fatalf("seq %d: shuffled arrival changed the figures", seq)
		}
		checked++
	}
	// The generator must actually exercise what the property is about.
	if dups < sequences/2 || redeliveries < sequences/10 || churnedSeqs < sequences/20 || changes < sequences {
		t.Fatalf("weak generator: %d duplicates, %d redeliveries, %d churned, %d changes over %d sequences",
			dups, redeliveries, churnedSeqs, changes, checked)
	}
	t.Logf("%d sequences, %d duplicates, %d redeliveries, %d churned, %d tier changes",
		checked, dups, redeliveries, churnedSeqs, changes)
}

func tierRank(name string) int {
	switch name {
	case "bronze":
		return 0
	case "silver":
		return 1
	case "gold":
		return 2
	case "platinum":
		return 3
	}
	return -1
}
