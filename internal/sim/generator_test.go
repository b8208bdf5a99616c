package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// faultyConfig exercises every fault at once.
func faultyConfig(seed int64, events, customers int) Config {
	return Config{
		Seed: seed, Events: events, Customers: customers,
		DuplicateRate: 0.02, LateRate: 0.03, BadRate: 0.02, OversizeRate: 0.002, OversizeBytes: 4096,
	}
}

func generate(t testing.TB, cfg Config) ([]Record, *Generator) {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatalf("NewGenerator: %v", err)
	}
	var out []Record
	for {
		r, ok := g.Next()
		if !ok {
			return out, g
		}
		out = append(out, r)
	}
}

// digest hashes everything a record carries.
func digest(recs []Record) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, r := range recs {
		for _, part := range [][]byte{{byte(r.Topic), byte(r.Label)}, r.Key, r.Value, []byte(r.BadReason)} {
			binary.BigEndian.PutUint64(n[:], uint64(len(part)))
			h.Write(n[:])
			h.Write(part)
		}
		binary.BigEndian.PutUint64(n[:], uint64(r.OccurredAt.UnixNano()))
		h.Write(n[:])
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

func TestDeterminism(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{Seed: 7}},
		{"all faults", faultyConfig(7, 20000, 2000)},
		{"one customer", Config{Seed: 7, Customers: 1, Events: 500, LateRate: 0.1, DuplicateRate: 0.1, BadRate: 0.1}},
		{"other currency and start", Config{Seed: 7, BaseCurrency: "EUR", Start: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC), BadRate: 0.05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := generate(t, tt.cfg)
			b, _ := generate(t, tt.cfg)
			if len(a) != tt.cfg.Events && tt.cfg.Events != 0 {
				t.Fatalf("got %d records, want %d", len(a), tt.cfg.Events)
			}
			if digest(a) != digest(b) {
				t.Fatal("same config gave different streams")
			}
			other := tt.cfg
			other.Seed++
			c, _ := generate(t, other)
			if digest(a) == digest(c) {
				t.Fatal("different seeds gave the same stream")
			}
		})
	}
}

// All yields exactly the stream Next returns, and stops where the loop
// stops.
func TestAllYieldsWhatNextReturns(t *testing.T) {
	cfg := faultyConfig(5, 3000, 300)
	want, _ := generate(t, cfg)
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []Record
	for rec := range g.All() {
		got = append(got, rec)
		if len(got) == 1000 {
			break
		}
	}
	if len(got) != 1000 || digest(got) != digest(want[:1000]) {
		t.Fatalf("the first %d records ranged over differ from Next's first 1000", len(got))
	}
	// The loop stopped early: the rest follows on the next range.
	for rec := range g.All() {
		got = append(got, rec)
	}
	if len(got) != len(want) || digest(got) != digest(want) {
		t.Fatalf("%d records ranged over in two loops differ from Next's %d", len(got), len(want))
	}
}

// The valid events depend only on the model and the seed: adding faults
// must not change them (only interleave faults and reorder late ones).
func TestValidEventsIndependentOfFaults(t *testing.T) {
	clean, _ := generate(t, Config{Seed: 3, Events: 20000, Customers: 1000})
	faulty, _ := generate(t, faultyConfig(3, 20000, 1000))
	want := map[string]bool{}
	for _, r := range clean {
		want[string(r.Value)] = true
	}
	n := 0
	for _, r := range faulty {
		if r.Label == LabelValid || r.Label == LabelLate {
			n++
			if !want[string(r.Value)] {
				t.Fatalf("valid event of the faulty run not in the clean run: %s", r.Value)
			}
		}
	}
	if n < 18000 {
		t.Fatalf("only %d valid events", n)
	}
}

