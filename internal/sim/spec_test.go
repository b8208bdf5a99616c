package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is an independent, strict reading of SPEC §2 for the tests:
// checkEvent accepts exactly what a conforming consumer must count and
// rejects everything SPEC §2 says goes to the DLQ. It shares no code with
// the generator.

const (
	specMaxBytes = 1 << 20 // the consumer's default limit
	specMaxDepth = 16      // the consumer's default nesting limit
)

var (
	rfc3339Re  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	decimalRe  = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
	numberRe   = regexp.MustCompile(`^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$`)
	uuidRe     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidAnyRe  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
	twoPlaceRe = regexp.MustCompile(`^\d+\.\d{2}$`)
)

// specEvent is a parsed valid event.
type specEvent struct {
	Schema, EventID, Type, CustomerID, OrderID, Currency, Channel, Reason string
	Amount                                                                *big.Rat
	AmountText                                                            string // as written, without quotes
	AmountIsNumber                                                        bool
	Margin                                                                *big.Rat // nil when absent
	MarginText                                                            string
	OccurredAt                                                            time.Time
}

// checkEvent validates value (with its Kafka key) against SPEC §2.
func checkEvent(key, value []byte, baseCurrency string) (*specEvent, error) {
	if len(value) > specMaxBytes {
		return nil, fmt.Errorf("oversized: %d bytes", len(value))
	}
	if !utf8.Valid(value) {
		return nil, errors.New("invalid UTF-8")
	}
	if err := checkStrictJSON(value); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	str := func(name string, required bool) (string, error) {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			if required {
				return "", fmt.Errorf("missing %q", name)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%q is not a string", name)
		}
		if required && strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("empty %q", name)
		}
		return s, nil
	}
	ev := &specEvent{}
	var err error
	if ev.Type, err = str("type", true); err != nil {
		return nil, err
	}
	if ev.Schema, err = str("schema", true); err != nil {
		return nil, err
	}
	var wantSchema string
	isOrder := false
	switch ev.Type {
	case "order_placed", "order_refunded":
		wantSchema, isOrder = "ltv.order.v1", true
	case "customer_churned", "customer_reactivated":
		wantSchema = "ltv.lifecycle.v1"
	default:
		return nil, fmt.Errorf("unknown type %q", ev.Type)
	}
	if ev.Schema != wantSchema {
		return nil, fmt.Errorf("schema %q for type %q", ev.Schema, ev.Type)
	}
	if ev.EventID, err = str("event_id", true); err != nil {
		return nil, err
	}
	if ev.CustomerID, err = str("customer_id", true); err != nil {
		return nil, err
	}
	if ev.CustomerID != string(key) {
		return nil, fmt.Errorf("customer_id %q is not the key %q", ev.CustomerID, key)
	}
	at, err := str("occurred_at", true)
	if err != nil {
		return nil, err
	}
	if !rfc3339Re.MatchString(at) {
		return nil, fmt.Errorf("occurred_at %q is not RFC 3339", at)
	}
	if ev.OccurredAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return nil, fmt.Errorf("occurred_at %q: %w", at, err)
	}
	if !isOrder {
		if ev.Reason, err = str("reason", false); err != nil {
			return nil, err
		}
		return ev, nil
	}
	if ev.OrderID, err = str("order_id", true); err != nil {
		return nil, err
	}
	if ev.Currency, err = str("currency", true); err != nil {
		return nil, err
	}
	if ev.Currency != baseCurrency {
		return nil, fmt.Errorf("currency %q", ev.Currency)
	}
	if ev.Channel, err = str("channel", false); err != nil {
		return nil, err
	}
	raw, ok := m["amount"]
	if !ok || string(raw) == "null" {
		return nil, errors.New(`missing "amount"`)
	}
	if ev.Amount, ev.AmountText, ev.AmountIsNumber, err = specDecimal(raw); err != nil {
		return nil, fmt.Errorf("amount: %w", err)
	}
	if ev.Amount.Sign() < 0 {
		return nil, fmt.Errorf("negative amount %s", ev.AmountText)
	}
	if raw, ok := m["gross_margin"]; ok && string(raw) != "null" {
		if ev.Margin, ev.MarginText, _, err = specDecimal(raw); err != nil {
			return nil, fmt.Errorf("gross_margin: %w", err)
		}
		if ev.Margin.Sign() < 0 || ev.Margin.Cmp(big.NewRat(1, 1)) > 0 {
			return nil, fmt.Errorf("gross_margin %s outside [0,1]", ev.MarginText)
		}
	}
	return ev, nil
}

// specDecimal parses a decimal string or JSON number exactly and bounds it
// to 15 integer digits (the consumer's limit; 1e400 is far outside).
func specDecimal(raw json.RawMessage) (*big.Rat, string, bool, error) {
	text := string(raw)
	isNumber := true
	if strings.HasPrefix(text, `"`) {
		isNumber = false
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, "", false, err
		}
		if text == "" {
			return nil, "", false, errors.New("empty")
		}
		if !decimalRe.MatchString(text) {
			return nil, text, false, fmt.Errorf("%q is not a decimal", text)
		}
	} else if !numberRe.MatchString(text) {
		return nil, text, true, fmt.Errorf("%s is not a number", text)
	}
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		var exp int
		if _, err := fmt.Sscan(text[i+1:], &exp); err != nil || exp > 15 || exp < -15 {
			return nil, text, isNumber, fmt.Errorf("%s is out of range", text)
		}
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, text, isNumber, fmt.Errorf("%s is not a number", text)
	}
	if new(big.Rat).Abs(r).Cmp(new(big.Rat).SetFloat64(1e15)) >= 0 {
		return nil, text, isNumber, fmt.Errorf("%s is out of range", text)
	}
	return r, text, isNumber, nil
}

// checkStrictJSON rejects invalid JSON, a top level that is not an
// object, duplicate keys at any level and nesting deeper than
// specMaxDepth.
func checkStrictJSON(value []byte) error {
	if !json.Valid(value) {
		return errors.New("malformed JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("top level is not an object")
			}
			first = false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.expect
		if isKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expect = true
				}
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return fmt.Errorf("duplicate key %q", k)
			}
			top.keys[k] = true
			top.expect = false
			continue
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{', '[':
				stack = append(stack, &frame{object: d == '{', keys: map[string]bool{}, expect: d == '{'})
				if len(stack) > specMaxDepth {
					return fmt.Errorf("nested deeper than %d", specMaxDepth)
				}
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}
