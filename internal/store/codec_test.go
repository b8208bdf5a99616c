// Tests of the hash codec: what Encode writes, and what DecodeSnapshot
// reads back or rejects.

package store_test

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// encodeAfter applies evs to the snapshot decoded from stored and returns
// what Encode would send to Redis.
func encodeAfter(t testing.TB, stored map[string]string, evs []aggregate.Event, offset0 int64, figures bool) (map[string]string, []string) {
	t.Helper()
	m := aggregate.DefaultModel()
	snap, err := store.DecodeSnapshot("c-1", stored, "")
	if err != nil {
		t.Fatal(err)
	}
	s := snap.State
	for i := range evs {
		m.Apply(&s, &evs[i], aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: offset0 + int64(i)})
	}
	if len(evs) == 0 {
		// A duplicate at a new offset: only the guard moves.
		s.Applied = []aggregate.SourceOffset{{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: offset0}}
	}
	w := store.Encode(m, &snap, &s, nil, store.EncodeOptions{Figures: figures, Now: time.Date(2026, 11, 1, 10, 0, 0, 999, time.UTC)})
	set, del := w.Changes()
	sort.Strings(del)
	return set, del
}

// encodeAfterTimer brings the snapshot decoded from stored to until under
// the default model (its timers due by then fire) and returns what Encode
// would send to Redis for that timer write.
func encodeAfterTimer(t testing.TB, stored map[string]string, until time.Time) (map[string]string, []string) {
	t.Helper()
	m := aggregate.DefaultModel()
	snap, err := store.DecodeSnapshot("c-1", stored, "")
	if err != nil {
		t.Fatal(err)
	}
	s := snap.State
	var fx aggregate.Effects
	m.AdvanceAll(&s, "c-1", until, &fx)
	if len(fx.Segments) == 0 {
		t.Fatalf("no timer fired by %s", until)
	}
	w := store.Encode(m, &snap, &s, nil, store.EncodeOptions{Now: time.Date(2026, 11, 1, 10, 0, 0, 999, time.UTC)})
	set, del := w.Changes()
	sort.Strings(del)
	return set, del
}

// customerWithThreeOrders is the stored hash of customer c-1 after three
// orders, as this code writes it.
func customerWithThreeOrders(tb testing.TB) map[string]string {
	tb.Helper()
	var stored map[string]string
	for i, amount := range []string{"120.00", "80.50", "310.25"} {
		ev := order("e"+strconv.Itoa(i), "c-1", amount, "0.35", "2025-0"+strconv.Itoa(i+1)+"-01T00:00:00Z")
		set, del := encodeAfter(tb, stored, []aggregate.Event{ev}, int64(i), true)
		stored = hashAfter(stored, set, del)
	}
	return stored
}

// hgetallPairs is a hash as HGETALL answers over RESP2: field, value
// pairs (here in name order, so a benchmark's input is the same run to run).
func hgetallPairs(h map[string]string) []string {
	pairs := make([]string, 0, 2*len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		pairs = append(pairs, k, h[k])
	}
	return pairs
}

// hashAfter is the stored hash after applying set and del, as Redis would
// hold it.
func hashAfter(stored, set map[string]string, del []string) map[string]string {
	h := map[string]string{}
	for k, v := range stored {
		h[k] = v
	}
	for k, v := range set {
		h[k] = v
	}
	for _, k := range del {
		delete(h, k)
	}
	return h
}