func TestRates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"faults", Config{Seed: 11, Events: 100000, Customers: 5000, DuplicateRate: 0.02, LateRate: 0.03, BadRate: 0.01, OversizeRate: 0.005, OversizeBytes: 2048}},
		{"heavy faults", Config{Seed: 12, Events: 100000, Customers: 5000, DuplicateRate: 0.2, LateRate: 0.2, BadRate: 0.2}},
		{"model rates", Config{Seed: 13, Events: 100000, Customers: 20000, RefundRate: 0.3, ChurnRate: 0.6, ReactivationRate: 0.5, MarginAbsentRate: 0.4, NumericAmountRate: 0.25}},
		{"defaults", Config{Seed: 14, Events: 100000, Customers: 20000}},
		{"switched off", Config{Seed: 15, Events: 50000, Customers: 5000, RefundRate: Off, ChurnRate: Off, MarginAbsentRate: Off, NumericAmountRate: Off}},
	}
	near := func(t *testing.T, what string, got, want float64) {
		t.Helper()
		tol := 0.1*want + 0.002
		if math.Abs(got-want) > tol {
			t.Errorf("%s: got %.4f, want %.4f ± %.4f", what, got, want, tol)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, g := generate(t, tt.cfg)
			cfg := g.Config()
			labels := map[Label]int{}
			oversize := 0
			for _, r := range recs {
				labels[r.Label]++
				if BadKindOf(r.BadReason) == BadOversized {
					oversize++
				}
			}
			n := float64(len(recs))
			near(t, "duplicates", float64(labels[LabelDuplicate])/n, cfg.DuplicateRate)
			near(t, "late", float64(labels[LabelLate])/n, cfg.LateRate)
			near(t, "bad", float64(labels[LabelBad]-oversize)/n, cfg.BadRate)
			near(t, "oversize", float64(oversize)/n, cfg.OversizeRate)

			st := g.m.stats
			near(t, "refunds per order", float64(st.refunds)/float64(st.orders), cfg.RefundRate)
			near(t, "margin absent", float64(st.marginAbsent)/float64(st.orders), cfg.MarginAbsentRate)
			near(t, "numeric amounts", float64(st.numeric)/float64(st.orders+st.refunds), cfg.NumericAmountRate)
			if cfg.ChurnRate > 0 && st.dropouts < 300 {
				t.Fatalf("only %d drop-outs: too few to check the churn rate", st.dropouts)
			}
			if st.dropouts > 0 {
				near(t, "churn per drop-out", float64(st.churns)/float64(st.dropouts), cfg.ChurnRate)
			}
			if st.churns > 300 {
				near(t, "reactivation per churn", float64(st.reactScheduled)/float64(st.churns), cfg.ReactivationRate)
			}
		})
	}
}

