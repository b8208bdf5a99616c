package sim

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// MaxJSONLLineBytes is the longest line a JSONLReader accepts.
const MaxJSONLLineBytes = 256 << 20

// jsonlLine is one line of a JSON Lines file, its members in the order
// written. Key and Value are pointers so that an empty string is still
// written; the _b64 members are []byte, which encoding/json writes as
// standard base64.
type jsonlLine struct {
	Topic     string  `json:"topic"`
	Key       *string `json:"key,omitempty"`
	KeyB64    []byte  `json:"key_b64,omitempty"`
	Value     *string `json:"value,omitempty"`
	ValueB64  []byte  `json:"value_b64,omitempty"`
	TS        string  `json:"ts,omitempty"`
	Label     string  `json:"label,omitempty"`
	BadReason string  `json:"bad_reason,omitempty"`
}

func newJSONLLine(r Record) jsonlLine {
	l := jsonlLine{Topic: r.Topic.String(), BadReason: r.BadReason}
	l.Key, l.KeyB64 = textOrBinary(r.Key)
	l.Value, l.ValueB64 = textOrBinary(r.Value)
	if !r.OccurredAt.IsZero() {
		l.TS = r.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	if r.Label != 0 {
		l.Label = r.Label.String()
	}
	return l
}

// textOrBinary returns b as a string when it is valid UTF-8, else as
// bytes to be written in base64.
func textOrBinary(b []byte) (*string, []byte) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}

// WriteJSONL writes r to w as one JSON Lines line.
func WriteJSONL(w io.Writer, r Record) error {
	return NewJSONLWriter(w).Write(r)
}

// JSONLWriter writes records as JSON Lines, one w.Write per record. It
// does not buffer across records: wrap w in a bufio.Writer for speed. Not
// safe for concurrent use.
type JSONLWriter struct {
	enc *json.Encoder
}

// NewJSONLWriter returns a writer that writes to w.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // keep <, > and & readable in values
	return &JSONLWriter{enc: enc}
}

// Write writes one record as one line.
func (jw *JSONLWriter) Write(r Record) error {
	if err := jw.enc.Encode(newJSONLLine(r)); err != nil {
		return fmt.Errorf("write jsonl: %w", err)
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

// jsonlMembers are the member names a line may have.
var jsonlMembers = map[string]bool{
	"topic": true, "key": true, "key_b64": true, "value": true, "value_b64": true,
	"ts": true, "label": true, "bad_reason": true,
}

func parseJSONL(line []byte) (Record, error) {
	var rec Record
	if !utf8.Valid(line) {
		return rec, errors.New("invalid UTF-8 (binary values go in value_b64)")
	}
	m, err := stringMembers(line)
	if err != nil {
		return rec, err
	}
	topic, ok := m["topic"]
	if !ok {
		return rec, errors.New(`missing "topic"`)
	}
	if rec.Topic, err = ParseTopic(topic); err != nil {
		return rec, err
	}
	if rec.Key, err = stringOrB64(m, "key"); err != nil {
		return rec, err
	}
	if rec.Value, err = stringOrB64(m, "value"); err != nil {
		return rec, err
	}
	if s, ok := m["ts"]; ok {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return rec, fmt.Errorf(`"ts" %q is not RFC 3339`, s)
		}
		rec.OccurredAt = ts.UTC()
	}
	rec.Label = LabelValid
	if s, ok := m["label"]; ok {
		if rec.Label, err = ParseLabel(s); err != nil {
			return rec, err
		}
	}
	rec.BadReason = m["bad_reason"]
	return rec, nil
}

// stringMembers decodes line, which must hold exactly one JSON object
// whose members are known, unrepeated and all strings, into a map.
func stringMembers(line []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return nil, invalidJSON(err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("invalid JSON: a line must be one JSON object")
	}
	m := make(map[string]string, len(jsonlMembers))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalidJSON(err)
		}
		name, _ := tok.(string) // Token only gives strings as object keys
		if !jsonlMembers[name] {
			return nil, fmt.Errorf("unknown member %q", name)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", name)
		}
		at := dec.InputOffset()
		if tok, err = dec.Token(); err != nil {
			return nil, invalidJSON(err)
		}
		val, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("invalid JSON at byte %d: member %q must be a string", at+1, name)
		}
		m[name] = val
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, invalidJSON(err)
	}
	if rest := dec.InputOffset(); rest != int64(len(line)) {
		return nil, fmt.Errorf("invalid JSON at byte %d: data after the object", rest+1)
	}
	return m, nil
}

// invalidJSON describes an error of json.Decoder.Token on one line.
func invalidJSON(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("invalid JSON: unexpected end of line")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unterminated value at the end of the line")
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// stringOrB64 returns member name of m, or name_b64 decoded from base64;
// exactly one of them must be present.
func stringOrB64(m map[string]string, name string) ([]byte, error) {
	s, hasS := m[name]
	b64, hasB64 := m[name+"_b64"]
	switch {
	case hasS && hasB64:
		return nil, fmt.Errorf("both %q and %q", name, name+"_b64")
	case hasS:
		return []byte(s), nil
	case hasB64:
		v, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name+"_b64", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("missing %q (or %q)", name, name+"_b64")
}