// A customer scored while the predictive model was on loses the model's
// fields at its next write once the model is off (SPEC §3: they exist with
// the model only), by an event or by a timer (which re-derives §4's ltv:
// TestModelOffTimerWriteStoresTheDefaultLTV); a write of the offset guard
// alone keeps them, as it keeps the predicted ltv; a customer never scored
// deletes nothing.
func TestPredictionsGoWhenTheModelIsOff(t *testing.T) {
	predictive := []string{"expected_orders", "expected_spend", "p_alive", "predicted_clv", "scored_at"}
	scored := hashAfter(customerWithThreeOrders(t), map[string]string{
		"p_alive": "0.9000", "expected_orders": "1.2000", "expected_spend": "99.00", "predicted_clv": "350.00",
		"scored_at": "2025-03-01T00:00:00Z",
	}, nil)
	next := []aggregate.Event{order("e9", "c-1", "10.00", "0.35", "2025-04-01T00:00:00Z")}
	for _, tc := range []struct {
		name    string
		stored  map[string]string
		evs     []aggregate.Event
		figures bool
		want    []string
	}{
		{"an event", scored, next, true, predictive},
		{"a duplicate (guard only)", scored, nil, false, nil},
		{"a timer", scored, nil, false, predictive},
		{"never scored", customerWithThreeOrders(t), next, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var set map[string]string
			var del []string
			if tc.name == "a timer" {
				set, del = encodeAfterTimer(t, tc.stored, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
			} else {
				set, del = encodeAfter(t, tc.stored, tc.evs, 10, tc.figures)
			}
			var got []string
			for _, f := range del {
				if slices.Contains(predictive, f) {
					got = append(got, f)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("deleted %v, want %v", got, tc.want)
			}
			for _, f := range predictive {
				if _, ok := set[f]; ok {
					t.Errorf("%s written with the model off", f)
				}
			}
		})
	}
}

func TestEncodeWritesOnlyWhatChanges(t *testing.T) {
	first := []aggregate.Event{order("e1", "c-1", "100.00", "0.5", "2025-01-01T00:00:00Z")}
	newCustomer, newDel := encodeAfter(t, nil, first, 10, true)
	if len(newDel) != 0 {
		t.Fatalf("a new customer deletes nothing, got %v", newDel)
	}
	for _, f := range []string{"orders", "revenue", "gross_profit", "refunds", "first_order_at", "last_order_at",
		"aov", "frequency", "tenure_days", "churned", "ltv", "tier", "updated_at", "segment", "segment_since", "_g"} {
		if _, ok := newCustomer[f]; !ok {
			t.Errorf("new customer: field %s not written (got %v)", f, newCustomer)
		}
	}
	if got := newCustomer["updated_at"]; got != "2026-11-01T10:00:00Z" {
		t.Errorf("updated_at %q, want whole seconds", got)
	}
	stored := hashAfter(nil, newCustomer, nil)

	tests := []struct {
		name     string
		evs      []aggregate.Event
		figures  bool
		wantSet  []string // exactly these fields are written
		wantDel  []string
		wantSame []string // and these keep their stored value
	}{
		{
			name:    "duplicate at a new offset moves only the guard",
			figures: false,
			wantSet: []string{"_g"},
		},
		{
			// Same amount, same day: aov, first_order_at, refunds and
			// churned stay; updated_at too (the clock is in the same
			// second).
			name:    "second order the same day",
			evs:     []aggregate.Event{order("e2", "c-1", "100.00", "0.5", "2025-01-01T06:00:00Z")},
			figures: true,
			// The second order also makes the customer active.
			wantSet:  []string{"_g", "frequency", "gross_profit", "last_order_at", "ltv", "orders", "revenue", "tenure_days", "segment", "segment_since"},
			wantSame: []string{"first_order_at", "refunds", "churned", "aov", "updated_at"},
		},
		{
			// The exact sum travels in the bookkeeping blob (_g).
			name:    "odd margin keeps the exact sum privately",
			evs:     []aggregate.Event{order("e3", "c-1", "0.10", "0.333", "2025-01-01T00:00:00Z")},
			figures: true,
			// (and makes it active, since the first order's instant)
			wantSet: []string{"_g", "aov", "frequency", "gross_profit", "ltv", "orders", "revenue", "segment"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, del := encodeAfter(t, stored, tc.evs, 11, tc.figures)
			var got []string
			for k := range set {
				got = append(got, k)
			}
			sort.Strings(got)
			want := append([]string(nil), tc.wantSet...)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("written fields %v, want %v", got, want)
			}
			if strings.Join(del, ",") != strings.Join(tc.wantDel, ",") {
				t.Errorf("deleted fields %v, want %v", del, tc.wantDel)
			}
			for _, f := range tc.wantSame {
				if _, ok := set[f]; ok {
					t.Errorf("field %s rewritten with an unchanged value", f)
				}
			}
		})
	}
}

