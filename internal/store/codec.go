// The hash codec: between aggregate.State and a customer's Redis hash
// (SPEC §3), as pure functions, so the public field formats are tested
// without a server.

package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
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
	FieldChannel      = "channel"
	FieldSegment      = "segment"
	FieldSegmentSince = "segment_since"
	// The predictive model's fields (SPEC §9), present while it is on.
	FieldPAlive         = "p_alive"
	FieldExpectedOrders = "expected_orders"
	FieldExpectedSpend  = "expected_spend"
	FieldPredictedCLV   = "predicted_clv"
	FieldScoredAt       = "scored_at"
)

// Private bookkeeping fields. Their names start with "_" (SPEC §3) and are
// kept short because every byte is paid per customer.
const (
	// fieldGuard holds the first piece of the bookkeeping blob (blob.go),
	// fieldGuard + n (n ≥ 1) the further pieces. The first piece starts
	// with the offset guard, which changes on every write, so it doubles
	// as the compare-and-set token.
	fieldGuard = "_g"
	// fieldPendingFlag ("1") is present while the customer's pending key
	// exists. Encode writes it with the pending events and the scripts act
	// on both in one atomic step (see saveScript).
	fieldPendingFlag = "_p"
)

// Key returns the Redis key of a customer's hash. The braces are a Redis
// Cluster hash tag: every key of one customer hashes to the same slot.
func Key(customerID string) string { return keyOpen + customerID + keyClose }

// The parts of a customer's key names around its id (Key, PendingKey,
// customerKeys).
const (
	keyOpen      = "ltv:{"
	keyClose     = "}"
	pendingClose = "}:pending"
)

// PendingKey is the key holding a customer's change events whose
// publication is not yet acknowledged (newline-separated JSON documents).
// It is a separate key in the customer's slot, not a hash field: values
// longer than 64 bytes would switch the hash to Redis's memory-hungry
// hashtable encoding for good, while this key exists only between a write
// and the acknowledgement of its outputs.
func PendingKey(customerID string) string { return keyOpen + customerID + pendingClose }

// customerKeys renders Key of n customers, and PendingKey of those for
// which withPending says so (else ""), into one string and returns its
// parts: one allocation per call instead of one or two per customer.
func customerKeys(n int, id func(i int) string, withPending func(i int) bool) (hash, pending []string) {
	wants := func(i int) bool { return withPending != nil && withPending(i) }
	size := 0
	for i := 0; i < n; i++ {
		size += len(keyOpen) + len(id(i)) + len(keyClose)
		if wants(i) {
			size += len(keyOpen) + len(id(i)) + len(pendingClose)
		}
	}
	var b strings.Builder
	b.Grow(size)
	hashEnd := make([]int, n) // where each key ends in b; a pending key follows its hash key
	for i := 0; i < n; i++ {
		b.WriteString(keyOpen)
		b.WriteString(id(i))
		b.WriteString(keyClose)
		hashEnd[i] = b.Len()
		if wants(i) {
			b.WriteString(keyOpen)
			b.WriteString(id(i))
			b.WriteString(pendingClose)
		}
	}
	all := b.String()
	hash, pending = make([]string, n), make([]string, n)
	for i := 0; i < n; i++ {
		k := len(keyOpen) + len(id(i))
		hash[i] = all[hashEnd[i]-k-len(keyClose) : hashEnd[i]]
		if wants(i) {
			pending[i] = all[hashEnd[i] : hashEnd[i]+k+len(pendingClose)]
		}
	}
	return hash, pending
}

// Snapshot is a customer's state as loaded from Redis.
type Snapshot struct {
	CustomerID string          // whose hash (ltv:{<id>}) was loaded
	State      aggregate.State // decoded from the hash; the zero State when !Exists
	// Token is the compare-and-set token (the stored guard) the next write
	// must present; "" for a customer not stored yet.
	Token string
	// Pending are change events written but not known to be published.
	Pending [][]byte
	// Exists is false when the hash did not exist.
	Exists bool
	// stored is the hash as loaded, so Encode writes only what changes.
	stored loaded
}