// Every record that is not bad is a SPEC §2 event with the generator's
// promised shape; duplicates are exact copies of a recent record.
func TestValidRecordsMatchSpec(t *testing.T) {
	cfg := faultyConfig(21, 40000, 3000)
	cfg.NumericAmountRate = 0.3
	recs, g := generate(t, cfg)
	base := g.Config().BaseCurrency
	window := g.Config().DuplicateWindow
	eventIDs := map[string]string{} // event_id → value
	orderIDs := map[string]bool{}
	var emitted [][]byte
	types := map[string]int{}
	for i, r := range recs {
		if r.Label == LabelBad {
			continue
		}
		ev, err := checkEvent(r.Key, r.Value, base)
		if err != nil {
			t.Fatalf("record %d (%s) is not valid: %v: %s", i, r.Label, err, r.Value)
		}
		types[ev.Type]++
		if got, want := r.Topic, topicOfType(ev.Type); got != want {
			t.Fatalf("record %d: type %s on topic %s", i, ev.Type, got)
		}
		if !ev.OccurredAt.Equal(r.OccurredAt) {
			t.Fatalf("record %d: OccurredAt %v, occurred_at %v", i, r.OccurredAt, ev.OccurredAt)
		}
		if !uuidRe.MatchString(ev.EventID) {
			t.Fatalf("record %d: event_id %q is not a v4 UUID", i, ev.EventID)
		}
		if !strings.HasPrefix(ev.CustomerID, "c-") || len(ev.CustomerID) != 8 {
			t.Fatalf("record %d: customer id %q", i, ev.CustomerID)
		}
		if r.Label == LabelDuplicate {
			found := false
			for j := len(emitted) - 1; j >= 0 && j >= len(emitted)-window && !found; j-- {
				found = string(emitted[j]) == string(r.Value)
			}
			if !found {
				t.Fatalf("record %d: duplicate of nothing in the last %d records: %s", i, window, r.Value)
			}
			continue
		}
		emitted = append(emitted, r.Value)
		if prev, dup := eventIDs[ev.EventID]; dup {
			t.Fatalf("record %d: event_id %s reused by a different event:\n%s\n%s", i, ev.EventID, prev, r.Value)
		}
		eventIDs[ev.EventID] = string(r.Value)
		switch ev.Type {
		case "order_placed", "order_refunded":
			if !twoPlaceRe.MatchString(ev.AmountText) {
				t.Fatalf("record %d: amount %q does not have exactly 2 decimals", i, ev.AmountText)
			}
			if ev.Amount.Sign() <= 0 {
				t.Fatalf("record %d: amount %s not positive", i, ev.AmountText)
			}
			if ev.Margin != nil && !strings.Contains(`0.25 0.40 0.55 0.62`, ev.MarginText) {
				t.Fatalf("record %d: margin %q not a category", i, ev.MarginText)
			}
			if ev.Type == "order_placed" {
				if orderIDs[ev.OrderID] {
					t.Fatalf("record %d: order id %s placed twice", i, ev.OrderID)
				}
				orderIDs[ev.OrderID] = true
				if ev.Channel == "" {
					t.Fatalf("record %d: order without channel", i)
				}
			}
		default:
			if ev.Type == "customer_churned" && ev.Reason == "" {
				t.Fatalf("record %d: churn without reason", i)
			}
		}
	}
	for _, typ := range []string{"order_placed", "order_refunded", "customer_churned", "customer_reactivated"} {
		if types[typ] == 0 {
			t.Errorf("no %s event in the stream", typ)
		}
	}
}

func topicOfType(typ string) Topic {
	if strings.HasPrefix(typ, "order_") {
		return TopicOrders
	}
	return TopicLifecycle
}

// Refunds refer to an earlier order of the same customer and never
// exceed it (at most one refund per order); their margin is the order's.
// Lifecycle events of a customer alternate churned → reactivated.
func TestRefundsAndLifecycleAreConsistent(t *testing.T) {
	cfg := faultyConfig(31, 40000, 1000)
	cfg.RefundRate = 0.3
	cfg.ChurnRate = 0.8
	cfg.ReactivationRate = 0.6
	recs, g := generate(t, cfg)
	type order struct {
		customer string
		amount   *big.Rat
		margin   string
		at       time.Time
		refunded bool
	}
	var events []*specEvent
	orders := map[string]*order{}
	for _, r := range recs {
		if r.Label == LabelValid || r.Label == LabelLate {
			ev, err := checkEvent(r.Key, r.Value, g.Config().BaseCurrency)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
			if ev.Type == "order_placed" {
				orders[ev.OrderID] = &order{customer: ev.CustomerID, amount: ev.Amount, margin: ev.MarginText, at: ev.OccurredAt}
			}
		}
	}
	refunds := 0
	lastLifecycle := map[string]string{}
	// In event-time order (late events were only delayed in emission).
	sortByTime(events)
	for _, ev := range events {
		switch ev.Type {
		case "order_refunded":
			refunds++
			o := orders[ev.OrderID]
			switch {
			case o == nil:
				t.Fatalf("refund of unknown order %s", ev.OrderID)
			case o.customer != ev.CustomerID:
				t.Fatalf("refund of %s by %s, order of %s", ev.OrderID, ev.CustomerID, o.customer)
			case !o.at.Before(ev.OccurredAt):
				t.Fatalf("refund of %s at %v, not after the order at %v", ev.OrderID, ev.OccurredAt, o.at)
			case ev.Amount.Cmp(o.amount) > 0:
				t.Fatalf("refund of %s: %s exceeds the order's %s", ev.OrderID, ev.AmountText, o.amount.FloatString(2))
			case o.refunded:
				t.Fatalf("order %s refunded twice", ev.OrderID)
			case ev.MarginText != o.margin:
				t.Fatalf("refund of %s has margin %q, the order %q", ev.OrderID, ev.MarginText, o.margin)
			}
			o.refunded = true
			if ev.Amount.Cmp(new(big.Rat).Mul(o.amount, big.NewRat(19, 100))) < 0 {
				t.Fatalf("refund of %s: %s is under 20%% of %s", ev.OrderID, ev.AmountText, o.amount.FloatString(2))
			}
		case "customer_churned":
			if lastLifecycle[ev.CustomerID] == "customer_churned" {
				t.Fatalf("%s churned twice without reactivation", ev.CustomerID)
			}
			lastLifecycle[ev.CustomerID] = ev.Type
		case "customer_reactivated":
			if lastLifecycle[ev.CustomerID] != "customer_churned" {
				t.Fatalf("%s reactivated without churning", ev.CustomerID)
			}
			lastLifecycle[ev.CustomerID] = ev.Type
		}
	}
	if refunds < 100 {
		t.Fatalf("only %d refunds", refunds)
	}
}

