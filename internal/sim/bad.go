package sim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The kinds of bad record, covering SPEC §2's rejection list but for a
// missing (null) key or value, which the JSON Lines format cannot hold,
// and an occurred_at beyond max_future_skew, which a consumer with the
// check off would apply (moving stream time years ahead). A bad
// record's BadReason is "<kind>: <detail>", e.g.
// `missing_field: "amount"`. Each bad record has exactly one defect, a
// fresh event_id (when it has one) and an order_id of the form
// o-bad-NNNNNNN that no valid event uses, so nothing in it can be
// mistaken for a valid event by a consumer that follows SPEC §2.
const (
	BadMalformedJSON    = "malformed_json"      // truncated, trailing comma, single quotes, not an object
	BadMissingField     = "missing_field"       // a required field absent or null
	BadEmptyField       = "empty_field"         // a required field ""
	BadUnknownType      = "unknown_type"        // type not in SPEC §2
	BadNegativeAmount   = "negative_amount"     // amount < 0
	BadNonNumericAmount = "non_numeric_amount"  // amount "12,50", "NaN", true …
	BadMarginRange      = "margin_out_of_range" // gross_margin outside [0, 1]
	BadWrongCurrency    = "wrong_currency"      // not the base currency
	BadInvalidUTF8      = "invalid_utf8"        // invalid bytes inside a string
	BadTimestamp        = "bad_timestamp"       // occurred_at not RFC 3339
	BadDuplicateKey     = "duplicate_key"       // the same JSON key twice with different values
	BadDeepNesting      = "deep_nesting"        // an extra field nested 64–1024 levels deep
	BadHugeNumber       = "huge_number"         // amount 1e400 and the like
	BadKeyMismatch      = "key_mismatch"        // the record key is another customer's id
	BadBlankID          = "blank_id"            // an id of only white space
	BadOversized        = "oversized"           // a value of Config.OversizeBytes (OversizeRate)
)

// badKinds are the kinds BadRate draws from, uniformly.
var badKinds = []string{
	BadMalformedJSON, BadMissingField, BadEmptyField, BadUnknownType, BadNegativeAmount,
	BadNonNumericAmount, BadMarginRange, BadWrongCurrency, BadInvalidUTF8, BadTimestamp,
	BadDuplicateKey, BadDeepNesting, BadHugeNumber, BadKeyMismatch, BadBlankID,
}

// lifecycleOK are the kinds that also apply to lifecycle events.
var lifecycleOK = map[string]bool{
	BadMalformedJSON: true, BadMissingField: true, BadEmptyField: true, BadUnknownType: true,
	BadInvalidUTF8: true, BadTimestamp: true, BadDuplicateKey: true, BadDeepNesting: true,
	BadKeyMismatch: true, BadBlankID: true,
}

// BadKinds lists the kinds of bad record BadRate produces (BadOversized
// comes from OversizeRate instead).
func BadKinds() []string { return append([]string(nil), badKinds...) }

// BadKindOf returns the kind of a BadReason ("" if it has none).
func BadKindOf(reason string) string {
	kind, _, _ := strings.Cut(reason, ":")
	return kind
}

// field is one JSON member; v is raw JSON text (quoted if a string).
type field struct {
	k string
	v []byte
}

type badEvent struct {
	topic  Topic
	key    []byte
	fields []field
}

func quoted(s string) []byte { return []byte(strconv.Quote(s)) }

func (e *badEvent) index(k string) int {
	for i, f := range e.fields {
		if f.k == k {
			return i
		}
	}
	return -1
}

func (e *badEvent) set(k string, v []byte) {
	if i := e.index(k); i >= 0 {
		e.fields[i].v = v
		return
	}
	e.fields = append(e.fields, field{k, v})
}

func (e *badEvent) remove(k string) {
	if i := e.index(k); i >= 0 {
		e.fields = append(e.fields[:i], e.fields[i+1:]...)
	}
}