// fieldIndex numbers the hash fields this code reads and writes. A loaded
// hash keeps them in an array by index: decoding and diffing then cost an index
// each instead of hashing every name twice (the map lookups were about
// 8 % of the consumer's CPU).
type fieldIndex uint8

const (
	ixOrders fieldIndex = iota
	ixRevenue
	ixGrossProfit
	ixRefunds
	ixFirstOrderAt
	ixLastOrderAt
	ixAOV
	ixFrequency
	ixTenureDays
	ixChurned
	ixLTV
	ixTier
	ixUpdatedAt
	ixChannel
	ixSegment
	ixSegmentSince
	ixPAlive
	ixExpectedOrders
	ixExpectedSpend
	ixPredictedCLV
	ixScoredAt
	ixGuard
	ixPendingFlag
	numFields
)

var fieldNames = [numFields]string{
	FieldOrders, FieldRevenue, FieldGrossProfit, FieldRefunds, FieldFirstOrderAt, FieldLastOrderAt,
	FieldAOV, FieldFrequency, FieldTenureDays, FieldChurned, FieldLTV, FieldTier, FieldUpdatedAt,
	FieldChannel, FieldSegment, FieldSegmentSince, FieldPAlive, FieldExpectedOrders, FieldExpectedSpend,
	FieldPredictedCLV, FieldScoredAt, fieldGuard, fieldPendingFlag,
}

// PublicFieldNames returns the names of the public fields this code writes
// (SPEC §3, then the §9 predictive fields), in the SPEC's order: what a
// reader such as the read API may return. A new slice on each call.
func PublicFieldNames() []string { return append([]string(nil), fieldNames[:ixGuard]...) }

// indexOf maps a field name to its index; false for names this code does not
// know (left alone: a newer version may have written them).
func indexOf(name string) (fieldIndex, bool) {
	switch name {
	case FieldOrders:
		return ixOrders, true
	case FieldRevenue:
		return ixRevenue, true
	case FieldGrossProfit:
		return ixGrossProfit, true
	case FieldRefunds:
		return ixRefunds, true
	case FieldFirstOrderAt:
		return ixFirstOrderAt, true
	case FieldLastOrderAt:
		return ixLastOrderAt, true
	case FieldAOV:
		return ixAOV, true
	case FieldFrequency:
		return ixFrequency, true
	case FieldTenureDays:
		return ixTenureDays, true
	case FieldChurned:
		return ixChurned, true
	case FieldLTV:
		return ixLTV, true
	case FieldTier:
		return ixTier, true
	case FieldUpdatedAt:
		return ixUpdatedAt, true
	case FieldChannel:
		return ixChannel, true
	case FieldSegment:
		return ixSegment, true
	case FieldSegmentSince:
		return ixSegmentSince, true
	case FieldPAlive:
		return ixPAlive, true
	case FieldExpectedOrders:
		return ixExpectedOrders, true
	case FieldExpectedSpend:
		return ixExpectedSpend, true
	case FieldPredictedCLV:
		return ixPredictedCLV, true
	case FieldScoredAt:
		return ixScoredAt, true
	case fieldGuard:
		return ixGuard, true
	case fieldPendingFlag:
		return ixPendingFlag, true
	}
	return 0, false
}

// loaded is a stored hash by field index, plus the blob's further pieces.
type loaded struct {
	vals [numFields]string
	has  uint32 // bit per field index
	// more holds the blob's further pieces (_g<n>, n ≥ 1; index 0 unused).
	more chunkSet
}

// chunkSet is a family of numbered fields: vals[n] is field n, present
// when has[n].
type chunkSet struct {
	vals []string
	has  []bool
}

