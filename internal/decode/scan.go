package decode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"
)

// valueKind is the JSON type of a scanned value. The zero value means "not
// present", so a fresh field table needs no initialisation.
type valueKind uint8

const (
	kindAbsent valueKind = iota
	kindString
	kindNumber
	kindNull
	kindBool
	kindObject
	kindArray
)

// String names the kind with an article, for reasons like
// `field "event_id" must be a string, not a number`.
func (k valueKind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	}
	return "nothing"
}

// rawValue is one top-level value as scanned: for a string its decoded
// content, for a number its source text, otherwise nil. Without escapes
// the content aliases the input, so it must be copied before it is kept.
type rawValue struct {
	kind valueKind
	val  []byte
}

// maxDepthLimit caps Config.MaxDepth so that the nesting stack of the
// iterative skipper is a fixed array on the stack (1024 bits).
const maxDepthLimit = 1024

// scanner is a strict, non-recursive JSON reader for one event object. It
// is stricter than RFC 8259 requires where the contract asks for it
// (duplicate keys, unpaired surrogates and invalid UTF-8 are errors,
// nesting is bounded) and never converts a number: numbers are handed on as
// their source text.
type scanner struct {
	data     []byte
	pos      int
	maxDepth int
	// keys holds the keys of every open object whose keys are not tracked
	// by the known-field bitmask (unknown top-level keys and nested
	// objects), so duplicates can be found when the object closes.
	keys [][]byte
	// starts holds, for each open nested object, the index into keys
	// where its own keys begin.
	starts []int
}

// addKey records a key for checkDuplicates; the first call makes room for
// several, so a few unknown fields cost one allocation.
func (s *scanner) addKey(k []byte) {
	if s.keys == nil {
		s.keys = make([][]byte, 0, 8)
	}
	s.keys = append(s.keys, k)
}

// strPlain marks the bytes a JSON string may contain that need no further
// attention: printable ASCII except the quote and the backslash.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// SWAR constants: one bit or value repeated in each byte of a word.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain8 reports whether all eight bytes of x are strPlain, so the string
// loop can step over them at once. Each term below is non-zero exactly when
// some byte is a control or non-ASCII byte, a quote, or a backslash.
func plain8(x uint64) bool {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((x-lsb*0x20)|x|((q-lsb)&^q)|((b-lsb)&^b))&msb == 0
}

// syntaxErr reports malformed JSON at the current position.
func (s *scanner) syntaxErr(format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf("invalid JSON at byte %d: ", s.pos) + fmt.Sprintf(format, args...)}
}

// unexpected reports the byte at the current position (or the end of the
// input) as not allowed where it was found.
func (s *scanner) unexpected(want string) *Error {
	if s.pos >= len(s.data) {
		return s.syntaxErr("unexpected end of input, expected %s", want)
	}
	return s.syntaxErr("unexpected %s, expected %s", describe(s.data[s.pos]), want)
}

// describe renders one input byte readably for an error reason.
func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte without consuming it,
// or 0 at the end of the input (a raw 0 byte is invalid anyway).
func (s *scanner) next() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// str reads the string whose opening quote is at s.pos. With decode set it
// returns the content with escapes resolved (aliasing the input when there
// are none); otherwise it only validates and returns nil.
func (s *scanner) str(decode bool) ([]byte, *Error) {
	data := s.data
	pos := s.pos + 1 // after the opening quote
	start := pos
	seg := start   // start of the raw run not yet copied to out
	var out []byte // decoded content, only once an escape was seen
	for {
		for pos+8 <= len(data) && plain8(binary.LittleEndian.Uint64(data[pos:])) {
			pos += 8
		}
		for pos < len(data) && strPlain[data[pos]] {
			pos++
		}
		if pos >= len(data) {
			s.pos = pos
			return nil, s.syntaxErr("unterminated string starting at byte %d", start-1)
		}
		switch c := data[pos]; {
		case c == '"':
			s.pos = pos + 1
			if !decode {
				return nil, nil
			}
			if out == nil {
				return data[start:pos], nil
			}
			return append(out, data[seg:pos]...), nil
		case c == '\\':
			if decode {
				if out == nil {
					out = make([]byte, 0, pos-start+16)
				}
				out = append(out, data[seg:pos]...)
			}
			s.pos = pos
			var err *Error
			if out, err = s.escape(out, decode); err != nil {
				return nil, err
			}
			pos = s.pos
			seg = pos
		case c < 0x20:
			s.pos = pos
			return nil, s.syntaxErr("control character 0x%02x in a string (it must be escaped)", c)
		default:
			r, size := utf8.DecodeRune(data[pos:])
			if r == utf8.RuneError && size <= 1 {
				return nil, &Error{Reason: fmt.Sprintf("invalid UTF-8 at byte %d", pos)}
			}
			pos += size
		}
	}
}