func (e *badEvent) marshal() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range e.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(f.k))
		b.WriteByte(':')
		b.Write(f.v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (g *Generator) pick(options ...string) string { return options[g.fr.IntN(len(options))] }

// base builds a well-formed event for a bad record to spoil: a customer
// seen recently (or a random one), a fresh event id, an order id no valid
// event uses, and the current stream time.
func (g *Generator) base(lifecycle bool) *badEvent {
	var key []byte
	if len(g.recent) > 0 {
		key = append([]byte(nil), g.recent[g.fr.IntN(len(g.recent))].Key...)
	} else {
		key = appendCustomerID(nil, int32(g.fr.IntN(g.cfg.Customers)))
	}
	id := appendUUID([]byte{'"'}, g.fr)
	id = append(id, '"')
	at := append(appendTime([]byte{'"'}, g.clock), '"')
	e := &badEvent{key: key}
	if lifecycle {
		e.topic = TopicLifecycle
		e.fields = []field{
			{"schema", quoted("ltv.lifecycle.v1")}, {"event_id", id}, {"type", quoted("customer_churned")},
			{"customer_id", quoted(string(key))}, {"occurred_at", at}, {"reason", quoted("inactivity")},
		}
		return e
	}
	g.badSeq++
	e.topic = TopicOrders
	cents := int64(1000 + g.fr.IntN(99000))
	e.fields = []field{
		{"schema", quoted("ltv.order.v1")}, {"event_id", id}, {"type", quoted("order_placed")},
		{"customer_id", quoted(string(key))}, {"order_id", quoted(fmt.Sprintf("o-bad-%07d", g.badSeq))},
		{"amount", appendDecimal(nil, cents, false)}, {"currency", quoted(g.cfg.BaseCurrency)},
		{"gross_margin", quoted("0.40")}, {"occurred_at", at}, {"channel", quoted("organic")},
	}
	return e
}

func (g *Generator) badRecord(e *badEvent, value []byte, reason string) Record {
	return Record{
		Topic: e.topic, Key: e.key, Value: value, OccurredAt: time.Unix(g.clock, 0).UTC(),
		Label: LabelBad, BadReason: reason,
	}
}

// bad returns a record with exactly one SPEC §2 defect.
func (g *Generator) bad() Record {
	kind := badKinds[g.fr.IntN(len(badKinds))]
	e := g.base(lifecycleOK[kind] && g.fr.IntN(4) == 0)
	isOrder := e.topic == TopicOrders
	var detail string
	switch kind {
	case BadMalformedJSON:
		v := e.marshal()
		switch g.fr.IntN(4) {
		case 0:
			cut := 1 + g.fr.IntN(len(v)-2)
			return g.badRecord(e, v[:cut], fmt.Sprintf("%s: truncated at byte %d", kind, cut))
		case 1:
			v = append(v[:len(v)-1], ",}"...)
			return g.badRecord(e, v, kind+": trailing comma")
		case 2:
			v = bytes.Replace(v, []byte(`"schema"`), []byte(`'schema'`), 1)
			return g.badRecord(e, v, kind+": single-quoted key")
		default:
			var b bytes.Buffer
			b.WriteByte('[')
			for i, f := range e.fields {
				if i > 0 {
					b.WriteByte(',')
				}
				b.Write(f.v)
			}
			b.WriteByte(']')
			return g.badRecord(e, b.Bytes(), kind+": an array, not an object")
		}
	case BadMissingField:
		names := []string{"schema", "event_id", "type", "customer_id", "occurred_at"}
		if isOrder {
			names = append(names, "order_id", "amount", "currency")
		}
		name := g.pick(names...)
		if g.fr.IntN(4) == 0 {
			e.set(name, []byte("null"))
			detail = strconv.Quote(name) + " is null"
		} else {
			e.remove(name)
			detail = strconv.Quote(name)
		}
	case BadEmptyField:
		names := []string{"schema", "event_id", "type", "customer_id", "occurred_at"}
		if isOrder {
			names = append(names, "order_id", "amount", "currency")
		}
		name := g.pick(names...)
		e.set(name, []byte(`""`))
		detail = strconv.Quote(name)
	case BadUnknownType:
		t := g.pick("order_shipped", "ORDER_PLACED", "order placed", "refund")
		if !isOrder {
			t = g.pick("customer_paused", "customer_deleted", "Customer_Churned")
		}
		e.set("type", quoted(t))
		detail = strconv.Quote(t)
	case BadNegativeAmount:
		v := appendDecimal(nil, -int64(1+g.fr.IntN(50000)), g.fr.IntN(3) == 0)
		e.set("amount", v)
		detail = string(v)
	case BadNonNumericAmount:
		v := g.pick(`"12,50"`, `"twelve"`, `"NaN"`, `"Infinity"`, `"$499.00"`, `"1.2.3"`, `"0x1F4"`, `true`, `{"value":"12.50"}`)
		e.set("amount", []byte(v))
		detail = v
	case BadMarginRange:
		v := g.pick(`"1.25"`, `"-0.10"`, `"40"`, `"1.0001"`, `1.5`, `-0.2`)
		e.set("gross_margin", []byte(v))
		detail = v
	case BadWrongCurrency:
		others := []string{strings.ToLower(g.cfg.BaseCurrency)}
		for _, c := range []string{"USD", "EUR", "NOK", "DKK", "GBP"} {
			if c != g.cfg.BaseCurrency {
				others = append(others, c)
			}
		}
		c := g.pick(others...)
		e.set("currency", quoted(c))
		detail = strconv.Quote(c)
	case BadInvalidUTF8:
		name := "reason"
		if isOrder {
			name = g.pick("channel", "order_id")
		}
		i := e.index(name)
		seq := g.pick("\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "\x80", "\xfe\xfe")
		v := append([]byte(nil), e.fields[i].v[:len(e.fields[i].v)-1]...)
		v = append(append(v, seq...), '"')
		e.fields[i].v = v
		detail = fmt.Sprintf("bytes % x in %q", seq, name)
	case BadTimestamp:
		t := time.Unix(g.clock, 0).UTC()
		v := g.pick(
			strconv.Quote(t.Format("2006-01-02 15:04:05")),
			strconv.Quote(t.Format("2006-01-02T15:04:05")),
			strconv.Quote(t.Format("02/01/2006 15:04")),
			strconv.Quote(t.Format("2006-01-02")),
			strconv.Quote(t.Format("2006-01-02T15:04:05-0700")),
			strconv.Quote(t.Format("Mon, 02 Jan 2006 15:04:05 MST")),
			strconv.Quote(strconv.FormatInt(g.clock, 10)),
			strconv.FormatInt(g.clock, 10),
			strconv.Quote(fmt.Sprintf("%d-13-01T00:00:00Z", t.Year())),
		)
		e.set("occurred_at", []byte(v))
		detail = v
	case BadDuplicateKey:
		var name string
		var v []byte
		if isOrder {
			switch g.fr.IntN(3) {
			case 0:
				name, v = "amount", appendDecimal(nil, int64(1+g.fr.IntN(1000))*1000+1, false)
			case 1:
				// an id outside the population, so the two values differ
				name, v = "customer_id", quoted(string(appendCustomerID(nil, int32(g.cfg.Customers+g.fr.IntN(1000)))))
			default:
				name, v = "type", quoted("order_refunded")
			}
		} else {
			name, v = "type", quoted("customer_reactivated")
		}
		e.fields = append(e.fields, field{name, v})
		detail = strconv.Quote(name)
	case BadDeepNesting:
		depth := 64 + g.fr.IntN(961)
		v := make([]byte, 0, depth*6+1)
		for range depth {
			v = append(v, `{"a":`...)
		}
		v = append(v, '1')
		for range depth {
			v = append(v, '}')
		}
		e.set("meta", v)
		detail = fmt.Sprintf("%d levels", depth+1)
	case BadHugeNumber:
		v := g.pick("1e400", "1E400", "1.5e+400", "9e999")
		e.set("amount", []byte(v))
		detail = "amount " + v
	case BadKeyMismatch:
		// an id outside the population, so it is nobody's real key
		other := appendCustomerID(nil, int32(g.cfg.Customers+g.fr.IntN(1000)))
		detail = fmt.Sprintf("key %q for customer_id %q", other, e.key)
		e.key = other
	case BadBlankID:
		names := []string{"event_id", "customer_id"}
		if isOrder {
			names = append(names, "order_id")
		}
		name := g.pick(names...)
		v := g.pick(`" "`, `"   "`, `"\u2003"`, `"\u00a0\u00a0"`)
		e.set(name, []byte(v))
		detail = fmt.Sprintf("%q is %s", name, v)
	}
	return g.badRecord(e, e.marshal(), kind+": "+detail)
}

// oversize returns an otherwise well-formed order event padded with an
// extra string field to exactly Config.OversizeBytes.
func (g *Generator) oversize() Record {
	e := g.base(false)
	e.set("padding", []byte(`""`))
	v := e.marshal()
	pad := g.cfg.OversizeBytes - len(v)
	out := make([]byte, 0, g.cfg.OversizeBytes)
	out = append(out, v[:len(v)-2]...) // up to the padding's closing quote and '}'
	for range pad {
		out = append(out, 'x')
	}
	out = append(out, `"}`...)
	return g.badRecord(e, out, fmt.Sprintf("%s: %d bytes", BadOversized, len(out)))
}
