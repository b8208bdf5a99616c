// Tests of the bookkeeping blob's parser against arbitrary bytes.

package store

import (
	"encoding/binary"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
)

// FuzzParseBlob: any bytes in the bookkeeping fields either decode or give
// an error, never a panic; what decodes renders back to the same state.
func FuzzParseBlob(f *testing.F) {
	var st aggregate.State
	st.Applied = []aggregate.SourceOffset{{Topic: aggregate.TopicOf("orders"), Partition: 3, Offset: 99}}
	st.Seen = []uint64{1, 2, 3}
	st.GrossProfit = money.MustParse("1.2345")
	st.LastChurnAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add(appendBlob(nil, &st))
	st.Clock = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	st.FirstOrder, st.FirstOrderNet = aggregate.OrderDigest("o-1"), money.MustParse("99.125")
	f.Add(appendBlob(nil, &st))
	st.UnmatchedRefunds = refundLogOf(map[string]string{"o-2": "5.5", "o-3": "12345678901234567890.125"})
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
			!got.LastChurnAt.Equal(again.LastChurnAt) || !got.LastReactivatedAt.Equal(again.LastReactivatedAt) ||
			!got.Clock.Equal(again.Clock) || !got.TierDue.Equal(again.TierDue) ||
			got.FirstOrder != again.FirstOrder || !got.FirstOrderNet.Equal(again.FirstOrderNet) ||
			got.UnmatchedRefunds != again.UnmatchedRefunds {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", got, again)
		}
		for _, p := range [][2]money.Exact{{got.Revenue, again.Revenue}, {got.GrossProfit, again.GrossProfit}, {got.Refunds, again.Refunds}} {
			// A parsed exact sum with ≤ 2 places is dropped on render (the
			// public field holds it); otherwise it must survive exactly.
			if !p[0].Equal(p[1]) && !p[1].IsZero() {
				t.Fatalf("exact sum %s became %s", p[0], p[1])
			}
		}
	})
}

// refundLogOf is a refund log (aggregate.State.UnmatchedRefunds) of the
// given orders and amounts, in name order, as the aggregate writes it.
func refundLogOf(refunds map[string]string) string {
	var log []byte
	for _, order := range slices.Sorted(maps.Keys(refunds)) {
		log = binary.LittleEndian.AppendUint64(log, aggregate.OrderDigest(order))
		log = append(log, byte(len(refunds[order])))
		log = append(log, refunds[order]...)
	}
	return string(log)
}

// TestBlobKeepsTheClockAndTheFirstOrder: the segment clock, the first
// order and the refunds of other orders (SPEC §8, §9) survive a round
// trip, exactly; a damaged refund log is an error.
func TestBlobKeepsTheClockAndTheFirstOrder(t *testing.T) {
	st := aggregate.State{Clock: time.Date(2026, 4, 1, 0, 0, 0, 7, time.UTC),
		FirstOrder: aggregate.OrderDigest("o-1"), FirstOrderNet: money.MustParse("-12345678901234567890.125"),
		UnmatchedRefunds: refundLogOf(map[string]string{"o-2": "5.5", "o-3": "0.01"}), Seen: []uint64{7}}
	var got aggregate.State
	if err := parseBlob(string(appendBlob(nil, &st)), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Clock.Equal(st.Clock) || got.FirstOrder != st.FirstOrder || !got.FirstOrderNet.Equal(st.FirstOrderNet) ||
		got.UnmatchedRefunds != st.UnmatchedRefunds || !slices.Equal(got.Seen, st.Seen) {
		t.Fatalf("round trip: %+v", got)
	}
	for name, log := range map[string]string{
		"cut":        st.UnmatchedRefunds[:len(st.UnmatchedRefunds)-1],
		"not money":  refundLogOf(map[string]string{"o-2": "five"}),
		"five":       refundLogOf(map[string]string{"a": "1", "b": "1", "c": "1", "d": "1", "e": "1"}),
		"zero-sized": string(make([]byte, 9)),
	} {
		damaged := st
		damaged.UnmatchedRefunds = log
		if err := parseBlob(string(appendBlob(nil, &damaged)), &got); err == nil {
			t.Errorf("a %s refund log parsed: %q", name, got.UnmatchedRefunds)
		}
	}
}
