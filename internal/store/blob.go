package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

// A customer's private bookkeeping is one binary value: the offset guard,
// the exact sums when they have more than two decimals, the latest
// lifecycle facts and the dedupe digests. It is stored in pieces of at
// most blobPiece bytes, the first in field _g and the rest in _g1, _g2, …,
// because a hash keeps Redis's compact listpack encoding only while every
// value is at most hash-max-listpack-value (64 bytes by default). One
// value instead of a text guard, digest fields and exact-sum fields saves
// about 26 bytes per customer (field names, entry headers, topic names)
// and two arguments per write.
//
// The first piece starts with the guard, which changes on every write, so
// it is also the compare-and-set token the save script checks (field _g,
// as before this layout: hashes written by older versions carry a text
// guard there, which never starts with blobVersion).
//
// Layout: version byte, flags byte, uvarint guard entry count, per entry
// (topic id uint32 little endian, uvarint partition, uvarint offset), then
// by flag the exact revenue, gross profit and refunds (uvarint length and
// decimal text each) and the churn and reactivation times (zigzag varint
// Unix seconds, uvarint nanoseconds each), then the digests, 8 bytes each,
// to the end.
const (
	blobVersion = 1
	blobPiece   = 64
)

const (
	flagRevenueExact = 1 << iota
	flagGrossExact
	flagRefundsExact
	flagChurnAt
	flagReactivateAt
)

// appendBlob renders st's bookkeeping.
func appendBlob(b []byte, st *aggregate.State) []byte {
	flagsAt := len(b) + 1
	b = append(b, blobVersion, 0)
	b = binary.AppendUvarint(b, uint64(len(st.Applied)))
	for _, a := range st.Applied {
		b = binary.LittleEndian.AppendUint32(b, uint32(a.Topic))
		b = binary.AppendUvarint(b, uint64(uint32(a.Partition)))
		b = binary.AppendUvarint(b, uint64(a.Offset))
	}
	var flags byte
	for i, v := range []decimal.Decimal{st.Revenue, st.GrossProfit, st.Refunds} {
		if money.HasAtMostPlaces(v, 2) {
			continue
		}
		flags |= flagRevenueExact << i
		text := v.String()
		b = binary.AppendUvarint(b, uint64(len(text)))
		b = append(b, text...)
	}
	for i, t := range []time.Time{st.LastChurnAt, st.LastReactivatedAt} {
		if t.IsZero() {
			continue
		}
		flags |= flagChurnAt << i
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	b[flagsAt] = flags
	for _, d := range st.Seen {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	return b
}

// parseBlob reads a blob into st: the guard, the digests, the lifecycle
// times, and the exact sums (which replace the rounded public values
// already decoded into st).
func parseBlob(b string, st *aggregate.State) error {
	if len(b) < 2 || b[0] != blobVersion {
		return errors.New("not a bookkeeping value of this version")
	}
	flags := b[1]
	if flags >= flagReactivateAt<<1 {
		return fmt.Errorf("unknown flags %#x", flags)
	}
	r := blobReader{s: b[2:]}
	n := r.uvarint()
	if n > aggregate.MaxGuardEntries*4 {
		return fmt.Errorf("%d guard entries", n)
	}
	st.Applied = make([]aggregate.SourceOffset, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		topic := aggregate.TopicID(r.uint32())
		partition := r.uvarint()
		offset := r.uvarint()
		if partition > 1<<31-1 || offset > 1<<63-1 {
			r.fail("guard entry out of range")
		}
		st.Applied = append(st.Applied, aggregate.SourceOffset{Topic: topic, Partition: int32(partition), Offset: int64(offset)})
	}
	for i, dst := range []*decimal.Decimal{&st.Revenue, &st.GrossProfit, &st.Refunds} {
		if flags&(flagRevenueExact<<i) == 0 || r.err != nil {
			continue
		}
		text := r.bytes(r.uvarint())
		v, err := decimal.NewFromString(text)
		if err != nil {
			r.fail("exact sum " + err.Error())
			break
		}
		*dst = v
	}
	for i, dst := range []*time.Time{&st.LastChurnAt, &st.LastReactivatedAt} {
		if flags&(flagChurnAt<<i) == 0 || r.err != nil {
			continue
		}
		sec := r.varint()
		nsec := r.uvarint()
		if nsec >= 1e9 {
			r.fail("nanoseconds out of range")
			break
		}
		*dst = time.Unix(sec, int64(nsec)).UTC()
	}
	if r.err != nil {
		return r.err
	}
	if len(r.s)%8 != 0 {
		return fmt.Errorf("%d bytes of digests is not a multiple of 8", len(r.s))
	}
	st.Seen = make([]uint64, 0, len(r.s)/8)
	for i := 0; i < len(r.s); i += 8 {
		st.Seen = append(st.Seen, binary.LittleEndian.Uint64([]byte(r.s[i:i+8])))
	}
	return nil
}

// blobReader consumes a blob; the first error sticks and later reads
// return zeros.
type blobReader struct {
	s   string
	err error
}

func (r *blobReader) fail(why string) {
	if r.err == nil {
		r.err = errors.New(why)
	}
	r.s = ""
}

func (r *blobReader) uvarint() uint64 {
	v, n := uvarint(r.s)
	if n <= 0 {
		r.fail("truncated")
		return 0
	}
	r.s = r.s[n:]
	return v
}

func (r *blobReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *blobReader) uint32() uint32 {
	if len(r.s) < 4 {
		r.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32([]byte(r.s[:4]))
	r.s = r.s[4:]
	return v
}

func (r *blobReader) bytes(n uint64) string {
	if uint64(len(r.s)) < n {
		r.fail("truncated")
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}
