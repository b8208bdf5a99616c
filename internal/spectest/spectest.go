// Package spectest holds the input examples of SPEC §2, with concrete ids
// in place of "…", for the tests that decode or validate them.
package spectest

// The SPEC §2 examples: an order placed, its refund, and a churn.
const (
	Placed   = `{"schema":"ltv.order.v1","event_id":"8f1c-1","type":"order_placed","customer_id":"c-000042","order_id":"o-991","amount":"499.00","currency":"SEK","gross_margin":"0.40","occurred_at":"2026-03-01T12:00:00Z","channel":"paid_search"}`
	Refunded = `{"schema":"ltv.order.v1","event_id":"8f1c-2","type":"order_refunded","customer_id":"c-000042","order_id":"o-991","amount":"120.00","currency":"SEK","gross_margin":"0.40","occurred_at":"2026-03-09T08:00:00Z"}`
	Churned  = `{"schema":"ltv.lifecycle.v1","event_id":"8f1c-3","type":"customer_churned","customer_id":"c-000042","occurred_at":"2026-09-01T00:00:00Z","reason":"subscription_cancelled"}`
)
