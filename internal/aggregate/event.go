// Package aggregate is the pure domain core of the LTV updater: a decoded
// event (or a stream time a customer's timers fall due by) and the
// customer's current state go in, the new state and the tier and segment
// changes it causes come out. It performs no I/O, so the Kafka/Redis loop,
// the replay tools and the tests all share exactly the same arithmetic.
//
// Money is exact decimal end to end (money.Exact: shopspring/decimal's
// semantics, with no heap memory per operation); values are only
// rounded when they are rendered for the public Redis fields (SPEC §3).
package aggregate

import (
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

// Kind is the type of an input event (the JSON field `type`).
type Kind uint8

// The input event kinds of SPEC §2. The zero value is deliberately invalid
// so that an unset Kind is never mistaken for a real event.
const (
	KindUnknown Kind = iota
	OrderPlaced
	OrderRefunded
	CustomerChurned
	CustomerReactivated
)

// Schema names carried in the `schema` field of the input and output events.
const (
	SchemaOrder     = "ltv.order.v1"
	SchemaLifecycle = "ltv.lifecycle.v1"
	SchemaChange    = "ltv.change.v1"
)

var kindNames = [...]string{
	KindUnknown:         "",
	OrderPlaced:         "order_placed",
	OrderRefunded:       "order_refunded",
	CustomerChurned:     "customer_churned",
	CustomerReactivated: "customer_reactivated",
}

// String returns the wire name of the kind (the JSON `type` value).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return ""
}

// ParseKind maps a wire `type` value to its Kind; ok is false for anything
// SPEC §2 does not define.
func ParseKind(s string) (k Kind, ok bool) {
	switch s {
	case "order_placed":
		return OrderPlaced, true
	case "order_refunded":
		return OrderRefunded, true
	case "customer_churned":
		return CustomerChurned, true
	case "customer_reactivated":
		return CustomerReactivated, true
	}
	return KindUnknown, false
}

// Schema is the `schema` value an event of this kind must carry.
func (k Kind) Schema() string {
	switch k {
	case OrderPlaced, OrderRefunded:
		return SchemaOrder
	case CustomerChurned, CustomerReactivated:
		return SchemaLifecycle
	}
	return ""
}

// IsOrder reports whether the kind is an order event (placed or refunded).
func (k Kind) IsOrder() bool { return k == OrderPlaced || k == OrderRefunded }

// Event is a validated input event. Decoders (internal/decode) guarantee the
// invariants documented on each field before an Event reaches Apply, so the
// domain logic never has to re-validate input.
type Event struct {
	Kind       Kind   // from `type`; never KindUnknown here
	EventID    string // non-empty
	CustomerID string // non-empty
	OrderID    string // non-empty for order kinds
	// Amount is the positive order or refund sum, already converted to the
	// base currency when an FX table is configured. Zero for lifecycle kinds.
	Amount money.Exact
	// Margin is the gross-margin fraction in [0,1]; HasMargin is false when
	// the event did not carry one and the configured default applies.
	Margin     money.Exact
	HasMargin  bool      // see Margin
	Currency   string    // as sent; validated against the base currency
	OccurredAt time.Time // event time, UTC
	Channel    string    // optional, order_placed only
	Reason     string    // optional, lifecycle only
}
