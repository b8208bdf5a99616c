// The bookkeeping blob: the binary layout of a customer's private fields
// (_g, _g1, …), rendered and parsed.

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
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
// it is also the compare-and-set token the save script checks (field _g).
// A blob's first byte has its top bit set (blobMarker), so a value in _g
// that is not a blob is reported by parseBlob instead of misread.
//
// Layout, every byte counted because it is paid per customer:
//   - header byte: 0x80 | guard entries << 4 | lifecycle flag (0x08) | exact
//     sum flags (revenue 0x01, gross profit 0x02, refunds 0x04);
//   - with the lifecycle flag, a byte saying which times follow (churn 1,
//     reactivation 2, the customer's segment clock 4, the first order 8,
//     the predictive tier timer 16, refunds of other orders 32);
//   - per guard entry: topic id (uint32 little endian), uvarint partition,
//     uvarint offset;
//   - per flagged exact sum: a uvarint h, then for even h the zigzag varint
//     coefficient of coefficient × 10^exponent with exponent = zigzag
//     decode of h/2, for odd h (h−1)/2 bytes of decimal text (a
//     coefficient beyond 64 bits);
//   - per flagged time: zigzag varint Unix seconds, uvarint nanoseconds
//     (the first order's digest and net amount after the clock, the tier
//     timer after those);
//   - with the refunds flag, a uvarint length and the refund log as the
//     aggregate package writes it (State.UnmatchedRefunds);
//   - the digests, 8 bytes each, to the end.
const blobPiece = 64

const (
	blobMarker       = 0x80
	blobGuardShift   = 4
	blobMaxGuard     = 7
	flagLifecycle    = 0x08
	flagRevenueExact = 0x01
	flagGrossExact   = 0x02
	flagRefundsExact = 0x04
	lifeChurn        = 0x01
	lifeReactivate   = 0x02
	lifeClock        = 0x04
	lifeFirstOrder   = 0x08
	lifeTierDue      = 0x10
	lifeRefunds      = 0x20
)

