// Package sim simulates the input streams of the LTV updater (SPEC §1–§2)
// for tests, demos and developers who test their own subscribers.
//
// A Generator turns a Config into a deterministic stream of Records: order
// and lifecycle events of a heterogeneous customer population (Pareto/NBD
// purchases and drop-out, Gamma-Gamma spend, refunds, churn and
// reactivation), mixed with faults at configured rates: producer-retry
// duplicates, late (out-of-order) events and bad records covering SPEC §2's
// rejection list. Each record carries a Label, so a test knows what a
// correct consumer must count, drop or dead-letter. The generator itself
// does no I/O.
//
// Records go to a Sink: a KafkaSink (through stream.NewWriter) or a
// JSONLSink. Replay moves records from a RecordSource (a Generator or a
// JSONLReader) to a Sink, as fast as possible or paced against event time,
// with progress reports.
//
// # JSON Lines format
//
// A JSON Lines file holds a stream, one record per line, so a stream can be
// generated once, inspected or filtered with jq, edited, and replayed into
// Kafka any number of times:
//
//	{"topic":"orders","key":"c-000042","value":"{\"schema\":\"ltv.order.v1\",…}","ts":"2025-03-01T12:00:00Z","label":"valid"}
//	{"topic":"orders","key":"c-000042","value":"{\"schema\":…}","ts":"2025-03-01T12:00:07Z","label":"bad","bad_reason":"negative_amount: \"-12.50\""}
//	{"topic":"orders","key":"c-000007","value_b64":"eyJzY2hlbWEi…","ts":"2025-03-01T12:00:09Z","label":"bad","bad_reason":"invalid_utf8: bytes ff in \"channel\""}
//
// The members, in the order they are written:
//
//	topic       "orders" or "customer-lifecycle": logical names, mapped to the configured topics on replay
//	key         the message key (the customer id) as a JSON string;
//	            key_b64 (standard base64) instead when the key is not valid UTF-8
//	value       the message value, byte for byte, as a JSON string;
//	            value_b64 (standard base64) instead when the value is not valid UTF-8
//	ts          the record's OccurredAt, RFC 3339 with nanoseconds, UTC; paces replays.
//	            Optional: a record without it is sent without delay
//	label       valid, duplicate, late or bad. Optional, default valid
//	bad_reason  for label bad, "<kind>: <detail>" (kinds: BadKinds). Optional
//
// Exactly one of key/key_b64 and one of value/value_b64 must be present.
// Readers reject unknown or repeated members and non-string member values,
// skip blank lines and accept \r\n line ends; every line must be valid
// UTF-8. Errors name the line: "line 12: missing \"topic\"".
package sim