func (c *chunkSet) get(n int) (string, bool) {
	if n < len(c.vals) && c.has[n] {
		return c.vals[n], true
	}
	return "", false
}

func (c *chunkSet) set(n int, v string) {
	for len(c.vals) <= n {
		c.vals = append(c.vals, "")
		c.has = append(c.has, false)
	}
	c.vals[n], c.has[n] = v, true
}

func (c *chunkSet) unset(n int) {
	if n < len(c.vals) {
		c.vals[n], c.has[n] = "", false
	}
}

func (c chunkSet) clone() chunkSet {
	return chunkSet{vals: append([]string(nil), c.vals...), has: append([]bool(nil), c.has...)}
}

func (l *loaded) get(s fieldIndex) (string, bool) { return l.vals[s], l.has&(1<<s) != 0 }

func (l *loaded) unset(i fieldIndex) {
	l.vals[i] = ""
	l.has &^= 1 << i
}

// pieceNumber parses the name of one of the blob's further pieces
// ("_g3" → 3); false for any other name.
func pieceNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, fieldGuard)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > 1<<16 || strconv.Itoa(n) != digits {
		return 0, false
	}
	return n, true
}

// add sorts one of a hash's fields into its index or blob piece; other
// fields (another version's, an operator's) are left out.
func (l *loaded) add(k, v string) {
	if s, ok := indexOf(k); ok {
		l.vals[s] = v
		l.has |= 1 << s
		return
	}
	if n, ok := pieceNumber(k); ok {
		l.more.set(n, v)
	}
}

// Write is one customer's update, produced by Encode. It carries only the
// fields whose stored value changes: every argument costs Redis time
// (the save script turns each into a Lua string and back), so an order
// for a known customer writes about half of the hash.
type Write struct {
	CustomerID string // whose hash (ltv:{<id>}) the write updates
	// Expect is the token the stored hash must still carry (Snapshot.Token).
	Expect string
	// Token is the token after this write (the new guard).
	Token string
	// set holds field, value pairs to store; del the fields to remove.
	set []string
	del []string
	// Pending is what the write stores in the pending key (nil: none).
	Pending [][]byte
	// hadPending says the loaded snapshot had pending events, or a pending
	// flag (so an empty Pending must delete the key).
	hadPending bool
	// base is the stored hash the write was diffed against; with set and
	// del it gives the hash after the write (Cached keeps that copy).
	base *loaded
}

// Clone returns a copy of the write that owns its field lists, for
// keeping it past the life of a FieldBuffer that lent them. The copy no
// longer knows the loaded hash it was diffed against (that may be reused
// too), so a Cached saving it keeps no copy of the customer.
func (w Write) Clone() Write {
	w.set = slices.Clone(w.set)
	w.del = slices.Clone(w.del)
	w.base = nil
	return w
}

// Changes lists the fields the write sets (name → value) and deletes, for
// tests and debugging.
func (w *Write) Changes() (set map[string]string, del []string) {
	set = map[string]string{}
	for i := 0; i+1 < len(w.set); i += 2 {
		set[w.set[i]] = w.set[i+1]
	}
	return set, append([]string(nil), w.del...)
}

// DecodeSnapshot parses a hash given as a map of its fields, and the
// pending key's value ("" when absent). A hash that cannot be parsed is
// reported, never silently reset: overwriting it would lose history.
func DecodeSnapshot(customerID string, h map[string]string, pending string) (Snapshot, error) {
	var snap Snapshot
	err := DecodeSnapshotInto(&snap, customerID, pairsOf(h), pending)
	return snap, err
}

// pairsOf lists a hash's fields as HGETALL does over RESP2: field, value,
// field, value, … (in the map's order).
func pairsOf(h map[string]string) []string {
	pairs := make([]string, 0, 2*len(h))
	for k, v := range h {
		pairs = append(pairs, k, v)
	}
	return pairs
}

