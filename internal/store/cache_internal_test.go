package store

import (
	"reflect"
	"testing"
)

func TestCopyEncodingRoundTrips(t *testing.T) {
	var l loaded
	l.vals[ixOrders], l.has = "3", 1<<ixOrders
	l.vals[ixGuard], l.has = "orders:1:2", l.has|1<<ixGuard
	l.vals[ixTier], l.has = "", l.has|1<<ixTier // present but empty
	l.setChunk(0, string(make([]byte, 64)))
	l.setChunk(2, "12345678")
	e, ok := encodeCopy(&l)
	if !ok {
		t.Fatal("encode failed")
	}
	got, ok := decodeCopy(e)
	if !ok || !reflect.DeepEqual(got, l) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, ok, l)
	}
	for _, bad := range []string{"\x00", "\x00\x05ab", "\x40\x01a", "\x00\xff"} {
		if _, ok := decodeCopy(bad); ok {
			t.Errorf("decodeCopy(%q) accepted a malformed copy", bad)
		}
	}
}
