package store_test

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
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

func TestEncodeWritesOnlyWhatChanges(t *testing.T) {
	first := []aggregate.Event{order("e1", "c-1", "100.00", "0.5", "2025-01-01T00:00:00Z")}
	newCustomer, newDel := encodeAfter(t, nil, first, 10, true)
	if len(newDel) != 0 {
		t.Fatalf("a new customer deletes nothing, got %v", newDel)
	}
	for _, f := range []string{"orders", "revenue", "gross_profit", "refunds", "first_order_at", "last_order_at",
		"aov", "frequency", "tenure_days", "churned", "ltv", "tier", "updated_at", "_g"} {
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
			name:     "second order the same day",
			evs:      []aggregate.Event{order("e2", "c-1", "100.00", "0.5", "2025-01-01T06:00:00Z")},
			figures:  true,
			wantSet:  []string{"_g", "frequency", "gross_profit", "last_order_at", "ltv", "orders", "revenue", "tenure_days"},
			wantSame: []string{"first_order_at", "refunds", "churned", "aov", "updated_at"},
		},
		{
			// The exact sum travels in the bookkeeping blob (_g).
			name:    "odd margin keeps the exact sum privately",
			evs:     []aggregate.Event{order("e3", "c-1", "0.10", "0.333", "2025-01-01T00:00:00Z")},
			figures: true,
			wantSet: []string{"_g", "aov", "frequency", "gross_profit", "ltv", "orders", "revenue"},
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

// A customer stored by an earlier version (text guard, exact sums and
// lifecycle times in fields of their own, digests in _d<n>) decodes to the
// same state, and its next write moves everything into the blob and
// deletes the old fields.
func TestOldLayoutIsReadAndReplaced(t *testing.T) {
	digest := func(c byte) string { return strings.Repeat(string(c), 8) }
	old := map[string]string{
		"orders": "2", "revenue": "599.05", "gross_profit": "232.92", "refunds": "10.00",
		"first_order_at": "2026-03-01T12:00:00Z", "last_order_at": "2026-09-01T12:00:00Z",
		"aov": "299.53", "frequency": "2.0000", "tenure_days": "184.00", "churned": "0", "ltv": "698.75",
		"tier": "bronze", "updated_at": "2026-11-01T00:00:00Z",
		"_g": "orders:3:17,customer-lifecycle:3:5", "_gp": "232.91665", "_ch": "2026-05-01T00:00:00Z",
		"_d0": digest('a') + digest('b'), "_d1": digest('c'),
	}
	snap, err := store.DecodeSnapshot("c-1", old, "")
	if err != nil {
		t.Fatal(err)
	}
	st := snap.State
	if st.GrossProfit.String() != "232.91665" || len(st.Seen) != 3 || len(st.Applied) != 2 ||
		st.Applied[1].Topic != aggregate.TopicOf("customer-lifecycle") || st.Applied[1].Offset != 5 ||
		!st.LastChurnAt.Equal(mustTime("2026-05-01T00:00:00Z")) {
		t.Fatalf("old layout decoded as %+v", st)
	}
	set, del := encodeAfter(t, old, []aggregate.Event{order("e9", "c-1", "1.00", "", "2026-09-02T00:00:00Z")}, 18, true)
	sort.Strings(del)
	if strings.Join(del, ",") != "_ch,_d0,_d1,_gp" {
		t.Fatalf("deleted %v, want the old private fields", del)
	}
	after := hashAfter(old, set, del)
	snap2, err := store.DecodeSnapshot("c-1", after, "")
	if err != nil {
		t.Fatal(err)
	}
	st2 := snap2.State
	if st2.Orders != 3 || st2.GrossProfit.String() != "233.91665" || len(st2.Seen) != 4 ||
		!st2.LastChurnAt.Equal(st.LastChurnAt) || len(st2.Applied) != 3 || st2.Applied[2].Offset != 18 {
		t.Fatalf("after the conversion: %+v", st2)
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
	var stored map[string]string
	for i, amount := range []string{"120.00", "80.50", "310.25"} {
		ev := order("e"+strconv.Itoa(i), "c-1", amount, "0.35", "2025-0"+strconv.Itoa(i+1)+"-01T00:00:00Z")
		set, del := encodeAfter(b, stored, []aggregate.Event{ev}, int64(i), true)
		stored = hashAfter(stored, set, del)
	}
	ev := order("e-next", "c-1", "99.95", "0.35", "2025-06-01T00:00:00Z")
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		snap, err := store.DecodeSnapshot("c-1", stored, "")
		if err != nil {
			b.Fatal(err)
		}
		s := snap.State
		res := m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: 10})
		w := store.Encode(m, &snap, &s, nil, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: now})
		if w.Token == "" {
			b.Fatal("no token")
		}
	}
}

