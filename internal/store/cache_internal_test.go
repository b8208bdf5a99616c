package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/shopspring/decimal"
)

func TestCopyEncodingRoundTrips(t *testing.T) {
	var l loaded
	l.vals[ixOrders], l.has = "3", 1<<ixOrders
	l.vals[ixGuard], l.has = "orders:1:2", l.has|1<<ixGuard
	l.vals[ixTier], l.has = "", l.has|1<<ixTier // present but empty
	l.more.set(1, string(make([]byte, 64)))
	l.seen.set(2, "12345678")
	b, ok := appendCopy(nil, &l)
	if !ok {
		t.Fatal("encode failed")
	}
	got, ok := decodeCopy(string(b))
	if !ok || !reflect.DeepEqual(got, l) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, ok, l)
	}
	for _, bad := range []string{"\x00", "\x00\x05ab", "\x40\x01a", "\x00\xff"} {
		if _, ok := decodeCopy(bad); ok {
			t.Errorf("decodeCopy(%q) accepted a malformed copy", bad)
		}
	}
}

// FuzzParseBlob: any bytes in the bookkeeping fields either decode or give
// an error, never a panic; what decodes renders back to the same state.
func FuzzParseBlob(f *testing.F) {
	var st aggregate.State
	st.Applied = []aggregate.SourceOffset{{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 99}}
	st.Seen = []uint64{1, 2, 3}
	st.GrossProfit = decimal.RequireFromString("1.2345")
	st.LastChurnAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add(appendBlob(nil, &st))
	f.Add([]byte{blobMarker})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got aggregate.State
		if err := parseBlob(string(b), &got); err != nil {
			return
		}
		var again aggregate.State
		if err := parseBlob(string(appendBlob(nil, &got)), &again); err != nil {
			t.Fatalf("re-rendered blob does not parse: %v", err)
		}
		if !reflect.DeepEqual(got.Applied, again.Applied) || !reflect.DeepEqual(got.Seen, again.Seen) ||
			!got.LastChurnAt.Equal(again.LastChurnAt) || !got.LastReactivatedAt.Equal(again.LastReactivatedAt) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", got, again)
		}
		for _, p := range [][2]decimal.Decimal{{got.Revenue, again.Revenue}, {got.GrossProfit, again.GrossProfit}, {got.Refunds, again.Refunds}} {
			// A parsed exact sum with ≤ 2 places is dropped on render (the
			// public field holds it); otherwise it must survive exactly.
			if !p[0].Equal(p[1]) && !p[1].IsZero() {
				t.Fatalf("exact sum %s became %s", p[0], p[1])
			}
		}
	})
}