func sortByTime(evs []*specEvent) {
	slices.SortStableFunc(evs, func(a, b *specEvent) int { return a.OccurredAt.Compare(b.OccurredAt) })
}

// Every bad record fails the strict SPEC §2 check, every kind occurs, and
// none reuses an event id of a valid event.
func TestBadRecordsAreBad(t *testing.T) {
	cfg := Config{Seed: 41, Events: 12000, Customers: 2000, BadRate: 0.3, OversizeRate: 0.003, OversizeBytes: specMaxBytes + 1}
	recs, g := generate(t, cfg)
	validIDs := map[string]bool{}
	for _, r := range recs {
		if r.Label != LabelBad {
			if ev, err := checkEvent(r.Key, r.Value, g.Config().BaseCurrency); err == nil {
				validIDs[ev.EventID] = true
			}
		}
	}
	kinds := map[string]int{}
	lifecycle := 0
	for i, r := range recs {
		if r.Label != LabelBad {
			continue
		}
		kind := BadKindOf(r.BadReason)
		kinds[kind]++
		if r.Topic == TopicLifecycle {
			lifecycle++
		}
		if _, err := checkEvent(r.Key, r.Value, g.Config().BaseCurrency); err == nil {
			t.Fatalf("bad record %d (%s) passes the SPEC check: %s", i, r.BadReason, r.Value)
		}
		head := r.Value[:min(len(r.Value), 2048)] // oversized records: the ids are at the front
		for _, id := range uuidAnyRe.FindAll(head, -1) {
			if validIDs[string(id)] {
				t.Fatalf("bad record %d reuses the event id %s of a valid event", i, id)
			}
		}
		if r.OccurredAt.IsZero() || len(r.Key) == 0 {
			t.Fatalf("bad record %d without time or key", i)
		}
	}
	for _, k := range append(BadKinds(), BadOversized) {
		if kinds[k] == 0 {
			t.Errorf("no bad record of kind %s", k)
		}
	}
	if lifecycle == 0 {
		t.Error("no bad record on the lifecycle topic")
	}
}

// One table row per kind: a record of that kind fails the specific check
// that kind is about.
func TestBadKindsFailTheirCheck(t *testing.T) {
	recs, g := generate(t, Config{Seed: 42, Events: 20000, Customers: 500, BadRate: 0.5})
	want := map[string]string{
		BadMissingField:     "missing",
		BadEmptyField:       "empty",
		BadUnknownType:      "unknown type",
		BadNegativeAmount:   "negative amount",
		BadNonNumericAmount: "amount:",
		BadMarginRange:      "gross_margin",
		BadWrongCurrency:    "currency",
		BadInvalidUTF8:      "invalid UTF-8",
		BadTimestamp:        "occurred_at",
		BadDuplicateKey:     "duplicate key",
		BadDeepNesting:      "nested deeper",
		BadHugeNumber:       "out of range",
		BadKeyMismatch:      "is not the key",
		BadBlankID:          "empty",
	}
	seen := map[string]bool{}
	for _, r := range recs {
		kind := BadKindOf(r.BadReason)
		sub, ok := want[kind]
		if !ok {
			continue
		}
		_, err := checkEvent(r.Key, r.Value, g.Config().BaseCurrency)
		if err == nil || !strings.Contains(err.Error(), sub) {
			t.Fatalf("%s: got error %v, want one containing %q: %q", r.BadReason, err, sub, r.Value)
		}
		seen[kind] = true
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("kind %s not generated", k)
		}
	}
}

