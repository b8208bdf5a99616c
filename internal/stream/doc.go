// Package stream is the Kafka edge of the updater: a consumer-group reader
// over the input topics with explicit, monotonic offset commits (by one
// committer per consumer, off the batches' path, repaired when another
// member's stale commit moves them back), and the
// writers for ltv-changes and ltv-dlq. It knows nothing about LTV; it moves
// bytes and offsets, and the pipeline package decides what they mean.
package stream