// DecodeSnapshotInto is DecodeSnapshot of a hash as HGETALL returns it
// over RESP2 (field, value, field, value, …), into *dst, for a caller
// that decodes batch after batch into one array (Cached.LoadInto): the
// snapshot (about a kilobyte) is filled where it lies instead of being
// built and copied, and the dedupe and guard arrays of whatever dst held
// before are reused. Nothing may still use dst's earlier contents. On
// error *dst is zero; an odd number of strings is an error.
func DecodeSnapshotInto(dst *Snapshot, customerID string, pairs []string, pending string) error {
	dst.stored = loaded{}
	if len(pairs)%2 != 0 {
		*dst = Snapshot{}
		return fmt.Errorf("stored state of customer %q: %d strings are not field, value pairs", customerID, len(pairs))
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		dst.stored.add(pairs[i], pairs[i+1])
	}
	return decodeInto(dst, customerID, len(pairs) > 0, pending)
}

// decodeInto is DecodeSnapshotInto for a hash already sorted by field
// index into dst.stored (from HGETALL, or from the copy Cached keeps).
func decodeInto(snap *Snapshot, customerID string, exists bool, pending string) error {
	l := &snap.stored
	seen, applied := snap.State.Seen[:0], snap.State.Applied[:0]
	snap.State = aggregate.State{Seen: seen, Applied: applied}
	snap.CustomerID, snap.Exists, snap.Token, snap.Pending = customerID, exists, "", nil
	for rest := pending; rest != ""; {
		var doc string
		doc, rest, _ = strings.Cut(rest, "\n")
		if doc != "" {
			snap.Pending = append(snap.Pending, []byte(doc))
		}
	}
	if !exists {
		return nil
	}
	st := &snap.State
	var err error
	fail := func(field string, e error) error {
		*snap = Snapshot{}
		return fmt.Errorf("stored state of customer %q: field %s: %w", customerID, field, e)
	}
	if v, ok := l.get(ixOrders); ok {
		if st.Orders, err = strconv.ParseInt(v, 10, 64); err != nil || st.Orders < 0 {
			return fail(FieldOrders, fmt.Errorf("not a count: %q", v))
		}
	}
	for _, d := range []struct {
		field fieldIndex
		dst   *money.Exact
	}{
		{ixRevenue, &st.Revenue},
		{ixGrossProfit, &st.GrossProfit},
		{ixRefunds, &st.Refunds},
		{ixLTV, &st.LTV},
		{ixPAlive, &st.PAlive},
		{ixExpectedOrders, &st.ExpectedOrders},
		{ixExpectedSpend, &st.ExpectedSpend},
		{ixPredictedCLV, &st.PredictedCLV},
	} {
		v, ok := l.get(d.field)
		if !ok {
			continue
		}
		if *d.dst, err = money.ParseExact(v); err != nil {
			return fail(fieldNames[d.field], err)
		}
	}
	for _, t := range []struct {
		field fieldIndex
		dst   *time.Time
	}{
		{ixFirstOrderAt, &st.FirstOrderAt},
		{ixLastOrderAt, &st.LastOrderAt},
		{ixSegmentSince, &st.SegmentSince},
		{ixScoredAt, &st.ScoredAt},
	} {
		if v, ok := l.get(t.field); ok && v != "" {
			if *t.dst, err = parseStoredTime(v); err != nil {
				return fail(fieldNames[t.field], err)
			}
		}
	}
	st.Tier = l.vals[ixTier]
	st.Channel = l.vals[ixChannel]
	st.Segment = l.vals[ixSegment]
	// The bookkeeping (guard, dedupe digests, lifecycle times, exact sums
	// replacing the rounded public ones) is the blob. A hash without one
	// (never written by this code) has none; one whose _g is not a blob is
	// reported, like any other field that cannot be parsed.
	snap.Token = l.vals[ixGuard]
	if snap.Token != "" {
		if err := parseBlob(l.blob(), st); err != nil {
			return fail(fieldGuard, err)
		}
	}
	return nil
}

