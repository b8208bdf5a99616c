// Package store keeps per-customer state in Redis (SPEC §3): one hash per
// customer under the key ltv:{<customer_id>}, written by an atomic,
// compare-and-set Lua script so a fenced-off (zombie) consumer can never
// overwrite what the partition's new owner wrote.
//
// The mapping between aggregate.State and the hash fields lives in this
// file as pure functions, so the public field formats are tested without a
// server.
package store

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/shopspring/decimal"
)

// Public field names (SPEC §3): other services read these.
const (
	FieldOrders       = "orders"
	FieldRevenue      = "revenue"
	FieldGrossProfit  = "gross_profit"
	FieldRefunds      = "refunds"
	FieldFirstOrderAt = "first_order_at"
	FieldLastOrderAt  = "last_order_at"
	FieldAOV          = "aov"
	FieldFrequency    = "frequency"
	FieldTenureDays   = "tenure_days"
	FieldChurned      = "churned"
	FieldLTV          = "ltv"
	FieldTier         = "tier"
	FieldUpdatedAt    = "updated_at"
)

// Private bookkeeping fields. Their names start with "_" (SPEC §3) and are
// kept short because every byte is paid per customer.
const (
	// fieldGuard is the offset guard ("topic:partition:offset,…"). It changes
	// on every write, so it doubles as the compare-and-set token.
	fieldGuard = "_g"
	// Exact sums, present only when they carry more than 2 decimals and the
	// public field is therefore a rounding.
	fieldRevenueExact = "_rev"
	fieldGrossExact   = "_gp"
	fieldRefundsExact = "_ref"
	// Latest lifecycle facts by event time.
	fieldChurnAt      = "_ch"
	fieldReactivateAt = "_re"
	// fieldSeenPrefix + chunk number hold the dedupe window: 8-byte digests,
	// at most seenPerChunk per field so every value stays within Redis's
	// default hash-max-listpack-value (64 bytes) and the hash keeps its
	// compact encoding.
	fieldSeenPrefix = "_d"
	seenPerChunk    = 8
)

// Key returns the Redis key of a customer's hash. The braces are a Redis
// Cluster hash tag: every key of one customer hashes to the same slot.
func Key(customerID string) string { return "ltv:{" + customerID + "}" }

// PendingKey is the key holding a customer's change events whose
// publication is not yet acknowledged (newline-separated JSON documents).
// It is a separate key in the customer's slot, not a hash field: values
// longer than 64 bytes would switch the hash to Redis's memory-hungry
// hashtable encoding for good, while this key exists only between a write
// and the acknowledgement of its outputs.
func PendingKey(customerID string) string { return "ltv:{" + customerID + "}:pending" }

// Snapshot is a customer's state as loaded from Redis.
type Snapshot struct {
	CustomerID string
	State      aggregate.State
	// Token is the compare-and-set token (the stored guard) the next write
	// must present; "" for a customer not stored yet.
	Token string
	// Pending are change events written but not known to be published.
	Pending [][]byte
	// Exists is false when the hash did not exist.
	Exists bool
}

// Write is one customer's update, produced by Encode.
type Write struct {
	CustomerID string
	// Expect is the token the stored hash must still carry (Snapshot.Token).
	Expect string
	// Token is the token after this write (the new guard).
	Token string
	// Set holds field/value pairs to store; Del the fields to remove.
	Set []string
	Del []string
	// Pending is what the write stores in the pending key (nil: none).
	Pending [][]byte
	// hadPending says the loaded snapshot had pending events (so an empty
	// Pending must delete the key).
	hadPending bool
}

// pendingAction encodes the pending key update for the save script.
func (w *Write) pendingAction() string {
	if len(w.Pending) == 0 {
		if w.hadPending {
			return "-"
		}
		return ""
	}
	size := 0
	for _, p := range w.Pending {
		size += len(p) + 1
	}
	buf := make([]byte, 0, size)
	for i, p := range w.Pending {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, p...)
	}
	return string(buf)
}