// escape reads the escape sequence at s.pos (a backslash) and, when decode
// is set, appends what it stands for to out.
func (s *scanner) escape(out []byte, decode bool) ([]byte, *Error) {
	if s.pos+1 >= len(s.data) {
		return out, s.syntaxErr("unterminated escape sequence")
	}
	e := s.data[s.pos+1]
	var c byte
	switch e {
	case '"', '\\', '/':
		c = e
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, err := s.unicodeEscape()
		if err != nil {
			return out, err
		}
		if decode {
			out = utf8.AppendRune(out, r)
		}
		return out, nil
	default:
		return out, s.syntaxErr("invalid escape sequence \\%s", escapedByte(e))
	}
	s.pos += 2
	if decode {
		out = append(out, c)
	}
	return out, nil
}

// escapedByte renders the byte after a backslash for an error reason.
func escapedByte(c byte) string {
	if c > 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("<0x%02x>", c)
}

// unicodeEscape reads \uXXXX at s.pos, joining a UTF-16 surrogate pair
// into one code point. RFC 8259 §8.2 leaves unpaired surrogates
// unpredictable; they cannot be valid UTF-8, so they are rejected.
func (s *scanner) unicodeEscape() (rune, *Error) {
	at := s.pos
	r, ok := hex4(s.data, s.pos+2)
	if !ok {
		return 0, s.syntaxErr("invalid \\u escape")
	}
	s.pos += 6
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, &Error{Reason: fmt.Sprintf("invalid string at byte %d: unpaired UTF-16 surrogate \\u%04x", at, r)}
	case r >= 0xD800 && r <= 0xDBFF:
		lo, ok := rune(0), false
		if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
			lo, ok = hex4(s.data, s.pos+2)
			if !ok {
				return 0, s.syntaxErr("invalid \\u escape")
			}
		}
		if lo < 0xDC00 || lo > 0xDFFF {
			return 0, &Error{Reason: fmt.Sprintf("invalid string at byte %d: unpaired UTF-16 surrogate \\u%04x", at, r)}
		}
		s.pos += 6
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), nil
	}
	return r, nil
}

// hex4 parses the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number per the RFC 8259 grammar and returns its text.
func (s *scanner) number() ([]byte, *Error) {
	d := s.data
	start := s.pos
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = skipDigits(d, i)
	default:
		s.pos = i
		return nil, s.unexpected("a digit")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return nil, s.unexpected("a digit after the decimal point")
		}
		i = skipDigits(d, i)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return nil, s.unexpected("a digit in the exponent")
		}
		i = skipDigits(d, i)
	}
	s.pos = i
	return d[start:i], nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipDigits returns the index after the run of ASCII digits that starts
// at d[i] (i itself when there is none).
func skipDigits(d []byte, i int) int {
	for i < len(d) && isDigit(d[i]) {
		i++
	}
	return i
}

// literal consumes one of true, false or null.
func (s *scanner) literal(lit string, kind valueKind) (valueKind, *Error) {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return 0, s.syntaxErr("invalid literal, expected %s", lit)
	}
	s.pos += len(lit)
	return kind, nil
}

// scalar reads a string, number or literal at s.pos (white space already
// skipped). Containers are the caller's business.
func (s *scanner) scalar(decode bool) (valueKind, []byte, *Error) {
	if s.pos >= len(s.data) {
		return 0, nil, s.unexpected("a value")
	}
	switch c := s.data[s.pos]; c {
	case '"':
		v, err := s.str(decode)
		return kindString, v, err
	case 'n':
		k, err := s.literal("null", kindNull)
		return k, nil, err
	case 't':
		k, err := s.literal("true", kindBool)
		return k, nil, err
	case 'f':
		k, err := s.literal("false", kindBool)
		return k, nil, err
	default:
		if c == '-' || isDigit(c) {
			v, err := s.number()
			return kindNumber, v, err
		}
		return 0, nil, s.unexpected("a value")
	}
}