func TestExactSumsRoundTripThroughTheBlob(t *testing.T) {
	// A sum with more than 2 decimals is kept exactly (in the blob) and
	// the public field is its rounding; once the total is whole cents
	// again only the public value is needed.
	odd := []aggregate.Event{order("e1", "c-1", "0.10", "0.333", "2025-01-01T00:00:00Z")}
	set, del := encodeAfter(t, nil, odd, 0, true)
	if len(del) != 0 {
		t.Fatalf("new customer deletes %v", del)
	}
	stored := hashAfter(nil, set, nil)
	snap, err := store.DecodeSnapshot("c-1", stored, "")
	if err != nil {
		t.Fatal(err)
	}
	if set["gross_profit"] != "0.03" || snap.State.GrossProfit.String() != "0.0333" {
		t.Fatalf("gross_profit %q, exact %s; want 0.03 and 0.0333", set["gross_profit"], snap.State.GrossProfit)
	}
	evenOut := []aggregate.Event{order("e2", "c-1", "0.10", "0.367", "2025-01-01T00:00:00Z")}
	set, del = encodeAfter(t, stored, evenOut, 1, true)
	if len(del) != 0 {
		t.Fatalf("deleted %v, want nothing: the blob changes, no field goes", del)
	}
	if set["gross_profit"] != "0.07" {
		t.Fatalf("gross_profit %q", set["gross_profit"])
	}
	// Round trip: what Redis would now hold decodes to the same state.
	after := hashAfter(stored, set, del)
	snap, err = store.DecodeSnapshot("c-1", after, "")
	if err != nil {
		t.Fatal(err)
	}
	if snap.State.Orders != 2 || snap.State.GrossProfit.String() != "0.07" || len(snap.State.Seen) != 2 {
		t.Fatalf("round trip: orders %d gp %s seen %d", snap.State.Orders, snap.State.GrossProfit, len(snap.State.Seen))
	}
}

// A window of many digests spreads the blob over several fields, each
// within Redis's listpack value limit, and shrinks back when it can.
func TestBlobPiecesStayListpackSized(t *testing.T) {
	var stored map[string]string
	var evs []aggregate.Event
	for i := 0; i < 40; i++ {
		evs = append(evs, order("e"+strconv.Itoa(i), "c-1", "1.00", "", "2025-01-01T00:00:00Z"))
	}
	set, del := encodeAfter(t, stored, evs, 0, true)
	stored = hashAfter(stored, set, del)
	pieces := 0
	for k, v := range stored {
		if strings.HasPrefix(k, "_g") {
			pieces++
			if len(v) > 64 {
				t.Errorf("%s is %d bytes, more than a listpack value may be", k, len(v))
			}
		}
	}
	if pieces < 5 {
		t.Fatalf("%d pieces for 32 digests and a guard, want at least 5", pieces)
	}
	snap, err := store.DecodeSnapshot("c-1", stored, "")
	if err != nil || len(snap.State.Seen) != aggregate.DefaultDedupeWindow {
		t.Fatalf("decoded %d digests, %v", len(snap.State.Seen), err)
	}
}