// blob joins the pieces of the bookkeeping blob (a missing piece ends it,
// and the parse then fails on the length).
func (l *loaded) blob() string {
	first := l.vals[ixGuard]
	n := 1
	for ; ; n++ {
		if _, ok := l.more.get(n); !ok {
			break
		}
	}
	if n == 1 {
		return first
	}
	var b strings.Builder
	b.Grow(n * blobPiece)
	b.WriteString(first)
	for i := 1; i < n; i++ {
		piece, _ := l.more.get(i)
		b.WriteString(piece)
	}
	return b.String()
}

// EncodeOptions says how much of the state a write carries.
type EncodeOptions struct {
	// Figures true: public figures changed (an event was applied), so the
	// public fields and updated_at are written. False: only bookkeeping
	// moved (a duplicate event id at a new offset).
	Figures bool
	// Computed, when set, are the figures of st as Apply already computed
	// them (saves computing them again); nil means compute here.
	Computed *aggregate.Figures
	// Now is the wall-clock time written as updated_at (SPEC §3, whole
	// seconds) when a public field changes; passed in so the encoder has
	// no clock.
	Now time.Time
	// Fields, when set, lends the write's field list (nil: one is
	// allocated for it).
	Fields *FieldBuffer
}

// FieldBuffer lends the field lists of many writes one array, which its
// owner reuses (Reset) once those writes are done with: a list of a
// dozen field-value pairs per write was one of the consumer's larger
// allocations per event. The zero value is ready to use; it is not safe
// for concurrent use.
type FieldBuffer struct {
	free []string
}

// fieldBufferChunk is the least room a FieldBuffer allocates, in strings
// (a few hundred writes).
const fieldBufferChunk = 8192

// take returns an empty list backed by the buffer's free room. When the
// room runs out, a new array twice the size takes over (the lists lent
// from the old one keep it), so after a few batches one array holds a
// whole batch's lists.
func (b *FieldBuffer) take() []string {
	if cap(b.free)-len(b.free) < 4*int(numFields) {
		b.free = make([]string, 0, max(fieldBufferChunk, 2*cap(b.free)))
	}
	return b.free[len(b.free):len(b.free):cap(b.free)]
}

// used marks list, taken from the buffer, as used.
func (b *FieldBuffer) used(list []string) {
	// An append beyond the free room moved the list elsewhere; then its
	// room is simply not taken.
	if len(list) <= cap(b.free)-len(b.free) {
		b.free = b.free[:len(b.free)+len(list)]
	}
}

// Reset makes all the buffer's room free again. The writes whose lists it
// lent must no longer be in use.
func (b *FieldBuffer) Reset() { b.free = b.free[:0] }

// encoder builds a Write, skipping fields whose stored value is already
// the new one and deleting only fields that exist.
//
// Values are rendered into one arena and become strings together, in one
// allocation, when the write is complete (finish): a write sets a dozen
// values, and a string each was most of the hot path's allocations.
//
// The arena is passed along and returned rather than kept in the encoder:
// a slice stored through the encoder's pointer would move the arena's
// stack buffer, and the Write, to the heap.
type encoder struct {
	w      *Write
	stored *loaded
	// spans say which of w.set's values are which part of the arena.
	spans  [maxSpans]arenaSpan
	nspans int
}

// maxSpans bounds the values a write takes from the arena: every field and
// a full dedupe window's blob pieces fit; a further value (a larger
// window) becomes a string of its own.
const maxSpans = int(numFields) + 8

// arenaSpan is a value in the arena: w.set[at] = arena[start:end].
type arenaSpan struct{ at, start, end int32 }

func (e *encoder) set(s fieldIndex, value string) {
	if old, ok := e.stored.get(s); ok && old == value {
		return
	}
	e.w.set = append(e.w.set, fieldNames[s], value)
}