func TestDecodeSnapshotReadsEveryFieldAndRejectsCorruptOnes(t *testing.T) {
	digest := func(b byte) string { return strings.Repeat(string(rune(b)), 8) }
	base := map[string]string{
		"orders": "3", "revenue": "10.50", "_rev": "10.5049", "gross_profit": "4.00", "refunds": "1.00",
		"first_order_at": "2025-01-01T00:00:00Z", "last_order_at": "2025-03-01T00:00:00Z", "ltv": "42.00",
		"tier": "bronze", "_ch": "2025-04-01T00:00:00Z", "_re": "2025-02-01T00:00:00Z",
		"_g": "orders:3:17,customer-lifecycle:3:5", "_d0": digest('a') + digest('b'), "_d1": digest('c'),
		"_d3":        digest('z'), // after a gap: not part of the window
		"_dx":        "ignored",   // unknown private field: left alone
		"future_pub": "x",
	}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for kk, vv := range base {
			h[kk] = vv
		}
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
		st.LTV.String() != "42" || st.Tier != "bronze" || st.LastChurnAt.Month() != 4 || st.LastReactivatedAt.Month() != 2 ||
		st.FirstOrderAt.Month() != 1 || st.LastOrderAt.Month() != 3 {
		t.Fatalf("state %+v", st)
	}
	if len(st.Applied) != 2 || st.Applied[0] != (aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 17}) ||
		st.Applied[1] != (aggregate.SourceOffset{Topic: aggregate.TopicOf("customer-lifecycle"), Partition: 3, Offset: 5}) {
		t.Fatalf("applied %+v", st.Applied)
	}
	if len(st.Seen) != 3 || snap.Token != base["_g"] || len(snap.Pending) != 2 || string(snap.Pending[1]) != "{\"b\":2}" {
		t.Fatalf("seen %d, token %q, pending %q", len(st.Seen), snap.Token, snap.Pending)
	}
	for _, tt := range []struct{ field, value, wantErr string }{
		{"orders", "-1", "field orders"},
		{"orders", "x", "field orders"},
		{"_rev", "1.2.3", "field _rev"},
		{"_rev", "", ""}, // falls back to the public revenue
		{"refunds", "abc", "field refunds"},
		{"last_order_at", "yesterday", "field last_order_at"},
		{"_ch", "2025-13-01T00:00:00Z", "field _ch"},
		{"_g", "orders:3", "field _g"},
		{"_g", "orders:x:1", "field _g"},
		{"_g", "orders:1:2:3", "field _g"},
		{"_g", ":1:2", "field _g"},
		{"_g", "orders:1:2,", "field _g"},
		{"_g", "\x90\x01", "field _g"},     // a blob cut short in its guard
		{"_g", "\x80\x01\x02", "field _g"}, // digests not a multiple of 8 bytes
		{"_d1", "short", "field _d1"},
	} {
		_, err := store.DecodeSnapshot("c-1", with(tt.field, tt.value), "")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s=%q: error %v, want %q", tt.field, tt.value, err, tt.wantErr)
		}
	}
}
