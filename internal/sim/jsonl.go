package sim

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxJSONLLineBytes is the longest line a JSONLReader accepts.
const MaxJSONLLineBytes = 256 << 20

// AppendJSONL appends r as one JSON Lines line, newline included (format:
// see the package documentation).
func AppendJSONL(b []byte, r Record) []byte {
	b = append(b, `{"topic":`...)
	b = appendJSONString(b, []byte(r.Topic.String()))
	if utf8.Valid(r.Key) {
		b = append(b, `,"key":`...)
		b = appendJSONString(b, r.Key)
	} else {
		b = append(b, `,"key_b64":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Key)
		b = append(b, '"')
	}
	if utf8.Valid(r.Value) {
		b = append(b, `,"value":`...)
		b = appendJSONString(b, r.Value)
	} else {
		b = append(b, `,"value_b64":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Value)
		b = append(b, '"')
	}
	if !r.OccurredAt.IsZero() {
		b = append(b, `,"ts":"`...)
		b = r.OccurredAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if r.Label != 0 {
		b = append(b, `,"label":`...)
		b = appendJSONString(b, []byte(r.Label.String()))
	}
	if r.BadReason != "" {
		b = append(b, `,"bad_reason":`...)
		b = appendJSONString(b, []byte(toValidUTF8(r.BadReason)))
	}
	return append(b, '}', '\n')
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
}

// appendJSONString appends s (valid UTF-8) as a JSON string. Only what
// JSON requires is escaped ('"', '\\' and control characters), so the
// output stays readable and round-trips byte for byte.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// WriteJSONL writes r to w as one JSON Lines line.
func WriteJSONL(w io.Writer, r Record) error {
	if _, err := w.Write(AppendJSONL(nil, r)); err != nil {
		return fmt.Errorf("write jsonl: %w", err)
	}
	return nil
}

// JSONLWriter writes records as JSON Lines, reusing one buffer. It does
// not buffer across records: wrap w in a bufio.Writer for speed. Not safe
// for concurrent use.
type JSONLWriter struct {
	w   io.Writer
	buf []byte
}

// NewJSONLWriter returns a writer that writes to w.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	return &JSONLWriter{w: w, buf: make([]byte, 0, 1024)}
}

// Write writes one record as one line.
func (jw *JSONLWriter) Write(r Record) error {
	jw.buf = AppendJSONL(jw.buf[:0], r)
	if _, err := jw.w.Write(jw.buf); err != nil {
		return fmt.Errorf("write jsonl: %w", err)
	}
	if cap(jw.buf) > 1<<20 {
		jw.buf = make([]byte, 0, 1024) // do not keep an oversized record's buffer
	}
	return nil
}

// JSONLError is a malformed line in a JSON Lines file.
type JSONLError struct {
	Line int   // 1-based line number
	Err  error // what is wrong
}

// Error returns "line N: <what is wrong>".
func (e *JSONLError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *JSONLError) Unwrap() error { return e.Err }

// JSONLReader reads records written by JSONLWriter or by hand (format:
// see the package documentation). Not safe for concurrent use.
type JSONLReader struct {
	r    *bufio.Reader
	line int
	long []byte
}