// setRendered sets field name to the value rendered at arena[start:end]
// and returns the arena; a value the same as the stored one (old, when
// had) is not set, and cut off the arena when it is at its end.
func (e *encoder) setRendered(arena []byte, name string, old string, had bool, start, end int) []byte {
	value := arena[start:end]
	if had && old == string(value) {
		if end == len(arena) {
			arena = arena[:start]
		}
		return arena
	}
	if e.nspans == maxSpans {
		e.w.set = append(e.w.set, name, string(value))
		return arena
	}
	e.w.set = append(e.w.set, name, "")
	e.spans[e.nspans] = arenaSpan{at: int32(len(e.w.set) - 1), start: int32(start), end: int32(end)}
	e.nspans++
	return arena
}

// finish turns the arena into the values of the write.
func (e *encoder) finish(arena []byte) {
	if e.nspans == 0 {
		return
	}
	all := string(arena)
	for _, sp := range e.spans[:e.nspans] {
		e.w.set[sp.at] = all[sp.start:sp.end]
	}
}

// fixedSince is fixed for a value the loaded state had as was: when it
// has not moved and the field is stored, the stored text is the one it
// renders to (this code wrote it from that value), so nothing is rendered.
func (e *encoder) fixedSince(arena []byte, s fieldIndex, v, was money.Exact, places int32) []byte {
	if e.stored.has&(1<<s) != 0 && v.Equal(was) {
		return arena
	}
	return e.fixed(arena, s, v, places)
}

// timeSince is fixedSince for a timestamp field.
func (e *encoder) timeSince(arena []byte, field fieldIndex, t, was time.Time) []byte {
	if e.stored.has&(1<<field) != 0 && !t.IsZero() && t.Equal(was) {
		return arena
	}
	return e.time(arena, field, t)
}

func (e *encoder) fixed(arena []byte, s fieldIndex, v money.Exact, places int32) []byte {
	start := len(arena)
	return e.setField(v.AppendFixed(arena, places), s, start)
}

// setField is setRendered for field s, rendered at the arena's end from
// start.
func (e *encoder) setField(arena []byte, s fieldIndex, start int) []byte {
	old, had := e.stored.get(s)
	return e.setRendered(arena, fieldNames[s], old, had, start, len(arena))
}

func (e *encoder) del(s fieldIndex) {
	if _, ok := e.stored.get(s); ok {
		e.w.del = append(e.w.del, fieldNames[s])
	}
}

// Encode renders the write that stores st for a customer loaded as snap,
// with pending as the new content of the pending key.
func Encode(m *aggregate.Model, snap *Snapshot, st *aggregate.State, pending [][]byte, opt EncodeOptions) Write {
	_, flagged := snap.stored.get(ixPendingFlag)
	w := Write{CustomerID: snap.CustomerID, Expect: snap.Token,
		Pending: pending, hadPending: len(snap.Pending) > 0 || flagged, base: &snap.stored}
	if opt.Fields != nil {
		w.set = opt.Fields.take()
	} else {
		w.set = make([]string, 0, 2*20)
	}
	var scratch [512]byte
	e := encoder{w: &w, stored: &snap.stored}
	e.finish(e.encode(scratch[:0], m, snap, st, pending, opt))
	if opt.Fields != nil {
		opt.Fields.used(w.set)
	}
	w.Token = snap.stored.vals[ixGuard]
	if len(w.set) > 0 && w.set[0] == fieldGuard {
		w.Token = w.set[1]
	}
	return w
}