// Late records are really out of order; valid ones never go back in time.
func TestLateRecordsAreOutOfOrder(t *testing.T) {
	for _, cfg := range []Config{
		faultyConfig(51, 50000, 5000),
		{Seed: 52, Events: 20000, Customers: 200000, LateRate: 0.1, LateMinDelay: 5, LateMaxDelay: 10},
		{Seed: 53, Events: 3000, Customers: 10, LateRate: 0.2},
	} {
		recs, _ := generate(t, cfg)
		var clock time.Time
		late := 0
		for i, r := range recs {
			switch r.Label {
			case LabelLate:
				late++
				if !r.OccurredAt.Before(clock) {
					t.Fatalf("record %d is labelled late at %v but nothing later went out before it (clock %v)", i, r.OccurredAt, clock)
				}
			case LabelValid:
				if r.OccurredAt.Before(clock) {
					t.Fatalf("record %d is labelled valid at %v, after %v went out", i, r.OccurredAt, clock)
				}
			}
			if (r.Label == LabelValid || r.Label == LabelLate) && r.OccurredAt.After(clock) {
				clock = r.OccurredAt
			}
		}
		if want := int(cfg.LateRate * float64(cfg.Events) / 2); late < want {
			t.Fatalf("seed %d: only %d late records, want at least %d", cfg.Seed, late, want)
		}
	}
}

// Memory does not grow with Events: the per-customer arrays are fixed,
// the held-back late events and pending refunds stay bounded, and the heap
// in use after a long run is small.
func TestBoundedMemory(t *testing.T) {
	cfg := Config{Seed: 61, Events: 200000, Customers: 50000, LateRate: 0.05, DuplicateRate: 0.05, BadRate: 0.01, RefundRate: 0.3}
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	maxRefunds := 0
	n := 0
	for {
		_, ok := g.Next()
		if !ok {
			break
		}
		n++
		maxRefunds = max(maxRefunds, len(g.m.refunds))
		if len(g.m.cust) != cfg.Customers || len(g.m.heap) > cfg.Customers || len(g.recent) > g.cfg.DuplicateWindow {
			t.Fatalf("after %d records: %d customers, heap %d, recent %d", n, len(g.m.cust), len(g.m.heap), len(g.recent))
		}
	}
	if n != cfg.Events {
		t.Fatalf("got %d records", n)
	}
	if len(g.held) != 0 {
		t.Errorf("%d late records were held back and never emitted", len(g.held))
	}
	if limit := g.cfg.LateMaxDelay; g.maxHeld > limit {
		t.Errorf("held up to %d late records, more than %d", g.maxHeld, limit)
	}
	if maxRefunds > cfg.Customers/2 {
		t.Errorf("up to %d pending refunds", maxRefunds)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Errorf("heap in use grew by %d MiB over %d records", grew>>20, n)
	}
	runtime.KeepAlive(g)
}