// BenchmarkDecodeApplyEncode is the consumer's per-customer CPU between
// Redis round trips: decode a loaded hash of a customer with a few orders,
// apply one order, encode the write.
func BenchmarkDecodeApplyEncode(b *testing.B) {
	m := aggregate.DefaultModel()
	stored := customerWithThreeOrders(b)
	ev := order("e-next", "c-1", "99.95", "0.35", "2025-06-01T00:00:00Z")
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var fx aggregate.Effects           // reused, as the pipeline reuses a customer's
	var fields store.FieldBuffer       // reused, as the pipeline's batches do
	snaps := make([]store.Snapshot, 1) // the array a batch loads into (Cached.LoadInto)
	pairs := hgetallPairs(stored)      // as a load receives the hash (Redis.LoadTo)
	b.ReportAllocs()
	for b.Loop() {
		snap := &snaps[0]
		if err := store.DecodeSnapshotInto(snap, "c-1", pairs, ""); err != nil {
			b.Fatal(err)
		}
		s := snap.State
		fx.Segments, fx.Tiers = fx.Segments[:0], fx.Tiers[:0]
		res := m.ApplyTo(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 10}, ev.OccurredAt, &fx)
		if len(fx.Segments) == 0 {
			b.Fatal("the order after a quiet spell changes no segment")
		}
		fields.Reset()
		w := store.Encode(m, snap, &s, nil, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: now, Fields: &fields})
		if w.Token == "" {
			b.Fatal("no token")
		}
	}
}

