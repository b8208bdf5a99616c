package aggregate

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

// Change is a change of a customer's stored tier, the payload of an
// `ltv.change.v1` event (SPEC §5).
type Change struct {
	CustomerID   string      // also the key of the published record
	PreviousTier string      // "" on the first assignment
	Tier         string      // new tier; "" when LTV falls below a ladder that starts above 0
	Up           bool        // promotion or first assignment; rendered as direction (Direction)
	LTV          money.Exact // LTV after the change, rendered with 2 places
	PreviousLTV  money.Exact // stored LTV before the change, 2 places
	AOV          money.Exact // at the change, 2 places; negative only when refunds exceed orders
	Frequency    money.Exact // orders per year, 4 places
	Orders       int64       // distinct order_placed events so far
	Churned      bool        // SPEC §4 churn flag at the change
	// CausedBy is the event_id of the input event that caused the change;
	// empty for a change a timer made (ByTimer, predictive model).
	CausedBy string
	// ByTimer says a timer made the change: its caused_by is
	// "timer:<due time>" (Cause), rendered only when the event is.
	ByTimer bool
	// OccurredAt is the cause's event time: the input event's occurred_at,
	// or the due time.
	OccurredAt time.Time
}

// Cause is the change's caused_by (SPEC §5).
func (c *Change) Cause() string { return causeText(c.CausedBy, c.ByTimer, c.OccurredAt) }

// Direction is "up" for a promotion (and the first assignment), "down" for
// a demotion.
func (c *Change) Direction() string {
	if c.Up {
		return "up"
	}
	return "down"
}

// EventID derives the change's id from its cause: one input event changes
// a customer's tier at most once, so (customer, cause) names the change.
// A re-emission after a crash therefore carries the same id and
// subscribers can drop the copy. The id is UUID-shaped (version 8, the
// RFC 9562 "custom" version) for the convenience of subscribers that
// store ids in UUID columns.
func (c *Change) EventID() string {
	var out [36]byte
	return string(c.appendEventID(out[:0]))
}

// appendEventID appends the 36-character id to dst without allocating
// (see appendCauseID).
func (c *Change) appendEventID(dst []byte) []byte {
	return appendCauseID(dst, SchemaChange, c.CustomerID, c.CausedBy, c.ByTimer, c.OccurredAt)
}

// appendUUID appends the first 16 bytes of sum as a UUID of version 8 (the
// RFC 9562 "custom" version), for subscribers that keep ids in UUID
// columns.
func appendUUID(dst []byte, sum *[sha256.Size]byte) []byte {
	sum[6] = (sum[6] & 0x0f) | 0x80 // version 8
	sum[8] = (sum[8] & 0x3f) | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], sum[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], sum[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], sum[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], sum[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], sum[10:16])
	return append(dst, out[:]...)
}

// AppendJSON appends the `ltv.change.v1` JSON document to dst. emittedAt is
// passed in (the domain has no clock); the caller stores the encoded bytes
// so that a re-emission is byte-identical.
func (c *Change) AppendJSON(dst []byte, emittedAt time.Time) []byte {
	dst = append(dst, `{"schema":"`...)
	dst = append(dst, SchemaChange...)
	dst = append(dst, `","event_id":`...)
	dst = append(dst, '"')
	dst = c.appendEventID(dst)
	dst = append(dst, '"')
	dst = append(dst, `,"customer_id":`...)
	dst = AppendJSONString(dst, c.CustomerID)
	dst = append(dst, `,"previous_tier":`...)
	dst = AppendJSONString(dst, c.PreviousTier)
	dst = append(dst, `,"tier":`...)
	dst = AppendJSONString(dst, c.Tier)
	dst = append(dst, `,"direction":"`...)
	dst = append(dst, c.Direction()...)
	dst = append(dst, `","ltv":"`...)
	dst = c.LTV.AppendFixed(dst, 2)
	dst = append(dst, `","previous_ltv":"`...)
	dst = c.PreviousLTV.AppendFixed(dst, 2)
	dst = append(dst, `","aov":"`...)
	dst = c.AOV.AppendFixed(dst, 2)
	dst = append(dst, `","frequency":"`...)
	dst = c.Frequency.AppendFixed(dst, 4)
	dst = append(dst, `","orders":`...)
	dst = strconv.AppendInt(dst, c.Orders, 10)
	dst = append(dst, `,"churned":`...)
	dst = strconv.AppendBool(dst, c.Churned)
	return appendEventTail(dst, c.CausedBy, c.ByTimer, c.OccurredAt, emittedAt)
}

// appendEventTail appends what both output events end with: caused_by,
// occurred_at and emitted_at; it closes the document.
func appendEventTail(dst []byte, causedBy string, byTimer bool, occurredAt, emittedAt time.Time) []byte {
	dst = append(dst, `,"caused_by":`...)
	if byTimer {
		// The prefix and an RFC 3339 time need no escaping.
		dst = append(dst, '"')
		dst = append(appendCause(dst, "", true, occurredAt), '"')
	} else {
		dst = AppendJSONString(dst, causedBy)
	}
	dst = append(dst, `,"occurred_at":"`...)
	dst = AppendTimeText(dst, occurredAt)
	dst = append(dst, `","emitted_at":"`...)
	dst = AppendTimeText(dst, emittedAt)
	return append(dst, `"}`...)
}

// AppendJSONString appends s as a JSON string, without allocating, for
// the events and the read API's responses. s must be valid UTF-8 (input
// ids are: the decoder guarantees it), so only the JSON-mandated escapes
// are needed; <, > and & are escaped too so the output is safe to embed in
// HTML-based dashboards.
func AppendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '"', '\\':
			dst = append(dst, '\\', b)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