// encode renders the write into e.w, its values into arena, and returns
// the arena.
func (e *encoder) encode(arena []byte, m *aggregate.Model, snap *Snapshot, st *aggregate.State, pending [][]byte, opt EncodeOptions) []byte {
	w := e.w
	// was is the state as loaded: a field whose value has not moved from
	// it needs no rendering (fixedSince).
	was := &snap.State
	arena = e.blob(arena, st)
	// The pending flag travels in the write's own HSET/HDEL, so the script
	// spends no extra call on it. It is written whenever pending events
	// are, never skipped because the snapshot already had it: another
	// writer's clear may have removed it since the load without changing
	// the token, and a pending key without its flag would never be read
	// (its events lost if this writer then dies before its own clear). A
	// flag without its key (never written by this code) is dropped too,
	// instead of costing every later load a GET (hadPending above).
	if len(pending) > 0 {
		w.set = append(w.set, fieldPendingFlag, "1")
	} else {
		e.del(ixPendingFlag)
	}
	// The segment changes with time as well as with events (a timer's
	// write has no new figures), and a change of it is a change of the
	// customer: updated_at moves with it.
	segmentMoved := snap.stored.vals[ixSegment] != st.Segment
	e.optional(ixSegment, st.Segment)
	if st.Segment == "" {
		e.del(ixSegmentSince)
	} else {
		arena = e.timeSince(arena, ixSegmentSince, st.SegmentSince, was.SegmentSince)
	}
	if m.Predictive == nil {
		// The model is off (SPEC §3: these fields exist with it only): a
		// customer scored while it was on loses its stale prediction at its
		// next write that stores §4's ltv: an applied event's (Figures), or
		// a timer's, which found the prediction and dropped it from the
		// state (aggregate: ScoredAt zero), re-deriving ltv and tier. Only
		// then, so the predicted ltv is never left beside absent fields (a
		// write of the offset guard alone keeps both until such a write).
		if _, scored := e.stored.get(ixScoredAt); scored && (opt.Figures || st.ScoredAt.IsZero()) {
			for _, ix := range [...]fieldIndex{ixPAlive, ixExpectedOrders, ixExpectedSpend, ixPredictedCLV, ixScoredAt} {
				e.del(ix)
			}
			if !opt.Figures {
				arena = e.fixed(arena, ixLTV, st.LTV, 2)
				e.set(ixTier, st.Tier)
				segmentMoved = true // the customer's ltv is §4's again
			}
		}
	} else if !st.ScoredAt.IsZero() {
		// The predictive model's fields move with a timer as well as with
		// an event (a re-scoring).
		arena = e.fixedSince(arena, ixPAlive, st.PAlive, was.PAlive, 4)
		arena = e.fixedSince(arena, ixExpectedOrders, st.ExpectedOrders, was.ExpectedOrders, 4)
		arena = e.fixedSince(arena, ixExpectedSpend, st.ExpectedSpend, was.ExpectedSpend, 2)
		arena = e.fixedSince(arena, ixPredictedCLV, st.PredictedCLV, was.PredictedCLV, 2)
		arena = e.timeSince(arena, ixScoredAt, st.ScoredAt, was.ScoredAt)
		if !opt.Figures {
			// A re-scoring may move the LTV and the tier.
			arena = e.fixed(arena, ixLTV, st.LTV, 2)
			e.set(ixTier, st.Tier)
			segmentMoved = segmentMoved || snap.stored.vals[ixScoredAt] != aggregate.TimeText(st.ScoredAt)
		}
	}
	if !opt.Figures {
		if segmentMoved {
			arena = e.updatedAt(arena, opt.Now)
		}
		return arena
	}
	e.optional(ixChannel, st.Channel)
	fig := opt.Computed
	if fig == nil {
		f := m.Figures(st)
		fig = &f
	}
	start := len(arena)
	arena = e.setField(strconv.AppendInt(arena, st.Orders, 10), ixOrders, start)
	arena = e.fixed(arena, ixAOV, fig.AOV, 2)
	arena = e.fixed(arena, ixFrequency, fig.Frequency, 4)
	arena = e.fixed(arena, ixTenureDays, fig.TenureDays, 2)
	e.set(ixChurned, boolText(fig.Churned))
	arena = e.fixed(arena, ixLTV, st.LTV, 2)
	e.set(ixTier, st.Tier)
	// Whole seconds: readers need freshness, not nanoseconds, and the ten
	// bytes saved keep a typical customer's hash in a smaller allocation.
	arena = e.updatedAt(arena, opt.Now)
	arena = e.fixed(arena, ixRevenue, st.Revenue, 2)
	arena = e.fixed(arena, ixGrossProfit, st.GrossProfit, 2)
	arena = e.fixedSince(arena, ixRefunds, st.Refunds, was.Refunds, 2)
	arena = e.timeSince(arena, ixFirstOrderAt, st.FirstOrderAt, was.FirstOrderAt)
	return e.timeSince(arena, ixLastOrderAt, st.LastOrderAt, was.LastOrderAt)
}