// NewJSONLReader returns a reader of r; it buffers internally.
func NewJSONLReader(r io.Reader) *JSONLReader {
	return &JSONLReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// Line returns the number of the line last read.
func (jr *JSONLReader) Line() int { return jr.line }

// Next returns the next record; io.EOF after the last one. A malformed
// line gives a *JSONLError naming the line; reading may continue after it.
func (jr *JSONLReader) Next() (Record, error) {
	for {
		line, err := jr.readLine()
		if err != nil {
			return Record{}, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		rec, perr := parseJSONL(line)
		if perr != nil {
			return Record{}, &JSONLError{Line: jr.line, Err: perr}
		}
		return rec, nil
	}
}

// readLine returns the next line without its newline, or io.EOF.
func (jr *JSONLReader) readLine() ([]byte, error) {
	jr.long = jr.long[:0]
	for {
		frag, err := jr.r.ReadSlice('\n')
		switch {
		case err == nil:
			jr.line++
			if len(jr.long) > 0 {
				return append(jr.long, frag...), nil
			}
			return frag, nil
		case errors.Is(err, bufio.ErrBufferFull):
			jr.long = append(jr.long, frag...)
			if len(jr.long) > MaxJSONLLineBytes {
				jr.line++
				return nil, &JSONLError{Line: jr.line, Err: fmt.Errorf("line longer than %d bytes", MaxJSONLLineBytes)}
			}
		case errors.Is(err, io.EOF):
			jr.long = append(jr.long, frag...)
			if len(jr.long) == 0 {
				return nil, io.EOF
			}
			jr.line++
			return jr.long, nil
		default:
			return nil, fmt.Errorf("read jsonl after line %d: %w", jr.line, err)
		}
	}
}

// jsonlMembers are the members of a line, in the order written.
var jsonlMembers = [...]string{"topic", "key", "key_b64", "value", "value_b64", "ts", "label", "bad_reason"}

const (
	mTopic = iota
	mKey
	mKeyB64
	mValue
	mValueB64
	mTS
	mLabel
	mBadReason
	numMembers
)

func parseJSONL(line []byte) (Record, error) {
	var rec Record
	if !utf8.Valid(line) {
		return rec, errors.New("invalid UTF-8 (binary values go in value_b64)")
	}
	var m [numMembers][]byte
	var have [numMembers]bool
	if err := scanFlatObject(line, func(key, val []byte) error {
		i := -1
		for k, name := range jsonlMembers {
			if string(key) == name {
				i = k
				break
			}
		}
		if i < 0 {
			return fmt.Errorf("unknown member %q", key)
		}
		if have[i] {
			return fmt.Errorf("duplicate member %q", key)
		}
		have[i], m[i] = true, val
		return nil
	}); err != nil {
		return rec, err
	}
	if !have[mTopic] {
		return rec, errors.New(`missing "topic"`)
	}
	t, err := ParseTopic(string(m[mTopic]))
	if err != nil {
		return rec, err
	}
	rec.Topic = t
	if rec.Key, err = stringOrB64("key", m[mKey], have[mKey], m[mKeyB64], have[mKeyB64]); err != nil {
		return rec, err
	}
	if rec.Value, err = stringOrB64("value", m[mValue], have[mValue], m[mValueB64], have[mValueB64]); err != nil {
		return rec, err
	}
	if have[mTS] {
		ts, err := time.Parse(time.RFC3339Nano, string(m[mTS]))
		if err != nil {
			return rec, fmt.Errorf(`"ts" %q is not RFC 3339`, m[mTS])
		}
		rec.OccurredAt = ts.UTC()
	}
	rec.Label = LabelValid
	if have[mLabel] {
		if rec.Label, err = ParseLabel(string(m[mLabel])); err != nil {
			return rec, err
		}
	}
	if have[mBadReason] {
		rec.BadReason = string(m[mBadReason])
	}
	return rec, nil
}

// scanFlatObject parses a JSON object whose member values are all strings
// and calls fn with each decoded key and value (fresh slices).
func scanFlatObject(b []byte, fn func(key, val []byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("invalid JSON: a line must be one JSON object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			key, j, err := scanString(b, i)
			if err != nil {
				return err
			}
			j = skipWS(b, j)
			if j >= len(b) || b[j] != ':' {
				return fmt.Errorf("invalid JSON at byte %d: expected ':'", j+1)
			}
			j = skipWS(b, j+1)
			if j < len(b) && b[j] != '"' {
				return fmt.Errorf("invalid JSON at byte %d: member %q must be a string", j+1, key)
			}
			val, j, err := scanString(b, j)
			if err != nil {
				return err
			}
			if err := fn(key, val); err != nil {
				return err
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return errors.New("invalid JSON: unexpected end of line")
			}
			if b[j] == '}' {
				i = j + 1
				break
			}
			if b[j] != ',' {
				return fmt.Errorf("invalid JSON at byte %d: expected ',' or '}'", j+1)
			}
			i = skipWS(b, j+1)
		}
	}
	if i = skipWS(b, i); i != len(b) {
		return fmt.Errorf("invalid JSON at byte %d: data after the object", i+1)
	}
	return nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString decodes the JSON string starting at b[i] ('"') and returns
// it and the index after its closing quote.
func scanString(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, fmt.Errorf("invalid JSON at byte %d: expected a string", i+1)
	}
	i++
	start := i
	for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
		i++
	}
	if i < len(b) && b[i] == '"' { // no escapes: the common case
		return append([]byte(nil), b[start:i]...), i + 1, nil
	}
	out := append(make([]byte, 0, i-start+16), b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return out, i + 1, nil
		case c < 0x20:
			return nil, i, fmt.Errorf("invalid JSON at byte %d: control character in a string", i+1)
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			break
		}
		e := b[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, i)
			if !ok {
				return nil, i, fmt.Errorf("invalid JSON at byte %d: bad \\u escape", i-1)
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(b, i+2); ok && i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, i, fmt.Errorf("invalid JSON at byte %d: bad escape", i-1)
		}
	}
	return nil, i, errors.New("invalid JSON: unterminated string")
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func stringOrB64(name string, s []byte, hasS bool, b64 []byte, hasB64 bool) ([]byte, error) {
	switch {
	case hasS && hasB64:
		return nil, fmt.Errorf("both %q and %q", name, name+"_b64")
	case hasS:
		return s, nil
	case hasB64:
		v, err := base64.StdEncoding.AppendDecode(nil, b64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name+"_b64", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("missing %q (or %q)", name, name+"_b64")
}