// value reads any value at the next non-space position. Strings (decoded)
// and numbers (as text) are returned; objects and arrays are validated and
// skipped.
func (s *scanner) value() (rawValue, *Error) {
	switch s.next() {
	case '{':
		return rawValue{kind: kindObject}, s.skipContainer()
	case '[':
		return rawValue{kind: kindArray}, s.skipContainer()
	}
	k, v, err := s.scalar(true)
	return rawValue{kind: k, val: v}, err
}

// key reads an object key (the opening quote is at the next non-space
// position) and the colon after it. The key is decoded, so that "a" and
// "\u0061" count as the same key.
func (s *scanner) key() ([]byte, *Error) {
	if s.next() != '"' {
		return nil, s.unexpected("an object key (a string)")
	}
	k, err := s.str(true)
	if err != nil {
		return nil, err
	}
	if s.next() != ':' {
		return nil, s.unexpected("':' after an object key")
	}
	s.pos++
	return k, nil
}

// skipContainer validates and skips the object or array at s.pos without
// recursion: an explicit bit stack (1 = object) tracks the open containers,
// so hostile nesting costs neither stack nor heap. The value being skipped
// is at depth 1; deeper than s.maxDepth is an error.
func (s *scanner) skipContainer() *Error {
	var stack [maxDepthLimit / 64]uint64
	depth := 0
	for {
		// At the start of a value (white space skipped).
		switch c := s.next(); c {
		case '{', '[':
			if depth >= s.maxDepth {
				return &Error{Reason: fmt.Sprintf("value nested deeper than %d levels at byte %d", s.maxDepth, s.pos)}
			}
			s.pos++
			obj := c == '{'
			if obj {
				stack[depth/64] |= 1 << (depth % 64)
				if s.starts == nil {
					s.starts = make([]int, 0, 8)
				}
				s.starts = append(s.starts, len(s.keys))
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			closer := byte(']')
			if obj {
				closer = '}'
			}
			if s.next() == closer {
				s.pos++
				depth--
				break // an empty container is a complete value
			}
			if obj {
				k, err := s.key()
				if err != nil {
					return err
				}
				s.addKey(k)
			}
			continue // at the first member's value
		default:
			if _, _, err := s.scalar(false); err != nil {
				return err
			}
		}
		// After a complete value: close containers or move to the next member.
		for {
			if depth == 0 {
				return nil
			}
			top := depth - 1
			obj := stack[top/64]&(1<<(top%64)) != 0
			c := s.next()
			if c == ',' {
				s.pos++
				if obj {
					k, err := s.key()
					if err != nil {
						return err
					}
					s.addKey(k)
				}
				break // at the next member's value
			}
			if obj && c == '}' {
				s.pos++
				last := len(s.starts) - 1
				if err := s.checkDuplicates(s.starts[last]); err != nil {
					return err
				}
				s.starts = s.starts[:last]
				depth--
				continue
			}
			if !obj && c == ']' {
				s.pos++
				depth--
				continue
			}
			if obj {
				return s.unexpected("',' or '}' after an object member")
			}
			return s.unexpected("',' or ']' after an array element")
		}
	}
}

// checkDuplicates reports a key that occurs twice among s.keys[start:] (the
// keys of the object just closed) and then forgets them. Small objects are
// compared pairwise; big ones are sorted so that a hostile object with many
// keys costs O(n log n), not O(n²).
func (s *scanner) checkDuplicates(start int) *Error {
	k := s.keys[start:]
	s.keys = s.keys[:start]
	if len(k) <= 16 {
		for i := 1; i < len(k); i++ {
			for j := 0; j < i; j++ {
				if bytes.Equal(k[i], k[j]) {
					return duplicateKey(k[i], "")
				}
			}
		}
		return nil
	}
	slices.SortFunc(k, bytes.Compare)
	for i := 1; i < len(k); i++ {
		if bytes.Equal(k[i], k[i-1]) {
			return duplicateKey(k[i], "")
		}
	}
	return nil
}

// duplicateKey is the error for a key given twice in one object.
func duplicateKey(key []byte, field string) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf("duplicate key %q", clip(key))}
}
