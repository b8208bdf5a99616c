// Package decode turns raw input record values into validated
// aggregate.Events, enforcing every rule of SPEC §2. Whatever it rejects
// goes to the DLQ with the error's Reason as the `error` header, so reasons
// are short, specific and name the field.
//
// The decoder is hand-written rather than built on encoding/json because
// the contract needs things encoding/json does not do: duplicate keys are
// errors, numbers are parsed exactly from their text (never through
// float64), nesting and sizes are bounded before any work is done, and the
// hot path allocates only what the returned Event keeps.
package decode

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

// Error is the only error type Decode returns, so the pipeline can tell a
// bad record (dead-letter it) from anything else, and so the DLQ header can
// carry a reason meant for people.
type Error struct {
	// Reason is a short, lower-case sentence fragment saying what is wrong;
	// it goes verbatim into the DLQ `error` header. Input echoed in it is
	// clipped and quoted.
	Reason string
	// Field names the offending top-level field, "key" for the record key,
	// or "" when the problem is not field-specific (malformed JSON, size,
	// nesting).
	Field string
}

// Error returns the reason, so the error reads well in logs and headers.
func (e *Error) Error() string { return e.Reason }

// errorf builds an *Error for a field.
func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MaxIDBytes bounds event_id, customer_id and order_id (and the optional
// channel and reason): ids become Redis keys and dedupe entries, so a
// producer bug must not be able to make them arbitrarily large.
const MaxIDBytes = 256

// Defaults of Config, exported so the service and the docs can state them.
const (
	DefaultBaseCurrency  = "SEK"
	DefaultMaxBytes      = 1 << 20
	DefaultMaxDepth      = 16
	DefaultMaxFutureSkew = 24 * time.Hour
)

// Config configures a Decoder. The zero value is valid and means the SPEC
// defaults.
type Config struct {
	// BaseCurrency is the currency money is kept in; order events in any
	// other currency are rejected unless FXRates has a rate for it.
	// Default "SEK".
	BaseCurrency string
	// FXRates optionally maps a currency code to its rate into the base
	// currency. An order amount in that currency is multiplied by the rate
	// (exactly); Event.Currency keeps the code that was sent.
	FXRates map[string]decimal.Decimal
	// MaxBytes is the largest accepted value, checked before any parsing.
	// Default 1 MiB.
	MaxBytes int
	// MaxDepth bounds the nesting of values (unknown fields may carry
	// objects and arrays): a value nested more than MaxDepth containers
	// deep is rejected. Default 16, at most 1024.
	MaxDepth int
	// MaxFutureSkew is how far occurred_at may lie after the wall-clock time
	// a record is read (DecodeRecord) before the record is refused, so one
	// mistyped year cannot move stream time (SPEC §8) years ahead. Default
	// 24h; negative turns the check off.
	MaxFutureSkew time.Duration
}

// fxRate is one configured conversion; code is kept so that Event.Currency
// can share the configured string instead of allocating a copy.
type fxRate struct {
	code string
	rate money.Exact
}

// Decoder validates and decodes input events. It is immutable after New,
// so one Decoder serves all partitions concurrently.
type Decoder struct {
	base          string
	fx            map[string]fxRate
	maxBytes      int
	maxDepth      int
	maxFutureSkew time.Duration // < 0: off
}

// New applies the defaults and checks the configuration, so that a bad
// currency table fails at start-up rather than on the first event.
func New(cfg Config) (*Decoder, error) {
	d := &Decoder{base: cfg.BaseCurrency, maxBytes: cfg.MaxBytes, maxDepth: cfg.MaxDepth, maxFutureSkew: cfg.MaxFutureSkew}
	if d.maxFutureSkew == 0 {
		d.maxFutureSkew = DefaultMaxFutureSkew
	}
	if d.base == "" {
		d.base = DefaultBaseCurrency
	}
	if err := checkCurrencyCode(d.base); err != nil {
		return nil, fmt.Errorf("base currency: %w", err)
	}
	switch {
	case d.maxBytes == 0:
		d.maxBytes = DefaultMaxBytes
	case d.maxBytes < 0:
		return nil, fmt.Errorf("max bytes must be positive, got %d", cfg.MaxBytes)
	}
	switch {
	case d.maxDepth == 0:
		d.maxDepth = DefaultMaxDepth
	case d.maxDepth < 0 || d.maxDepth > maxDepthLimit:
		return nil, fmt.Errorf("max depth must be between 1 and %d, got %d", maxDepthLimit, cfg.MaxDepth)
	}
	d.fx = make(map[string]fxRate, len(cfg.FXRates))
	for code, rate := range cfg.FXRates {
		if err := checkCurrencyCode(code); err != nil {
			return nil, fmt.Errorf("fx rate: %w", err)
		}
		if rate.Sign() <= 0 {
			return nil, fmt.Errorf("fx rate of %q must be positive, got %s", code, rate)
		}
		if code == d.base {
			if !rate.Equal(decimal.NewFromInt(1)) {
				return nil, fmt.Errorf("fx rate of the base currency %q must be 1, got %s", code, rate)
			}
			continue // the base currency needs no conversion
		}
		d.fx[code] = fxRate{code: code, rate: money.FromDecimal(rate)}
	}
	return d, nil
}

// checkCurrencyCode accepts 1 to 16 printable ASCII characters without
// blanks or lowercase letters: ISO 4217 codes and the usual non-ISO ones
// fit; typos with spaces do not, nor "sek", which would refuse every event
// in SEK (an event's currency must match exactly).
func checkCurrencyCode(code string) error {
	if code == "" || len(code) > 16 {
		return fmt.Errorf("currency code %q must be 1 to 16 characters", code)
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("currency code %q may only contain printable ASCII without blanks", code)
		}
		if c := code[i]; c >= 'a' && c <= 'z' {
			return fmt.Errorf("currency code %q has lowercase letters: events' codes must match it exactly, and ISO 4217 codes are capitals (%s)", code, strings.ToUpper(code))
		}
	}
	return nil
}

