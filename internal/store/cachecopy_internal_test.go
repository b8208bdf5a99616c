// Tests of the cache's copy encoding.

package store

import (
	"reflect"
	"testing"
)

func TestCopyEncodingRoundTrips(t *testing.T) {
	var l loaded
	l.vals[ixOrders], l.has = "3", 1<<ixOrders
	l.vals[ixGuard], l.has = "\x80guard", l.has|1<<ixGuard
	l.vals[ixTier], l.has = "", l.has|1<<ixTier // present but empty
	l.more.set(1, string(make([]byte, 64)))
	l.more.set(3, "12345678") // after a gap
	b, ok := appendCopy(nil, &l)
	if !ok {
		t.Fatal("encode failed")
	}
	got, ok := decodeCopy(string(b))
	if !ok || !reflect.DeepEqual(got, l) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, ok, l)
	}
	// Cut short, value overrunning the end, a tag between the field
	// indexes and the pieces, a tag beyond the pieces, a bad length.
	for _, bad := range []string{"\x00", "\x00\x05ab", "\x40\x01a", "\xc0\x01a", "\x00\xff"} {
		if _, ok := decodeCopy(bad); ok {
			t.Errorf("decodeCopy(%q) accepted a malformed copy", bad)
		}
	}
}
