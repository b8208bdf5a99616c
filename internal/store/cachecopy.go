// The cache's copies: a stored hash as a compact byte string, and the
// hash a write turns a copy into.

package store

import "encoding/binary"

// The copy of a hash is a string of fields, each a tag byte, the value's
// length as a uvarint and the value. Tags below numFields are field
// indexes; moreTag+n (n < pieceTags) is the blob's piece _g<n>.
// updated_at is left out: it is rewritten whenever figures are, so
// comparing against it saves nothing. So is the pending flag: Cached
// keeps that apart (Cached.pending).
const (
	moreTag   = 0x80
	pieceTags = 0x40 // piece numbers a tag can name
)

// appendCopy appends the copy of l to dst; false when l has a numbered
// field beyond what a tag can name (never, for hashes this code writes).
func appendCopy(dst []byte, l *loaded) ([]byte, bool) {
	for i := fieldIndex(0); i < numFields; i++ {
		if i != ixUpdatedAt && i != ixPendingFlag && l.has&(1<<i) != 0 {
			dst = appendCopyField(dst, byte(i), l.vals[i])
		}
	}
	for n, ok := range l.more.has {
		if !ok {
			continue
		}
		if n >= pieceTags {
			return dst, false
		}
		dst = appendCopyField(dst, moreTag+byte(n), l.more.vals[n])
	}
	return dst, true
}

func appendCopyField(dst []byte, tag byte, v string) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// decodeCopy parses appendCopy's output; the values are substrings of e.
func decodeCopy(e string) (loaded, bool) {
	var l loaded
	ok := l.readCopy(e)
	return l, ok
}

// readCopy is decodeCopy into l, which it resets first (a snapshot's
// stored hash is decoded where it lies, see DecodeSnapshotInto).
func (l *loaded) readCopy(e string) bool {
	*l = loaded{}
	for len(e) > 0 {
		tag := e[0]
		n, w := uvarint(e[1:])
		if w <= 0 || uint64(len(e)-1-w) < n {
			return false
		}
		v := e[1+w : 1+w+int(n)]
		e = e[1+w+int(n):]
		switch {
		case tag < byte(numFields):
			l.vals[tag] = v
			l.has |= 1 << tag
		case tag >= moreTag && tag < moreTag+pieceTags:
			l.more.set(int(tag-moreTag), v)
		default:
			return false
		}
	}
	return true
}

// after returns the hash l becomes when w is applied to it; false when w
// names a field this code does not know (never, for writes from Encode).
func (l *loaded) after(w *Write) (loaded, bool) {
	out := *l
	out.more = l.more.clone()
	for i := 0; i+1 < len(w.set); i += 2 {
		name, value := w.set[i], w.set[i+1]
		if ix, ok := indexOf(name); ok {
			out.vals[ix] = value
			out.has |= 1 << ix
			continue
		}
		n, ok := pieceNumber(name)
		if !ok {
			return loaded{}, false
		}
		out.more.set(n, value)
	}
	for _, name := range w.del {
		if ix, ok := indexOf(name); ok {
			out.unset(ix)
			continue
		}
		n, ok := pieceNumber(name)
		if !ok {
			return loaded{}, false
		}
		out.more.unset(n)
	}
	return out, true
}
