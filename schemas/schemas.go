// Package schemas holds the JSON Schemas (draft 2020-12) of the public
// events of SPEC §2 and §5 and validates documents against them. The
// schema files are the published contract for producers and subscribers;
// embedding them lets tests prove that what the service accepts and emits
// is what the files promise, so the two cannot drift apart unnoticed.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Files holds the schema files themselves, for tools that publish them (a
// schema registry, docs).
//
//go:embed order.v1.json lifecycle.v1.json change.v1.json segment.v1.json
var Files embed.FS

// fileOf maps a `schema` value to its file.
var fileOf = map[string]string{
	"ltv.order.v1":     "order.v1.json",
	"ltv.lifecycle.v1": "lifecycle.v1.json",
	"ltv.change.v1":    "change.v1.json",
	"ltv.segment.v1":   "segment.v1.json",
}

// base is the URL prefix of the schemas' $id values.
const base = "https://github.com/ltv-stream/ltv-stream/schemas/"

var compiled = sync.OnceValues(compileAll)

// compileAll compiles every schema once, with format assertions on so that
// "date-time" is checked rather than treated as an annotation.
func compileAll() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, file := range fileOf {
		raw, err := Files.ReadFile(file)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("schema file %s: %w", file, err)
		}
		if err := c.AddResource(base+file, doc); err != nil {
			return nil, fmt.Errorf("schema file %s: %w", file, err)
		}
	}
	out := make(map[string]*jsonschema.Schema, len(fileOf))
	for name, file := range fileOf {
		s, err := c.Compile(base + file)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", file, err)
		}
		out[name] = s
	}
	return out, nil
}

// Validate checks one event document against the schema named by its
// "schema" field ("ltv.order.v1", "ltv.lifecycle.v1", "ltv.change.v1").
// A document that is not a JSON object, or names no known schema, is an
// error. Safe for concurrent use; the schemas are compiled on first use.
func Validate(doc []byte) (err error) {
	all, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errors.New("the document is not a JSON object")
	}
	name, ok := obj["schema"].(string)
	if !ok {
		return errors.New(`the document has no string "schema" field`)
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("unknown schema %q", name)
	}
	tameNumbers(v)
	// The validator is a library; a bug in it must not crash a caller that
	// validates untrusted documents.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: validator failed: %v", name, r)
		}
	}()
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// tameNumbers replaces, in place, numbers whose exponent is beyond ±10000
// by ±1e400 or ±1e-400. The validator compares numbers as big.Rat, which
// refuses exponents beyond about a million (and the validator then
// crashes) and is slow long before that. The substitutes keep every verdict
// the schemas can reach: their constants are far smaller than 1e400 and
// far larger than 1e-400, and integer-ness is kept (1e400 is an integer,
// 1e-400 is not). The walk is iterative, so deep documents cannot exhaust
// the stack.
func tameNumbers(v any) {
	stack := []any{v}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch x := top.(type) {
		case map[string]any:
			for k, e := range x {
				if n, ok := e.(json.Number); ok {
					x[k] = tame(n)
				} else {
					stack = append(stack, e)
				}
			}
		case []any:
			for i, e := range x {
				if n, ok := e.(json.Number); ok {
					x[i] = tame(n)
				} else {
					stack = append(stack, e)
				}
			}
		}
	}
}

// tame returns n, or a substitute of the same sign and side of 1 when its
// exponent is extreme (see tameNumbers).
func tame(n json.Number) json.Number {
	s := string(n)
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return n
	}
	mant, exp := s[:i], s[i+1:]
	if strings.Trim(mant, "-0.") == "" {
		return "0"
	}
	if e, err := strconv.ParseInt(exp, 10, 64); err == nil && e >= -10000 && e <= 10000 {
		return n
	}
	sign := ""
	if mant[0] == '-' {
		sign = "-"
	}
	if strings.HasPrefix(exp, "-") {
		return json.Number(sign + "1e-400")
	}
	return json.Number(sign + "1e400")
}

// Change is an ltv.change.v1 or ltv.segment.v1 event as a Go subscriber
// reads it (the demo's printer, the read API's recent changes, the
// tests): every property of both schemas, with money and times kept as the
// strings the events carry. The properties of the other schema stay empty;
// Schema says which one it is.
type Change struct {
	Schema     string `json:"schema"`      // "ltv.change.v1" or "ltv.segment.v1": which properties below apply
	EventID    string `json:"event_id"`    // derived from (customer_id, caused_by): a re-emission repeats it, so subscribers drop copies by it
	CustomerID string `json:"customer_id"` // also the record key
	CausedBy   string `json:"caused_by"`   // event_id of the causing input event, or "timer:<due time>" (SPEC §8)
	OccurredAt string `json:"occurred_at"` // RFC 3339 UTC event time of the cause (input occurred_at or due time)
	EmittedAt  string `json:"emitted_at"`  // RFC 3339 UTC wall-clock time of the first emission

	// Both schemas.
	Tier   string `json:"tier"`
	LTV    string `json:"ltv"`    // decimal string, 2 places, never negative (SPEC §4)
	Orders int64  `json:"orders"` // count of distinct order_placed events

	// ltv.change.v1.
	PreviousTier string `json:"previous_tier"`
	Direction    string `json:"direction"`    // "up" (promotion or first assignment) or "down"
	PreviousLTV  string `json:"previous_ltv"` // decimal string, 2 places: LTV before the change
	AOV          string `json:"aov"`          // decimal string, 2 places; negative only when refunds exceed orders
	Frequency    string `json:"frequency"`    // orders per year, decimal string, 4 places (SPEC §4)
	Churned      bool   `json:"churned"`      // SPEC §4 churned flag at the change

	// ltv.segment.v1.
	PreviousSegment string `json:"previous_segment"`
	Segment         string `json:"segment"`       // new, active, at_risk, lapsed, churned; "" only for a reactivated customer without orders (SPEC §8)
	LastOrderAt     string `json:"last_order_at"` // RFC 3339 UTC; empty while the customer has no orders
}