// blob renders the bookkeeping blob, writes the pieces of it that changed
// and deletes pieces it no longer needs. It comes first in the write, so
// Encode finds the new token (the first piece) at w.set[1] when it changed.
func (e *encoder) blob(arena []byte, st *aggregate.State) []byte {
	start := len(arena)
	arena = appendBlob(arena, st)
	n := len(arena) - start
	// The pieces are set from where the blob was rendered; unchanged ones
	// stay in the arena, unused (only the last can be cut off).
	pieces := (n + blobPiece - 1) / blobPiece
	for i := 0; i < pieces; i++ {
		from, to := start+i*blobPiece, start+min((i+1)*blobPiece, n)
		old, had := e.stored.get(ixGuard)
		name := fieldGuard
		if i > 0 {
			old, had = e.stored.more.get(i)
			name = pieceField(i)
		}
		arena = e.setRendered(arena, name, old, had, from, to)
	}
	for i := max(pieces, 1); i < len(e.stored.more.has); i++ {
		if e.stored.more.has[i] {
			e.w.del = append(e.w.del, pieceField(i))
		}
	}
	return arena
}

// optional writes a string field, or removes it when empty: channel and
// segment are absent, not empty, while a customer has none.
func (e *encoder) optional(field fieldIndex, v string) {
	if v == "" {
		e.del(field)
		return
	}
	e.set(field, v)
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// time writes a timestamp field, or removes it when unset. The public
// timestamp fields are absent until the customer's first order.
func (e *encoder) time(arena []byte, field fieldIndex, t time.Time) []byte {
	if t.IsZero() {
		e.del(field)
		return arena
	}
	start := len(arena)
	return e.setField(aggregate.AppendTimeText(arena, t), field, start)
}

// updatedAt sets updated_at to now, in whole seconds.
func (e *encoder) updatedAt(arena []byte, now time.Time) []byte {
	start := len(arena)
	return e.setField(appendSecondText(arena, now), ixUpdatedAt, start)
}

// secondText is a whole second and its text (aggregate.AppendTimeText).
type secondText struct {
	unix int64
	text string
}

// lastSecond is the second appendSecondText rendered last. Every write of
// a batch stamps updated_at with the same second, so nearly every call is
// a copy of this text instead of a date computation and format.
var lastSecond atomic.Pointer[secondText]

// appendSecondText appends the text of now truncated to the second.
func appendSecondText(dst []byte, now time.Time) []byte {
	unix := now.Unix()
	if last := lastSecond.Load(); last != nil && last.unix == unix {
		return append(dst, last.text...)
	}
	text := aggregate.AppendTimeText(nil, time.Unix(unix, 0))
	lastSecond.Store(&secondText{unix: unix, text: string(text)})
	return append(dst, text...)
}

// pieceFields are the names of the blob's further pieces (a full 32-id
// window needs 4), built once.
var pieceFields = func() (names [8]string) {
	for i := range names {
		names[i] = fieldGuard + strconv.Itoa(i)
	}
	return names
}()

func pieceField(n int) string {
	if n < len(pieceFields) {
		return pieceFields[n]
	}
	return fieldGuard + strconv.Itoa(n)
}
