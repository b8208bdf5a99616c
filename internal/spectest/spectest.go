// Package spectest holds examples from SPEC: the input documents of §2,
// with concrete ids in place of "…", for the tests that decode or validate
// them, and the `predictive:` block of §9.
package spectest

// The SPEC §2 examples: an order placed, its refund, and a churn.
const (
	Placed   = `{"schema":"ltv.order.v1","event_id":"8f1c-1","type":"order_placed","customer_id":"c-000042","order_id":"o-991","amount":"499.00","currency":"SEK","gross_margin":"0.40","occurred_at":"2026-03-01T12:00:00Z","channel":"paid_search"}`
	Refunded = `{"schema":"ltv.order.v1","event_id":"8f1c-2","type":"order_refunded","customer_id":"c-000042","order_id":"o-991","amount":"120.00","currency":"SEK","gross_margin":"0.40","occurred_at":"2026-03-09T08:00:00Z"}`
	Churned  = `{"schema":"ltv.lifecycle.v1","event_id":"8f1c-3","type":"customer_churned","customer_id":"c-000042","occurred_at":"2026-09-01T00:00:00Z","reason":"subscription_cancelled"}`
)

// Predictive is the `predictive:` block of SPEC §9 (the published CDNOW
// estimates, in weeks), for tests and the benchmark that turn the model on.
const Predictive = `predictive:
  model: bgnbd
  time_unit: week
  purchases: {r: 0.243, alpha: 4.414, a: 0.793, b: 2.426}
  spend: {p: 6.25, q: 3.74, v: 15.44}
  horizon_months: 12
  discount_rate_monthly: 0.01
  rescore_every_days: 0
`