// DecodeSnapshot parses a hash as returned by HGETALL, and the pending key's
// value ("" when absent). A hash that cannot be parsed is reported, never
// silently reset: overwriting it would lose history.
func DecodeSnapshot(customerID string, h map[string]string, pending string) (Snapshot, error) {
	snap := Snapshot{CustomerID: customerID, Exists: len(h) > 0}
	for _, doc := range strings.Split(pending, "\n") {
		if doc != "" {
			snap.Pending = append(snap.Pending, []byte(doc))
		}
	}
	if len(h) == 0 {
		return snap, nil
	}
	st := &snap.State
	var err error
	fail := func(field string, e error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("stored state of customer %q: field %s: %w", customerID, field, e)
	}
	if v, ok := h[FieldOrders]; ok {
		if st.Orders, err = strconv.ParseInt(v, 10, 64); err != nil || st.Orders < 0 {
			return fail(FieldOrders, fmt.Errorf("not a count: %q", v))
		}
	}
	for _, d := range []struct {
		public, exact string
		dst           *decimal.Decimal
	}{
		{FieldRevenue, fieldRevenueExact, &st.Revenue},
		{FieldGrossProfit, fieldGrossExact, &st.GrossProfit},
		{FieldRefunds, fieldRefundsExact, &st.Refunds},
		{FieldLTV, "", &st.LTV},
	} {
		src, ok := h[d.exact]
		name := d.exact
		if d.exact == "" || !ok {
			src, ok = h[d.public]
			name = d.public
		}
		if !ok {
			continue
		}
		if *d.dst, err = decimal.NewFromString(src); err != nil {
			return fail(name, err)
		}
	}
	for _, t := range []struct {
		field string
		dst   *time.Time
	}{
		{FieldFirstOrderAt, &st.FirstOrderAt},
		{FieldLastOrderAt, &st.LastOrderAt},
		{fieldChurnAt, &st.LastChurnAt},
		{fieldReactivateAt, &st.LastReactivatedAt},
	} {
		if v, ok := h[t.field]; ok && v != "" {
			if *t.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return fail(t.field, err)
			}
			*t.dst = t.dst.UTC()
		}
	}
	st.Tier = h[FieldTier]
	if snap.Token = h[fieldGuard]; snap.Token != "" {
		if st.Applied, err = parseGuard(snap.Token); err != nil {
			return fail(fieldGuard, err)
		}
	}
	for chunk := 0; ; chunk++ {
		v, ok := h[fieldSeenPrefix+strconv.Itoa(chunk)]
		if !ok {
			break
		}
		if len(v)%8 != 0 {
			return fail(fieldSeenPrefix+strconv.Itoa(chunk), fmt.Errorf("length %d is not a multiple of 8", len(v)))
		}
		for i := 0; i < len(v); i += 8 {
			st.Seen = append(st.Seen, binary.LittleEndian.Uint64([]byte(v[i:i+8])))
		}
	}
	return snap, nil
}

// FormatGuard renders the offset guard. Kafka topic names are limited to
// [a-zA-Z0-9._-], so ':' and ',' cannot be ambiguous.
func FormatGuard(applied []aggregate.SourceOffset) string {
	var b []byte
	for i, a := range applied {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a.Topic...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(a.Partition), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, a.Offset, 10)
	}
	return string(b)
}

func parseGuard(s string) ([]aggregate.SourceOffset, error) {
	var out []aggregate.SourceOffset
	for _, part := range strings.Split(s, ",") {
		fields := strings.Split(part, ":")
		if len(fields) != 3 || fields[0] == "" {
			return nil, fmt.Errorf("malformed guard entry %q", part)
		}
		p, err := strconv.ParseInt(fields[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("malformed guard partition %q", part)
		}
		o, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed guard offset %q", part)
		}
		out = append(out, aggregate.SourceOffset{Topic: fields[0], Partition: int32(p), Offset: o})
	}
	return out, nil
}