// Every field decodes into the state: the public ones, and from the blob
// the guard, digests, lifecycle times and exact sums. A field that cannot
// be parsed is reported by name, never read as zero; an _g that is not a
// blob is one of those.
func TestDecodeSnapshotReadsEveryFieldAndRejectsCorruptOnes(t *testing.T) {
	orders, lifecycle := aggregate.TopicOf("orders"), aggregate.TopicOf("customer-lifecycle")
	stored := aggregate.State{
		Orders: 3, Revenue: money.MustParse("10.5049"), GrossProfit: money.MustParse("4"),
		Refunds: money.MustParse("1"), LTV: money.MustParse("42"), Tier: "bronze",
		FirstOrderAt: mustTime("2025-01-01T00:00:00Z"), LastOrderAt: mustTime("2025-03-01T00:00:00Z"),
		LastChurnAt: mustTime("2025-04-01T00:00:00Z"), LastReactivatedAt: mustTime("2025-02-01T00:00:00Z"),
		Applied: []aggregate.SourceOffset{{Topic: orders, Partition: 3, Offset: 17}, {Topic: lifecycle, Partition: 3, Offset: 5}},
		Seen:    []uint64{1, 2, 3},
	}
	w := store.Encode(aggregate.DefaultModel(), &store.Snapshot{CustomerID: "c-1"}, &stored, nil,
		store.EncodeOptions{Figures: true, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	set, _ := w.Changes()
	base := hashAfter(map[string]string{"future_pub": "x", "_dx": "ignored"}, set, nil) // unknown fields: left alone
	with := func(k, v string) map[string]string {
		h := hashAfter(base, nil, nil)
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	snap, err := store.DecodeSnapshot("c-1", base, "{\"a\":1}\n\n{\"b\":2}\n")
	if err != nil {
		t.Fatal(err)
	}
	st := snap.State
	if st.Orders != 3 || st.Revenue.String() != "10.5049" || st.GrossProfit.String() != "4" || st.Refunds.String() != "1" ||
		st.LTV.String() != "42" || st.Tier != "bronze" || !st.LastChurnAt.Equal(stored.LastChurnAt) ||
		!st.LastReactivatedAt.Equal(stored.LastReactivatedAt) || !st.FirstOrderAt.Equal(stored.FirstOrderAt) ||
		!st.LastOrderAt.Equal(stored.LastOrderAt) {
		t.Fatalf("state %+v", st)
	}
	if !slices.Equal(st.Applied, stored.Applied) || !slices.Equal(st.Seen, stored.Seen) {
		t.Fatalf("applied %+v, seen %v", st.Applied, st.Seen)
	}
	if snap.Token != base["_g"] || len(snap.Pending) != 2 || string(snap.Pending[1]) != "{\"b\":2}" {
		t.Fatalf("token %q, pending %q", snap.Token, snap.Pending)
	}
	for _, tt := range []struct{ field, value, wantErr string }{
		{"orders", "-1", "field orders"},
		{"orders", "x", "field orders"},
		{"revenue", "1.2.3", "field revenue"},
		{"refunds", "abc", "field refunds"},
		{"last_order_at", "yesterday", "field last_order_at"},
		{"_g", "orders:3:17,customer-lifecycle:3:5", "field _g"}, // text, not a blob
		{"_g", "\x90\x01", "field _g"},                           // a blob cut short in its guard
		{"_g", "\x80\x01\x02", "field _g"},                       // digests not a multiple of 8 bytes
		{"_g", "", ""},                                           // no bookkeeping at all: public fields only
	} {
		_, err := store.DecodeSnapshot("c-1", with(tt.field, tt.value), "")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s=%q: error %v, want %q", tt.field, tt.value, err, tt.wantErr)
		}
	}
}

// Writes encoded with a FieldBuffer carry the same fields as writes
// encoded without one, and do not overlap: each keeps its own list while
// later writes are encoded, across the buffer's growth.
func TestFieldBufferLendsEachWriteItsOwnList(t *testing.T) {
	m := aggregate.DefaultModel()
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var buf store.FieldBuffer
	type pair struct{ lent, own store.Write }
	var writes []pair
	snaps := make([]store.Snapshot, 3000) // enough lists to outgrow the buffer's first array
	for i := range snaps {
		id := "c-" + strconv.Itoa(i)
		snap, err := store.DecodeSnapshot(id, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		snaps[i] = snap
		st := snap.State
		ev := order("e-"+id, id, strconv.Itoa(i)+".25", "0.3", "2026-01-01T00:00:00Z")
		m.Apply(&st, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: int64(i)})
		lent := store.Encode(m, &snaps[i], &st, nil, store.EncodeOptions{Figures: true, Now: now, Fields: &buf})
		own := store.Encode(m, &snaps[i], &st, nil, store.EncodeOptions{Figures: true, Now: now})
		writes = append(writes, pair{lent, own})
	}
	for i, p := range writes {
		lent, _ := p.lent.Changes()
		own, _ := p.own.Changes()
		if len(lent) < 10 || !maps.Equal(lent, own) {
			t.Fatalf("write %d: %v, want %v", i, lent, own)
		}
	}
	// After Reset the room is lent again, from the start; a clone kept
	// from before is not overwritten.
	var small store.FieldBuffer
	encode := func(i int) store.Write {
		st := snaps[i].State
		st.Orders = int64(10 + i) // differs from customer to customer
		return store.Encode(m, &snaps[i], &st, nil, store.EncodeOptions{Figures: true, Now: now, Fields: &small})
	}
	first := encode(0)
	want, _ := first.Changes()
	kept := first.Clone()
	small.Reset()
	encode(1)
	if got, _ := kept.Changes(); !maps.Equal(got, want) {
		t.Fatalf("a clone changed when its buffer was reused: %v, want %v", got, want)
	}
	if lent, _ := first.Changes(); maps.Equal(lent, want) {
		t.Fatal("the buffer was not reused after Reset (the test proves nothing)")
	}
}

// A reply that is not field, value pairs is an error, and leaves the slot
// zero (as every decode error does), not half filled.
func TestDecodeRefusesAnOddNumberOfStrings(t *testing.T) {
	snap := store.Snapshot{CustomerID: "left over", Exists: true}
	err := store.DecodeSnapshotInto(&snap, "c-1", []string{"orders", "2", "revenue"}, "")
	if err == nil || !strings.Contains(err.Error(), "pairs") {
		t.Fatalf("odd reply decoded: %v", err)
	}
	if snap.CustomerID != "" || snap.Exists {
		t.Errorf("slot not zeroed: %+v", snap)
	}
	if err := store.DecodeSnapshotInto(&snap, "c-1", []string{"orders", "2"}, ""); err != nil || snap.State.Orders != 2 {
		t.Errorf("pairs not decoded: %v, %+v", err, snap.State)
	}
}
