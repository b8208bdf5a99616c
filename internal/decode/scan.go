package decode

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small, allocation-conscious JSON reader for one flat event
// object. It is stricter than encoding/json where SPEC §2 asks for it
// (duplicate keys, depth, invalid UTF-8) and exact for numbers: a number is
// returned as its source text, never as float64.
type scanner struct {
	data     []byte
	pos      int
	maxDepth int
}

// valueKind is what a scanned value was.
type valueKind uint8

const (
	kindString valueKind = iota + 1
	kindNumber
	kindNull
	kindBool
	kindObject
	kindArray
)

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
	return "a value"
}

func (s *scanner) fail(format string, args ...any) error {
	return errorf("", "invalid JSON at byte %d: "+format, append([]any{s.pos}, args...)...)
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

// expect consumes byte c after optional white space.
func (s *scanner) expect(c byte) error {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of input, expected %q", c)
	}
	if s.data[s.pos] != c {
		return s.fail("expected %q, found %q", c, s.data[s.pos])
	}
	s.pos++
	return nil
}

// peek returns the next non-space byte without consuming it (0 at end).
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// readString reads a JSON string at the current position and returns its
// decoded content. Strings without escapes are returned as a sub-slice of
// the input (raw=true): callers copy what they keep.
func (s *scanner) readString() (out []byte, err error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.pos
	// Fast path: no escapes, ASCII or valid UTF-8.
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			out = s.data[start:s.pos]
			s.pos++
			return out, nil
		case c == '\\':
			return s.readEscaped(start)
		case c < 0x20:
			return nil, s.fail("control character 0x%02x in string", c)
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				return nil, errorf("", "invalid UTF-8 at byte %d", s.pos)
			}
			s.pos += size
		}
	}
	return nil, s.fail("unterminated string")
}

// readEscaped continues a string that contains escapes; prefix is
// data[start:pos].
func (s *scanner) readEscaped(start int) ([]byte, error) {
	buf := make([]byte, 0, s.pos-start+16)
	buf = append(buf, s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return buf, nil
		case c == '\\':
			if s.pos+1 >= len(s.data) {
				return nil, s.fail("unterminated escape")
			}
			e := s.data[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := s.readHex4()
				if err != nil {
					return nil, err
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
						return nil, s.fail("lone UTF-16 surrogate \\u%04x", r)
					}
					s.pos += 2
					r2, err := s.readHex4()
					if err != nil {
						return nil, err
					}
					combined := utf16.DecodeRune(r, r2)
					if combined == utf8.RuneError {
						return nil, s.fail("invalid UTF-16 surrogate pair \\u%04x\\u%04x", r, r2)
					}
					r = combined
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return nil, s.fail("invalid escape \\%c", e)
			}
		case c < 0x20:
			return nil, s.fail("control character 0x%02x in string", c)
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				return nil, errorf("", "invalid UTF-8 at byte %d", s.pos)
			}
			buf = append(buf, s.data[s.pos:s.pos+size]...)
			s.pos += size
		}
	}
	return nil, s.fail("unterminated string")
}

func (s *scanner) readHex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, s.fail("truncated \\u escape")
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 32)
	if err != nil {
		return 0, s.fail("invalid \\u escape %q", s.data[s.pos:s.pos+4])
	}
	s.pos += 4
	return rune(v), nil
}

// readNumber reads a number per the RFC 8259 grammar and returns its text.
func (s *scanner) readNumber() ([]byte, error) {
	start := s.pos
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	default:
		return nil, s.fail("invalid number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) || d[s.pos] < '0' || d[s.pos] > '9' {
			return nil, s.fail("invalid number: digit expected after '.'")
		}
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) || d[s.pos] < '0' || d[s.pos] > '9' {
			return nil, s.fail("invalid number: digit expected in exponent")
		}
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	}
	return d[start:s.pos], nil
}

func (s *scanner) readLiteral(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// readValue reads any value. Strings and numbers return their content /
// text; containers are validated and skipped (depth is the nesting level of
// the value itself).
func (s *scanner) readValue(depth int) (valueKind, []byte, error) {
	switch c := s.peek(); {
	case c == '"':
		v, err := s.readString()
		return kindString, v, err
	case c == '-' || (c >= '0' && c <= '9'):
		v, err := s.readNumber()
		return kindNumber, v, err
	case c == 'n':
		return kindNull, nil, s.readLiteral("null")
	case c == 't':
		return kindBool, nil, s.readLiteral("true")
	case c == 'f':
		return kindBool, nil, s.readLiteral("false")
	case c == '{' || c == '[':
		if depth > s.maxDepth {
			return 0, nil, errorf("", "JSON nested deeper than %d levels", s.maxDepth)
		}
		if c == '{' {
			return kindObject, nil, s.skipObject(depth)
		}
		return kindArray, nil, s.skipArray(depth)
	case c == 0:
		return 0, nil, s.fail("unexpected end of input")
	default:
		return 0, nil, s.fail("unexpected character %q", c)
	}
}

// skipObject validates a nested object, including duplicate keys.
func (s *scanner) skipObject(depth int) error {
	s.pos++ // '{'
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var keys map[string]struct{}
	for {
		if s.peek() != '"' {
			return s.fail("object key expected")
		}
		k, err := s.readString()
		if err != nil {
			return err
		}
		if keys == nil {
			keys = map[string]struct{}{}
		}
		if _, dup := keys[string(k)]; dup {
			return errorf("", "duplicate key %q in a nested object", k)
		}
		keys[string(k)] = struct{}{}
		if err := s.expect(':'); err != nil {
			return err
		}
		if _, _, err := s.readValue(depth + 1); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or '}' in object")
		}
	}
}

func (s *scanner) skipArray(depth int) error {
	s.pos++ // '['
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if _, _, err := s.readValue(depth + 1); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or ']' in array")
		}
	}
}