// When every customer has dropped out for good, they are won back so the
// stream still reaches Events.
func TestWinBackKeepsTheStreamGoing(t *testing.T) {
	cfg := Config{Seed: 71, Customers: 3, Events: 2000, DropoutBeta: 1, DropoutShape: 5, ChurnRate: 0.5}
	recs, g := generate(t, cfg)
	if len(recs) != cfg.Events {
		t.Fatalf("got %d records", len(recs))
	}
	if g.m.stats.winBacks == 0 {
		t.Fatal("expected win-backs")
	}
	for _, r := range recs {
		if _, err := checkEvent(r.Key, r.Value, "SEK"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"zero value", Config{}, ""},
		{"off", Config{RefundRate: Off, ChurnRate: Off, DuplicateRate: Off}, ""},
		{"rate above 1", Config{BadRate: 1.5}, "bad rate"},
		{"negative rate", Config{LateRate: -0.2}, "late rate"},
		{"NaN rate", Config{RefundRate: math.NaN()}, "refund rate"},
		{"faults add up", Config{BadRate: 0.5, DuplicateRate: 0.5}, "add up"},
		{"negative events", Config{Events: -1}, "events"},
		{"negative customers", Config{Customers: -5}, "customers"},
		{"currency", Config{BaseCurrency: "kr"}, "currency"},
		{"late delays", Config{LateMinDelay: 10, LateMaxDelay: 5}, "late delays"},
		{"model", Config{PurchaseShape: -1}, "purchase shape"},
		{"oversize", Config{OversizeBytes: 10}, "oversize bytes"},
		{"start", Config{Start: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, "start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGenerator(tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
	g, err := NewGenerator(Config{RefundRate: Off})
	if err != nil {
		t.Fatal(err)
	}
	if c := g.Config(); c.RefundRate != 0 || c.ChurnRate != DefaultChurnRate || c.Events != DefaultEvents || !c.Start.Equal(DefaultStart) {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestGammaSampler(t *testing.T) {
	r := newRand(1, 2)
	for _, shape := range []float64{0.3, 0.75, 1, 2.5, 9} {
		const n = 200000
		var sum, sum2 float64
		for range n {
			x := gamma(r, shape)
			if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("shape %v: sample %v", shape, x)
			}
			sum += x
			sum2 += x * x
		}
		mean := sum / n
		variance := sum2/n - mean*mean
		// Gamma(k, 1): mean k, variance k.
		if math.Abs(mean-shape) > 0.02*shape+0.01 {
			t.Errorf("shape %v: mean %v", shape, mean)
		}
		if math.Abs(variance-shape) > 0.06*shape+0.02 {
			t.Errorf("shape %v: variance %v", shape, variance)
		}
	}
}

func TestCustomerHeterogeneity(t *testing.T) {
	recs, _ := generate(t, Config{Seed: 81, Events: 40000, Customers: 2000})
	orders := map[string]int{}
	spend := map[string]float64{}
	for _, r := range recs {
		ev, err := checkEvent(r.Key, r.Value, "SEK")
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "order_placed" {
			orders[ev.CustomerID]++
			f, _ := ev.Amount.Float64()
			spend[ev.CustomerID] += f
		}
	}
	maxOrders, ones := 0, 0
	for _, n := range orders {
		maxOrders = max(maxOrders, n)
		if n == 1 {
			ones++
		}
	}
	// Heavy buyers and one-time buyers both exist.
	if maxOrders < 60 || ones < len(orders)/10 {
		t.Fatalf("not heterogeneous: max %d orders, %d of %d customers ordered once", maxOrders, ones, len(orders))
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Seed: 1, Events: b.N, Customers: 200000, DuplicateRate: 0.01, LateRate: 0.01, BadRate: 0.005}
	g, err := NewGenerator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for {
		if _, ok := g.Next(); !ok {
			break
		}
	}
}

// TestCustomersGoQuietForMonths: a stream holds customers who go quiet for
// at least 180 days (lapsed, SPEC §8) and then order again, and customers
// whose last order is long before the stream's end.
func TestCustomersGoQuietForMonths(t *testing.T) {
	g, err := NewGenerator(Config{Seed: 3, Customers: 500, Events: 5000})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]time.Time{}
	var end time.Time
	returned := 0
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		if rec.Topic != TopicOrders || !bytes.Contains(rec.Value, []byte(`"order_placed"`)) {
			continue
		}
		id := string(rec.Key)
		if prev, ok := last[id]; ok && rec.OccurredAt.Sub(prev) >= 180*24*time.Hour {
			returned++
		}
		last[id] = rec.OccurredAt
		if rec.OccurredAt.After(end) {
			end = rec.OccurredAt
		}
	}
	quiet := 0
	for _, at := range last {
		if end.Sub(at) >= 180*24*time.Hour {
			quiet++
		}
	}
	if returned < 10 || quiet < 50 {
		t.Fatalf("%d customers came back after 180 quiet days, %d stayed quiet for 180 days at the end", returned, quiet)
	}
}
