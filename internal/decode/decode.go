// Package decode turns raw input record values into validated
// aggregate.Events, enforcing every rule of SPEC §2. Whatever it rejects
// goes to the DLQ with the error's Reason as the `error` header, so reasons
// are short, specific and name the field.
//
// The decoder is hand-written rather than built on encoding/json because
// the contract needs things encoding/json does not do: duplicate keys are
// errors, numbers are parsed exactly from their text (never through
// float64), nesting and sizes are bounded before any work is done, and the
// hot path allocates little.
package decode

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/shopspring/decimal"
)

// Error is the only error type Decode returns.
type Error struct {
	// Field names the offending field ("" when the problem is not
	// field-specific, e.g. malformed JSON).
	Field string
	// Reason is a short, lower-case description for the DLQ header.
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits on identifiers and numbers. They reject garbage cheaply and keep
// Redis keys and state bounded; real ids and amounts are far inside them.
const (
	MaxIDBytes          = 256
	maxAmountIntDigits  = 15 // amounts < 1e15
	maxAmountFracDigits = 8
	maxMarginFracDigits = 12
)

// Config configures a Decoder.
type Config struct {
	// BaseCurrency is the only accepted currency unless FXRates has a rate
	// for another. Default "SEK".
	BaseCurrency string
	// FXRates maps a currency to its rate into the base currency; order
	// amounts in that currency are multiplied by it (exactly).
	FXRates map[string]decimal.Decimal
	// MaxBytes is the largest accepted value. Default 1 MiB.
	MaxBytes int
	// MaxDepth bounds the nesting of unknown fields' values. Default 16.
	MaxDepth int
}

// Decoder validates and decodes input events. It is immutable after New
// and safe for concurrent use.
type Decoder struct {
	cfg Config
}

// New returns a Decoder with defaults applied.
func New(cfg Config) (*Decoder, error) {
	if cfg.BaseCurrency == "" {
		cfg.BaseCurrency = "SEK"
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 16
	}
	for cur, rate := range cfg.FXRates {
		if rate.Sign() <= 0 {
			return nil, fmt.Errorf("fx rate of %s must be > 0", cur)
		}
		if cur == cfg.BaseCurrency {
			return nil, fmt.Errorf("fx rate given for the base currency %s", cur)
		}
	}
	return &Decoder{cfg: cfg}, nil
}

// field indexes of the known keys.
const (
	fSchema = iota
	fEventID
	fType
	fCustomerID
	fOrderID
	fAmount
	fCurrency
	fMargin
	fOccurredAt
	fChannel
	fReason
	numFields
)

var fieldNames = [numFields]string{
	fSchema: "schema", fEventID: "event_id", fType: "type", fCustomerID: "customer_id",
	fOrderID: "order_id", fAmount: "amount", fCurrency: "currency", fMargin: "gross_margin",
	fOccurredAt: "occurred_at", fChannel: "channel", fReason: "reason",
}

func fieldIndex(key []byte) int {
	switch string(key) {
	case "schema":
		return fSchema
	case "event_id":
		return fEventID
	case "type":
		return fType
	case "customer_id":
		return fCustomerID
	case "order_id":
		return fOrderID
	case "amount":
		return fAmount
	case "currency":
		return fCurrency
	case "gross_margin":
		return fMargin
	case "occurred_at":
		return fOccurredAt
	case "channel":
		return fChannel
	case "reason":
		return fReason
	}
	return -1
}

type rawField struct {
	present bool
	kind    valueKind
	val     []byte
}

// Decode validates value and returns the event. Returned strings never
// alias value (Kafka reuses fetch buffers).
func (d *Decoder) Decode(value []byte) (aggregate.Event, error) {
	var ev aggregate.Event
	if len(value) > d.cfg.MaxBytes {
		return ev, errorf("", "value of %d bytes exceeds the %d-byte limit", len(value), d.cfg.MaxBytes)
	}
	var fields [numFields]rawField
	if err := d.scanTop(value, &fields); err != nil {
		return ev, err
	}

	// type and schema first: they decide which fields are required.
	typ, err := requiredString(&fields, fType)
	if err != nil {
		return ev, err
	}
	kind, ok := aggregate.ParseKind(string(typ))
	if !ok {
		return ev, errorf("type", "unknown type %q", clip(typ))
	}
	ev.Kind = kind
	schema, err := requiredString(&fields, fSchema)
	if err != nil {
		return ev, err
	}
	if string(schema) != kind.Schema() {
		return ev, errorf("schema", "schema %q does not match type %q (expected %q)", clip(schema), kind, kind.Schema())
	}
	if ev.EventID, err = d.id(&fields, fEventID); err != nil {
		return ev, err
	}
	if ev.CustomerID, err = d.id(&fields, fCustomerID); err != nil {
		return ev, err
	}
	at, err := requiredString(&fields, fOccurredAt)
	if err != nil {
		return ev, err
	}
	if ev.OccurredAt, err = parseTime(at); err != nil {
		return ev, err
	}

	if kind.IsOrder() {
		if ev.OrderID, err = d.id(&fields, fOrderID); err != nil {
			return ev, err
		}
		cur, err := requiredString(&fields, fCurrency)
		if err != nil {
			return ev, err
		}
		amount, err := parseDecimal(&fields[fAmount], "amount", maxAmountIntDigits, maxAmountFracDigits, true)
		if err != nil {
			return ev, err
		}
		if string(cur) == d.cfg.BaseCurrency {
			ev.Currency = d.cfg.BaseCurrency
		} else if rate, ok := d.cfg.FXRates[string(cur)]; ok {
			ev.Currency = string(cur)
			amount = amount.Mul(rate)
		} else {
			return ev, errorf("currency", "currency %q is not the base currency %q", clip(cur), d.cfg.BaseCurrency)
		}
		ev.Amount = amount
		if f := &fields[fMargin]; f.present && f.kind != kindNull {
			m, err := parseDecimal(f, "gross_margin", 1, maxMarginFracDigits, false)
			if err != nil {
				return ev, err
			}
			if m.Sign() < 0 || m.GreaterThan(decimal.NewFromInt(1)) {
				return ev, errorf("gross_margin", "gross_margin: %s is outside [0,1]", clip(f.val))
			}
			ev.Margin, ev.HasMargin = m, true
		}
		if ev.Channel, err = optionalString(&fields, fChannel); err != nil {
			return ev, err
		}
	} else if ev.Reason, err = optionalString(&fields, fReason); err != nil {
		return ev, err
	}
	return ev, nil
}

// scanTop reads the top-level object into fields.
func (d *Decoder) scanTop(value []byte, fields *[numFields]rawField) error {
	s := scanner{data: value, maxDepth: d.cfg.MaxDepth}
	if c := s.peek(); c != '{' {
		if c == 0 {
			return errorf("", "empty value")
		}
		return errorf("", "invalid JSON at byte %d: the value must be a JSON object", s.pos)
	}
	s.pos++
	var unknown map[string]struct{}
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if s.peek() != '"' {
				return s.fail("object key expected")
			}
			key, err := s.readString()
			if err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			idx := fieldIndex(key)
			if idx >= 0 {
				if fields[idx].present {
					return errorf(fieldNames[idx], "duplicate key %q", fieldNames[idx])
				}
			} else {
				if unknown == nil {
					unknown = map[string]struct{}{}
				}
				if _, dup := unknown[string(key)]; dup {
					return errorf("", "duplicate key %q", clip(key))
				}
				unknown[string(key)] = struct{}{}
			}
			kind, val, err := s.readValue(1)
			if err != nil {
				return err
			}
			if idx >= 0 {
				fields[idx] = rawField{present: true, kind: kind, val: val}
			}
			switch s.peek() {
			case ',':
				s.pos++
				continue
			case '}':
				s.pos++
			default:
				return s.fail("expected ',' or '}' in object")
			}
			break
		}
	}
	if s.peek() != 0 {
		return s.fail("unexpected data after the JSON object")
	}
	return nil
}