// EncodeOptions says how much of the state a write carries.
type EncodeOptions struct {
	// Figures true: public figures changed (an event was applied), so every
	// public field and updated_at are written. False: only bookkeeping
	// moved (a duplicate event id at a new offset).
	Figures bool
	Now     time.Time
}

// Encode renders the write that stores st for a customer loaded as snap,
// with pending as the new content of the pending field.
func Encode(m *aggregate.Model, snap *Snapshot, st *aggregate.State, pending [][]byte, opt EncodeOptions) Write {
	w := Write{CustomerID: snap.CustomerID, Expect: snap.Token, Token: FormatGuard(st.Applied),
		Pending: pending, hadPending: len(snap.Pending) > 0}
	w.Set = append(w.Set, fieldGuard, w.Token)
	w.Set, w.Del = encodeSeen(w.Set, w.Del, st.Seen, len(snap.State.Seen))
	if !opt.Figures {
		return w
	}
	fig := m.Figures(st)
	w.Set = append(w.Set,
		FieldOrders, strconv.FormatInt(st.Orders, 10),
		FieldAOV, fig.AOV.StringFixed(2),
		FieldFrequency, fig.Frequency.StringFixed(4),
		FieldTenureDays, fig.TenureDays.StringFixed(2),
		FieldChurned, boolText(fig.Churned),
		FieldLTV, st.LTV.StringFixed(2),
		FieldTier, st.Tier,
		FieldUpdatedAt, aggregate.TimeText(opt.Now),
	)
	w.Set, w.Del = encodeMoney(w.Set, w.Del, FieldRevenue, fieldRevenueExact, st.Revenue)
	w.Set, w.Del = encodeMoney(w.Set, w.Del, FieldGrossProfit, fieldGrossExact, st.GrossProfit)
	w.Set, w.Del = encodeMoney(w.Set, w.Del, FieldRefunds, fieldRefundsExact, st.Refunds)
	w.Set, w.Del = encodeTime(w.Set, w.Del, FieldFirstOrderAt, st.FirstOrderAt)
	w.Set, w.Del = encodeTime(w.Set, w.Del, FieldLastOrderAt, st.LastOrderAt)
	w.Set, w.Del = encodeTime(w.Set, w.Del, fieldChurnAt, st.LastChurnAt)
	w.Set, w.Del = encodeTime(w.Set, w.Del, fieldReactivateAt, st.LastReactivatedAt)
	return w
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// encodeMoney writes the 2-place public value and, only when rounding lost
// digits, the exact value in its private field.
func encodeMoney(set, del []string, public, exact string, v decimal.Decimal) ([]string, []string) {
	rounded := v.Round(2)
	set = append(set, public, rounded.StringFixed(2))
	if rounded.Equal(v) {
		return set, append(del, exact)
	}
	return append(set, exact, v.String()), del
}

// encodeTime writes a timestamp field, or removes it when unset. The
// public timestamp fields are absent until the customer's first order.
func encodeTime(set, del []string, field string, t time.Time) ([]string, []string) {
	if t.IsZero() {
		return set, append(del, field)
	}
	return append(set, field, aggregate.TimeText(t)), del
}

// encodeSeen writes the dedupe digests in chunks and deletes chunks the
// window no longer needs.
func encodeSeen(set, del []string, seen []uint64, before int) ([]string, []string) {
	chunks := (len(seen) + seenPerChunk - 1) / seenPerChunk
	for c := 0; c < chunks; c++ {
		lo, hi := c*seenPerChunk, min((c+1)*seenPerChunk, len(seen))
		buf := make([]byte, 8*(hi-lo))
		for i, d := range seen[lo:hi] {
			binary.LittleEndian.PutUint64(buf[8*i:], d)
		}
		set = append(set, fieldSeenPrefix+strconv.Itoa(c), string(buf))
	}
	for c := chunks; c < (before+seenPerChunk-1)/seenPerChunk; c++ {
		del = append(del, fieldSeenPrefix+strconv.Itoa(c))
	}
	return set, del
}