// Indexes of the known top-level fields.
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

// fieldIndex maps a (decoded) key to its field index, -1 when unknown.
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

// fields holds the scanned values of the known fields.
type fields [numFields]rawValue

// Decode validates one record value and returns the event. Every returned
// error is an *Error. Strings in the event never alias value, because Kafka
// clients reuse their fetch buffers.
func (d *Decoder) Decode(value []byte) (aggregate.Event, error) {
	ev, err := d.decode(value)
	if err != nil {
		return aggregate.Event{}, err
	}
	return ev, nil
}

// DecodeRecord validates a whole input record: first its value, as Decode
// does, then the rules of SPEC §2 that need the record around it. The key
// must be the event's customer_id (a missing key included), because stream
// time and timers (SPEC §8) rely on a customer living on one partition; and
// occurred_at may lie at most MaxFutureSkew after readAt, the wall-clock
// time the record was read. Every returned error is an *Error.
func (d *Decoder) DecodeRecord(key, value []byte, readAt time.Time) (aggregate.Event, error) {
	ev, err := d.decode(value)
	if err != nil {
		return aggregate.Event{}, err
	}
	if err := d.checkRecord(key, &ev, readAt); err != nil {
		return aggregate.Event{}, err
	}
	return ev, nil
}

// checkRecord applies the record-level rules to a decoded event.
func (d *Decoder) checkRecord(key []byte, ev *aggregate.Event, readAt time.Time) *Error {
	switch {
	case key == nil:
		return errorf("key", "record has no key; the key must be the event's customer_id %q", clip([]byte(ev.CustomerID)))
	case len(key) == 0:
		// Present but empty: a different producer bug from a missing key
		// (the DLQ copy keeps the two apart, and so does the reason).
		return errorf("key", "record key is empty; the key must be the event's customer_id %q", clip([]byte(ev.CustomerID)))
	case string(key) != ev.CustomerID:
		return errorf("key", "record key %q is not the event's customer_id %q", clip(key), clip([]byte(ev.CustomerID)))
	}
	if d.maxFutureSkew >= 0 && ev.OccurredAt.Sub(readAt) > d.maxFutureSkew {
		return errorf("occurred_at", "occurred_at %s is more than %s (max_future_skew) after the time the record was read, %s",
			ev.OccurredAt.Format(time.RFC3339Nano), d.maxFutureSkew, readAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func (d *Decoder) decode(value []byte) (aggregate.Event, *Error) {
	var ev aggregate.Event
	if value == nil {
		// A null value (a tombstone: a delete, or what compaction keeps of
		// one) is not an empty one, and the DLQ keeps them apart (SPEC §2);
		// the reason says which, so an operator looks for the right bug.
		return ev, errorf("", "null value (a tombstone); the value must be a JSON object")
	}
	if len(value) > d.maxBytes {
		return ev, errorf("", "value of %d bytes exceeds the %d-byte limit", len(value), d.maxBytes)
	}
	var f fields
	if err := d.scanObject(value, &f); err != nil {
		return ev, err
	}

	// type and schema first: they decide which fields are required.
	typ, err := required(&f, fType)
	if err != nil {
		return ev, err
	}
	kind, ok := aggregate.ParseKind(string(typ))
	if !ok {
		return ev, errorf("type", "unknown type %q", clip(typ))
	}
	ev.Kind = kind
	schema, err := required(&f, fSchema)
	if err != nil {
		return ev, err
	}
	if string(schema) != kind.Schema() {
		return ev, errorf("schema", "schema %q does not match type %q (expected %q)", clip(schema), kind, kind.Schema())
	}
	eventID, err := identifier(&f, fEventID)
	if err != nil {
		return ev, err
	}
	customerID, err := identifier(&f, fCustomerID)
	if err != nil {
		return ev, err
	}
	if err := checkHashTag(customerID); err != nil {
		return ev, err
	}
	at, err := required(&f, fOccurredAt)
	if err != nil {
		return ev, err
	}
	var problem timeProblem
	if ev.OccurredAt, problem = parseTime(at); problem != timeOK {
		return ev, errorf("occurred_at", "occurred_at: %q %s", clip(at), problem)
	}

	var orderID, channel, reason []byte
	if kind.IsOrder() {
		if orderID, err = identifier(&f, fOrderID); err != nil {
			return ev, err
		}
		cur, err := required(&f, fCurrency)
		if err != nil {
			return ev, err
		}
		if ev.Amount, err = amount(&f[fAmount]); err != nil {
			return ev, err
		}
		if string(cur) == d.base {
			ev.Currency = d.base
		} else if fx, ok := d.fx[string(cur)]; ok {
			ev.Currency = fx.code
			ev.Amount = ev.Amount.Mul(fx.rate)
		} else {
			return ev, errorf("currency", "currency %q is not the base currency %q", clip(cur), d.base)
		}
		if m := &f[fMargin]; m.kind != kindAbsent && m.kind != kindNull {
			if ev.Margin, err = margin(m); err != nil {
				return ev, err
			}
			ev.HasMargin = true
		}
		// channel is checked on every order, as the schema does, but only
		// an order_placed keeps it (it describes how the order was won).
		if channel, err = optional(&f, fChannel); err != nil {
			return ev, err
		}
		if kind != aggregate.OrderPlaced {
			channel = nil
		}
	} else if reason, err = optional(&f, fReason); err != nil {
		return ev, err
	}

	// One allocation for all strings the event keeps; each is a slice of it.
	var b strings.Builder
	b.Grow(len(eventID) + len(customerID) + len(orderID) + len(channel) + len(reason))
	b.Write(eventID)
	b.Write(customerID)
	b.Write(orderID)
	b.Write(channel)
	b.Write(reason)
	all := b.String()
	cut := func(n int) string {
		s := all[:n]
		all = all[n:]
		return s
	}
	ev.EventID = cut(len(eventID))
	ev.CustomerID = cut(len(customerID))
	ev.OrderID = cut(len(orderID))
	ev.Channel = cut(len(channel))
	ev.Reason = cut(len(reason))
	return ev, nil
}

// scanObject reads the top-level object, storing the values of known fields
// in f and validating (then dropping) unknown ones, which keeps old
// consumers working when producers add fields.
func (d *Decoder) scanObject(value []byte, f *fields) *Error {
	s := scanner{data: value, maxDepth: d.maxDepth}
	switch c := s.next(); {
	case c == '{':
		s.pos++
	case s.pos >= len(value):
		return errorf("", "empty value")
	case strings.HasPrefix(string(value[s.pos:]), "\ufeff"):
		// Editors and some serializers put one in front; say so, rather
		// than "unexpected byte 0xef", which sends a producer's developer
		// looking for a corrupt record.
		return s.syntaxErr("a UTF-8 byte-order mark (U+FEFF) before the object; JSON must not start with one (RFC 8259 §8.1)")
	default:
		// Not an object: say what it is, but only if it is JSON at all.
		what := "a scalar"
		if c == '[' {
			what = "an array"
			if err := s.skipContainer(); err != nil {
				return err
			}
		} else if _, _, err := s.scalar(false); err != nil {
			return err
		}
		if s.next() != 0 || s.pos < len(value) {
			return s.syntaxErr("unexpected data after the JSON value")
		}
		return errorf("", "the value must be a JSON object, not %s", what)
	}
	var seen uint32
	if s.next() == '}' {
		s.pos++
	} else {
		for {
			k, err := s.key()
			if err != nil {
				return err
			}
			if i := fieldIndex(k); i >= 0 {
				if seen&(1<<i) != 0 {
					return duplicateKey(k, fieldNames[i])
				}
				seen |= 1 << i
				if f[i], err = s.value(); err != nil {
					return err
				}
			} else {
				s.addKey(k)
				if _, err := s.value(); err != nil {
					return err
				}
			}
			if c := s.next(); c == ',' {
				s.pos++
				continue
			} else if c == '}' {
				s.pos++
				break
			}
			return s.unexpected("',' or '}' after an object member")
		}
	}
	if s.next() != 0 || s.pos < len(value) {
		return s.syntaxErr("unexpected data after the JSON object")
	}
	// Known keys were checked with the bitmask; unknown keys here.
	return s.checkDuplicates(0)
}

// required returns the content of a required string field.
func required(f *fields, i int) ([]byte, *Error) {
	v := &f[i]
	name := fieldNames[i]
	switch {
	case v.kind == kindAbsent || v.kind == kindNull:
		return nil, errorf(name, "missing required field %q", name)
	case v.kind != kindString:
		return nil, errorf(name, "field %q must be a string, not %s", name, v.kind)
	case len(v.val) == 0:
		return nil, errorf(name, "empty required field %q", name)
	case onlySpace(v.val):
		return nil, errorf(name, "empty required field %q (only white space)", name)
	}
	return v.val, nil
}

// onlySpace reports whether b (valid UTF-8) is made of white space alone
// (unicode.IsSpace: ASCII blanks, NEL, NBSP and the Unicode space
// separators). Such an id looks empty in every log and dashboard, so SPEC
// §2 counts it as empty.
func onlySpace(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if !unicode.IsSpace(r) {
			return false
		}
		b = b[n:]
	}
	return true
}

// identifier returns a required id: bounded, and free of control
// characters, which would corrupt keys, logs and headers.
func identifier(f *fields, i int) ([]byte, *Error) {
	v, err := required(f, i)
	if err != nil {
		return nil, err
	}
	return v, checkIDText(fieldNames[i], v)
}

// checkIDText checks a non-empty id's length and characters. Control
// characters are Unicode's (category Cc, unicode.IsControl): C0, DEL and
// C1 (U+0080–U+009F, in UTF-8 0xC2 0x80–0x9F). C1 ones are what text
// decoded as Latin-1 instead of Windows-1252 or UTF-8 is left with, and
// some terminals act on them (U+009B starts an escape sequence), so an id
// holding one is refused like one holding a C0 character.
func checkIDText(name string, v []byte) *Error {
	if len(v) > MaxIDBytes {
		return errorf(name, "field %q is longer than %d bytes", name, MaxIDBytes)
	}
	for i, c := range v {
		if c < 0x20 || c == 0x7f || (c == 0xc2 && i+1 < len(v) && v[i+1] <= 0x9f) {
			return errorf(name, "field %q contains a control character", name)
		}
	}
	return nil
}

// checkHashTag refuses a customer id that would break the Redis Cluster
// hash tag: ltv:{}…} would have an empty tag, and the customer's keys
// would hash to different slots.
func checkHashTag(id []byte) *Error {
	if id[0] == '}' {
		return errorf("customer_id", "customer_id must not start with '}' (it would break the Redis Cluster hash tag of ltv:{<customer_id>})")
	}
	return nil
}

// CheckCustomerID applies the rules a customer_id of an input event obeys
// (SPEC §2) to an id from elsewhere, such as a read-API request, so an id
// the consumer could never have stored is refused with the same reason.
func CheckCustomerID(id string) error {
	v := []byte(id)
	switch {
	case len(v) == 0:
		return errorf("customer_id", "empty customer_id")
	case !utf8.Valid(v):
		return errorf("customer_id", "customer_id is not valid UTF-8")
	case onlySpace(v):
		return errorf("customer_id", "empty customer_id (only white space)")
	}
	if err := checkIDText("customer_id", v); err != nil {
		return err
	}
	if err := checkHashTag(v); err != nil {
		return err
	}
	return nil
}

// optional returns an optional string field ("" when absent or null).
func optional(f *fields, i int) ([]byte, *Error) {
	v := &f[i]
	name := fieldNames[i]
	switch v.kind {
	case kindAbsent, kindNull:
		return nil, nil
	case kindString:
	default:
		return nil, errorf(name, "field %q must be a string, not %s", name, v.kind)
	}
	if len(v.val) > MaxIDBytes {
		return nil, errorf(name, "field %q is longer than %d bytes", name, MaxIDBytes)
	}
	return v.val, nil
}

// numberText returns the text of a money field given as a decimal string or
// a JSON number, checking the string form.
func numberText(v *rawValue, name string) ([]byte, *Error) {
	switch v.kind {
	case kindAbsent, kindNull:
		return nil, errorf(name, "missing required field %q", name)
	case kindNumber:
		return v.val, nil
	case kindString:
		if len(v.val) == 0 {
			return nil, errorf(name, "empty required field %q", name)
		}
		if !plainDecimal(v.val) {
			return nil, errorf(name, "%s: %q is not a decimal number", name, clip(v.val))
		}
		return v.val, nil
	}
	return nil, errorf(name, "%s: must be a decimal string or a number, not %s", name, v.kind)
}

// exactNumber parses an exact decimal field (a JSON number or a decimal
// string) whose range and precision check rejects it with an error, or
// returns nil to accept it.
func exactNumber(v *rawValue, name string, check func(t []byte, p numParts) *Error) (money.Exact, *Error) {
	t, err := numberText(v, name)
	if err != nil {
		return money.Exact{}, err
	}
	p := splitNumber(t)
	if err := check(t, p); err != nil {
		return money.Exact{}, err
	}
	return toExact(t, &p), nil
}

// amount parses the order amount: exact, not negative, below 1e30, at most
// 20 significant decimal places.
func amount(v *rawValue) (money.Exact, *Error) {
	return exactNumber(v, "amount", func(t []byte, p numParts) *Error {
		switch {
		case p.neg && !p.zero:
			// "-0" is zero, not a refund in disguise: it is accepted as 0.
			return errorf("amount", "amount: negative value %q", clip(t))
		case p.tooBig(maxAmountIntDigits):
			return errorf("amount", "amount: %s is out of range (must be below 1e30)", clip(t))
		case p.tooPrecise(maxAmountFracDigits):
			return errorf("amount", "amount: %s has more than %d decimal places", clip(t), maxAmountFracDigits)
		}
		return nil
	})
}

// margin parses gross_margin: exact, in [0,1], at most 20 significant
// decimal places.
func margin(v *rawValue) (money.Exact, *Error) {
	return exactNumber(v, "gross_margin", func(t []byte, p numParts) *Error {
		switch {
		case (p.neg && !p.zero) || p.aboveOne():
			return errorf("gross_margin", "gross_margin: %s is outside [0,1]", clip(t))
		case p.tooPrecise(maxMarginFracDigits):
			return errorf("gross_margin", "gross_margin: %s has more than %d decimal places", clip(t), maxMarginFracDigits)
		}
		return nil
	})
}

// clip keeps input echoed in a reason short; callers quote it (%q) unless
// it is known to be plain ASCII number text.
func clip(b []byte) string {
	const limit = 64
	if len(b) <= limit {
		return string(b)
	}
	return string(b[:limit]) + "…"
}

// occurredAtKey is what EventTime looks for.
var occurredAtKey = []byte(`"occurred_at"`)

// EventTime reads a record's occurred_at without decoding the rest: the
// top-level "occurred_at" member's string value, if it is an RFC 3339
// time. It is a hint for ordering records (the consumer merges its input
// topics by it), never for state: a malformed or hostile value can only
// move its own record in that order, and the same bytes always give the
// same answer. Decode is what validates.
//
// The usual record is answered from a byte search: its first
// "occurred_at" followed by a colon, with no object or array opened
// before it. Anything else (the name nested in an unknown field first, a
// string value that reads "occurred_at", an escaped name) is scanned as
// Decode scans, so the hint is the time Decode will read.
func EventTime(value []byte) (time.Time, bool) {
	at, ok := topLevelOccurredAt(value)
	if !ok {
		if bytes.IndexByte(value, '\\') < 0 && !bytes.Contains(value, occurredAtKey) {
			return time.Time{}, false // no such member, escaped or not
		}
		var f fields
		if eventTimeScanner.scanObject(value, &f) != nil || f[fOccurredAt].kind != kindString {
			return time.Time{}, false
		}
		at = f[fOccurredAt].val
	}
	t, problem := parseTime(at)
	return t, problem == timeOK
}

// eventTimeScanner scans for EventTime's uncommon records, with the
// decoder's default bounds.
var eventTimeScanner = Decoder{maxBytes: DefaultMaxBytes, maxDepth: DefaultMaxDepth}

// topLevelOccurredAt finds the raw string value of the first
// "occurred_at" key when nothing before it can have nested it: the value
// opens with '{' and no '{' or '[' follows until the key. A false answer
// says only that the search cannot tell.
func topLevelOccurredAt(value []byte) ([]byte, bool) {
	i := bytes.Index(value, occurredAtKey)
	if i < 0 {
		return nil, false
	}
	open := bytes.IndexByte(value, '{')
	before := value[open+1 : max(i, open+1)]
	// An escape before the match can make it part of another string (a
	// key named `a"occurred_at` reads `"a\"occurred_at":`), so the search
	// cannot tell: without one, a quote before the match always ends or
	// begins a string, and the match is a key or a string value.
	if open < 0 || open > i || bytes.IndexByte(before, '{') >= 0 || bytes.IndexByte(before, '[') >= 0 ||
		bytes.IndexByte(before, '\\') >= 0 || len(bytes.TrimLeft(value[:open], " \t\r\n")) > 0 {
		return nil, false
	}
	rest := bytes.TrimLeft(value[i+len(occurredAtKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	rest = rest[1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, false // unterminated, or escaped: left to the scanner
	}
	return rest[:end], true
}