func requiredString(fields *[numFields]rawField, idx int) ([]byte, error) {
	f := &fields[idx]
	name := fieldNames[idx]
	switch {
	case !f.present || f.kind == kindNull:
		return nil, errorf(name, "missing required field %q", name)
	case f.kind != kindString:
		return nil, errorf(name, "field %q must be a string, got %s", name, f.kind)
	case len(f.val) == 0:
		return nil, errorf(name, "empty required field %q", name)
	}
	return f.val, nil
}

func optionalString(fields *[numFields]rawField, idx int) (string, error) {
	f := &fields[idx]
	if !f.present || f.kind == kindNull {
		return "", nil
	}
	if f.kind != kindString {
		return "", errorf(fieldNames[idx], "field %q must be a string, got %s", fieldNames[idx], f.kind)
	}
	if len(f.val) > MaxIDBytes {
		return "", errorf(fieldNames[idx], "field %q is longer than %d bytes", fieldNames[idx], MaxIDBytes)
	}
	return string(f.val), nil
}

// id reads an identifier: required, bounded, printable.
func (d *Decoder) id(fields *[numFields]rawField, idx int) (string, error) {
	v, err := requiredString(fields, idx)
	if err != nil {
		return "", err
	}
	name := fieldNames[idx]
	if len(v) > MaxIDBytes {
		return "", errorf(name, "field %q is longer than %d bytes", name, MaxIDBytes)
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return "", errorf(name, "field %q contains a control character", name)
		}
	}
	return string(v), nil
}