// appendBlob renders st's bookkeeping. The guard has at most
// aggregate.MaxGuardEntries (< blobMaxGuard) entries.
func appendBlob(b []byte, st *aggregate.State) []byte {
	at := len(b)
	header := byte(blobMarker | min(len(st.Applied), blobMaxGuard)<<blobGuardShift)
	b = append(b, 0)
	var life byte
	if !st.LastChurnAt.IsZero() {
		life |= lifeChurn
	}
	if !st.LastReactivatedAt.IsZero() {
		life |= lifeReactivate
	}
	if !st.Clock.IsZero() {
		life |= lifeClock
	}
	if st.FirstOrder != 0 {
		life |= lifeFirstOrder
	}
	if !st.TierDue.IsZero() {
		life |= lifeTierDue
	}
	if st.UnmatchedRefunds != "" {
		life |= lifeRefunds
	}
	if life != 0 {
		header |= flagLifecycle
		b = append(b, life)
	}
	for _, a := range st.Applied[:min(len(st.Applied), blobMaxGuard)] {
		b = binary.LittleEndian.AppendUint32(b, uint32(a.Topic))
		b = binary.AppendUvarint(b, uint64(uint32(a.Partition)))
		b = binary.AppendUvarint(b, uint64(a.Offset))
	}
	for i, v := range []money.Exact{st.Revenue, st.GrossProfit, st.Refunds} {
		if v.HasAtMostPlaces(2) {
			continue
		}
		header |= flagRevenueExact << i
		b = appendExact(b, v)
	}
	for _, t := range []time.Time{st.LastChurnAt, st.LastReactivatedAt, st.Clock} {
		if !t.IsZero() {
			b = binary.AppendVarint(b, t.Unix())
			b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		}
	}
	if st.FirstOrder != 0 {
		// The first order: its id digest, then its net amount as an exact sum.
		b = binary.LittleEndian.AppendUint64(b, st.FirstOrder)
		b = appendExact(b, st.FirstOrderNet)
	}
	if !st.TierDue.IsZero() {
		b = binary.AppendVarint(b, st.TierDue.Unix())
		b = binary.AppendUvarint(b, uint64(st.TierDue.Nanosecond()))
	}
	if st.UnmatchedRefunds != "" {
		b = binary.AppendUvarint(b, uint64(len(st.UnmatchedRefunds)))
		b = append(b, st.UnmatchedRefunds...)
	}
	b[at] = header
	for _, d := range st.Seen {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	return b
}

// appendExact appends an exact decimal: a uvarint h, then for even h the
// zigzag varint coefficient with exponent zigzag-decoded from h/2, for odd
// h (h−1)/2 bytes of decimal text (a coefficient beyond 64 bits).
func appendExact(b []byte, v money.Exact) []byte {
	if c, exp, ok := v.Small(); ok {
		b = binary.AppendUvarint(b, zigzag(int64(exp))<<1)
		return binary.AppendVarint(b, c)
	}
	text := v.String()
	b = binary.AppendUvarint(b, uint64(len(text))<<1|1)
	return append(b, text...)
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// parseBlob reads a blob into st: the guard, the digests, the lifecycle
// times, and the exact sums (which replace the rounded public values
// already decoded into st). It reuses st's dedupe and guard arrays when
// they have room.
func parseBlob(b string, st *aggregate.State) error {
	if len(b) < 1 || b[0]&blobMarker == 0 {
		return errors.New("not a bookkeeping value of this version")
	}
	header := b[0]
	r := blobReader{s: b[1:]}
	var life byte
	if header&flagLifecycle != 0 {
		life = r.byte()
		if life == 0 || life&^(lifeChurn|lifeReactivate|lifeClock|lifeFirstOrder|lifeTierDue|lifeRefunds) != 0 {
			r.fail("bad lifecycle flags")
		}
	}
	n := int(header>>blobGuardShift) & blobMaxGuard
	st.Applied = st.Applied[:0] // a reused snapshot's array (DecodeSnapshotInto)
	if cap(st.Applied) < n {
		st.Applied = make([]aggregate.SourceOffset, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		topic := aggregate.TopicID(r.uint32())
		partition := r.uvarint()
		offset := r.uvarint()
		if partition > 1<<31-1 || offset > 1<<63-1 {
			r.fail("guard entry out of range")
		}
		st.Applied = append(st.Applied, aggregate.SourceOffset{Topic: topic, Partition: int32(partition), Offset: int64(offset)})
	}
	for i, dst := range []*money.Exact{&st.Revenue, &st.GrossProfit, &st.Refunds} {
		if header&(flagRevenueExact<<i) == 0 || r.err != nil {
			continue
		}
		*dst = r.exact()
	}
	for i, dst := range []*time.Time{&st.LastChurnAt, &st.LastReactivatedAt, &st.Clock} {
		if life&(lifeChurn<<i) == 0 || r.err != nil {
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
	if life&lifeFirstOrder != 0 && r.err == nil {
		st.FirstOrder = r.uint64()
		st.FirstOrderNet = r.exact()
		if st.FirstOrder == 0 && r.err == nil {
			// 0 means "no first order" (appendBlob writes none then): a
			// stored one with it is damaged, and would be dropped unseen
			// by the next write.
			r.fail("first order without its digest")
		}
	}
	if life&lifeTierDue != 0 && r.err == nil {
		sec, nsec := r.varint(), r.uvarint()
		if nsec >= 1e9 {
			r.fail("nanoseconds out of range")
		}
		st.TierDue = time.Unix(sec, int64(nsec)).UTC()
	}
	st.UnmatchedRefunds = ""
	if life&lifeRefunds != 0 && r.err == nil {
		n := r.uvarint()
		if r.err == nil && (n == 0 || n > uint64(len(r.s))) {
			r.fail("refund log cut short")
		}
		if r.err == nil {
			st.UnmatchedRefunds, r.s = r.s[:n], r.s[n:]
			if err := aggregate.CheckRefundLog(st.UnmatchedRefunds); err != nil {
				r.fail(err.Error())
			}
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.s)%8 != 0 {
		return fmt.Errorf("%d bytes of digests is not a multiple of 8", len(r.s))
	}
	st.Seen = st.Seen[:0]
	if room := len(r.s)/8 + 1; cap(st.Seen) < room { // room for the next event's digest
		st.Seen = make([]uint64, 0, room)
	}
	for i := 0; i < len(r.s); i += 8 {
		st.Seen = append(st.Seen, binary.LittleEndian.Uint64([]byte(r.s[i:i+8])))
	}
	return nil
}

// exact reads appendExact's encoding.
func (r *blobReader) exact() money.Exact {
	h := r.uvarint()
	if r.err != nil {
		return money.Exact{}
	}
	if h&1 == 0 {
		u := h >> 1
		exp := int64(u>>1) ^ -int64(u&1)
		if exp < -1000 || exp > 1000 {
			r.fail("exact sum exponent out of range")
			return money.Exact{}
		}
		return money.NewExact(r.varint(), int32(exp))
	}
	v, err := money.ParseExact(r.bytes(h >> 1))
	if err != nil {
		r.fail("exact sum " + err.Error())
	}
	return v
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

func (r *blobReader) byte() byte {
	if len(r.s) < 1 {
		r.fail("truncated")
		return 0
	}
	v := r.s[0]
	r.s = r.s[1:]
	return v
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

func (r *blobReader) uint32() uint32 { return uint32(r.littleEndian(4)) }

func (r *blobReader) uint64() uint64 { return r.littleEndian(8) }

// littleEndian reads an n-byte (n ≤ 8) little-endian unsigned integer.
func (r *blobReader) littleEndian(n int) uint64 {
	b := r.bytes(uint64(n))
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
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

// uvarint is binary.Uvarint for a string (no conversion to []byte).
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<(7*i), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, 0
}
