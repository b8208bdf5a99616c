// The ring buffer the state cache keeps its copies in.

package store

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// ring is the memory behind Cached: values appended to one byte buffer
// used as a circular log, and a map from the key's hash to where its
// newest value starts. Neither holds a pointer, so the garbage collector
// never scans them: a map of a few hundred thousand strings cost the
// consumer about a third of its CPU in marking, which is more than the
// Redis reads the cache saves.
//
// Writing appends; when the buffer is full the oldest records are
// overwritten, and their keys leave the index unless they were written
// again since. So the ring keeps the most recently written values within
// its size (an older version of a key is dead space until overwritten).
// It is not safe for concurrent use.
type ring struct {
	buf []byte
	// head is where the next record goes and tail where the oldest one
	// still in buf starts, both as positions in the endless log (buf
	// index = position % len(buf)). head − tail ≤ len(buf).
	head, tail uint64
	index      map[uint64]uint64 // key hash → position of its record
}

// A record is a header (total length, key hash, key length), the key and
// the value, padded to a multiple of 4 so a header always fits before the
// end of buf. A record with padFlag in its length fills the end of buf.
const (
	recordHeader = 4 + 8 + 2
	padFlag      = 1 << 31
)

func newRing(size int) *ring {
	size &^= 3
	if size < 1024 {
		size = 1024
	}
	r := &ring{buf: make([]byte, size), index: map[uint64]uint64{}}
	r.touch()
	return r
}

// touch writes to every page of the buffer once, so the kernel backs it
// now, at start, rather than page by page while the first batches copy
// customers into it (a fault per page on the hot path, a few per cent of a
// fresh consumer's CPU). The buffer is the configured size of the cache;
// it is resident once the cache has filled anyway.
func (r *ring) touch() {
	const page = 4096
	for i := 0; i < len(r.buf); i += page {
		r.buf[i] = 0
	}
}

func (r *ring) at(pos uint64) []byte { return r.buf[pos%uint64(len(r.buf)):] }

// find returns the record holding key's newest value and key's hash.
func (r *ring) find(key string) (rec []byte, h uint64, ok bool) {
	h = xxhash.Sum64String(key)
	pos, ok := r.index[h]
	if !ok {
		return nil, h, false
	}
	rec = r.at(pos)
	klen := int(binary.LittleEndian.Uint16(rec[12:]))
	if string(rec[recordHeader:recordHeader+klen]) != key {
		return nil, h, false // another key with the same hash
	}
	return rec, h, true
}

// get returns a copy of key's value.
func (r *ring) get(key string) (string, bool) {
	rec, _, ok := r.find(key)
	if !ok {
		return "", false
	}
	n := binary.LittleEndian.Uint32(rec)
	klen := int(binary.LittleEndian.Uint16(rec[12:]))
	vlen := int(n) - recordHeader - klen
	// The stored length includes padding: the value's own length is the
	// record's, less the padding written after it (kept in the last byte
	// of the record).
	vlen -= int(rec[n-1])
	return string(rec[recordHeader+klen : recordHeader+klen+vlen]), true
}

// put stores value under key, evicting the oldest records as needed. A
// value too large for a quarter of the ring is not stored.
func (r *ring) put(key string, value []byte) {
	h := xxhash.Sum64String(key)
	raw := recordHeader + len(key) + len(value) + 1 // +1: the padding count
	n := (raw + 3) &^ 3
	if len(key) > 0xffff || n > len(r.buf)/4 {
		delete(r.index, h)
		return
	}
	size := uint64(len(r.buf))
	if rest := size - r.head%size; uint64(n) > rest {
		r.makeRoom(rest)
		binary.LittleEndian.PutUint32(r.at(r.head), uint32(rest)|padFlag)
		r.head += rest
	}
	r.makeRoom(uint64(n))
	rec := r.at(r.head)[:n]
	binary.LittleEndian.PutUint32(rec, uint32(n))
	binary.LittleEndian.PutUint64(rec[4:], h)
	binary.LittleEndian.PutUint16(rec[12:], uint16(len(key)))
	copy(rec[recordHeader:], key)
	copy(rec[recordHeader+len(key):], value)
	rec[n-1] = byte(n - raw + 1) // padding after the value, this byte included
	r.index[h] = r.head
	r.head += uint64(n)
}

// drop forgets key (its record becomes dead space).
func (r *ring) drop(key string) {
	if _, h, ok := r.find(key); ok {
		delete(r.index, h)
	}
}

// makeRoom moves tail until n more bytes fit after head, removing from the
// index every key whose newest record it passes.
func (r *ring) makeRoom(n uint64) {
	for r.head+n-r.tail > uint64(len(r.buf)) {
		rec := r.at(r.tail)
		length := binary.LittleEndian.Uint32(rec)
		if length&padFlag == 0 {
			h := binary.LittleEndian.Uint64(rec[4:])
			if pos, ok := r.index[h]; ok && pos == r.tail {
				delete(r.index, h)
			}
		}
		r.tail += uint64(length &^ padFlag)
	}
}

// reset forgets every key.
func (r *ring) reset() {
	clear(r.index)
	r.tail = r.head
}

// used is the bytes between the oldest record and head (live and dead).
func (r *ring) used() int { return int(r.head - r.tail) }

// len is the number of keys with a value.
func (r *ring) len() int { return len(r.index) }