// parseDecimal parses a decimal string or JSON number exactly, bounding its
// size from the text before any arithmetic.
func parseDecimal(f *rawField, name string, maxInt, maxFrac int, forbidNegative bool) (decimal.Decimal, error) {
	if !f.present || f.kind == kindNull {
		return decimal.Decimal{}, errorf(name, "missing required field %q", name)
	}
	text := f.val
	switch f.kind {
	case kindString:
		if len(text) == 0 {
			return decimal.Decimal{}, errorf(name, "empty required field %q", name)
		}
		if err := plainDecimal(text); err != nil {
			return decimal.Decimal{}, errorf(name, "%s: %q is not a decimal number", name, clip(text))
		}
	case kindNumber:
	default:
		return decimal.Decimal{}, errorf(name, "%s must be a decimal string or a number, got %s", name, f.kind)
	}
	neg := text[0] == '-'
	if neg && forbidNegative {
		return decimal.Decimal{}, errorf(name, "%s: negative value %q", name, clip(text))
	}
	intDigits, fracDigits, ok := magnitude(text)
	if !ok || intDigits > maxInt || fracDigits > maxFrac {
		return decimal.Decimal{}, errorf(name, "%s: %s is out of range (at most %d integer and %d decimal digits)", name, clip(text), maxInt, maxFrac)
	}
	v, err := decimal.NewFromString(string(text))
	if err != nil {
		return decimal.Decimal{}, errorf(name, "%s: %q is not a decimal number", name, clip(text))
	}
	if neg && v.Sign() < 0 && forbidNegative {
		return decimal.Decimal{}, errorf(name, "%s: negative value %q", name, clip(text))
	}
	return v, nil
}

// plainDecimal accepts -?[0-9]+(\.[0-9]+)? (the sign is judged later).
func plainDecimal(t []byte) error {
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	start := i
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == start {
		return errors.New("digits expected")
	}
	if i < len(t) && t[i] == '.' {
		i++
		fs := i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i == fs {
			return errors.New("digits expected after '.'")
		}
	}
	if i != len(t) {
		return errors.New("trailing characters")
	}
	return nil
}

// magnitude returns the number of significant integer digits and of
// significant fractional digits of a number given as JSON number text
// (mantissa with optional fraction and exponent), without building it.
func magnitude(t []byte) (intDigits, fracDigits int, ok bool) {
	if len(t) > 0 && t[0] == '-' {
		t = t[1:]
	}
	var digits []byte
	point := -1
	exp := 0
	i := 0
	for ; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == '.':
			point = len(digits)
		case c == 'e' || c == 'E':
			e, good := smallExponent(t[i+1:])
			if !good {
				return 0, 0, false
			}
			exp = e
			i = len(t)
		default:
			return 0, 0, false
		}
	}
	if point < 0 {
		point = len(digits)
	}
	point += exp // decimal point position within digits
	// Trim leading and trailing zeros: they do not count.
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	trail := len(digits)
	for trail > lead && digits[trail-1] == '0' {
		trail--
	}
	if lead == trail {
		return 0, 0, true // zero
	}
	intDigits = point - lead
	if intDigits < 0 {
		intDigits = 0
	}
	fracDigits = trail - point
	if fracDigits < 0 {
		fracDigits = 0
	}
	return intDigits, fracDigits, true
}

// smallExponent parses an exponent, refusing absurd ones early.
func smallExponent(t []byte) (int, bool) {
	neg := false
	if len(t) > 0 && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if len(t) == 0 || len(t) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseTime accepts RFC 3339 (with optional fractional seconds) only: Go's
// parser alone would also take a few non-RFC forms.
func parseTime(v []byte) (time.Time, error) {
	s := string(v)
	bad := func() (time.Time, error) {
		return time.Time{}, errorf("occurred_at", "occurred_at: %q is not RFC 3339", clip(v))
	}
	// yyyy-mm-ddThh:mm:ss then optional fraction, then Z or ±hh:mm
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return bad()
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return bad()
		}
	}
	rest := s[19:]
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 || j > 10 {
			return bad()
		}
		rest = rest[j:]
	}
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigits(rest[1:3]) && isDigits(rest[4:6]):
	default:
		return bad()
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s[:10])+"T"+strings.ToUpper(s[11:]))
	if err != nil {
		return bad()
	}
	return t.UTC(), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// clip keeps echoed input short in error reasons.
func clip(b []byte) string {
	const max = 64
	if len(b) <= max {
		return string(b)
	}
	return string(b[:max]) + "…"
}
