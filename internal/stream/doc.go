// Package stream is the Kafka edge of the updater: a consumer group over
// the input topics, with a fetch loop per assigned partition and offset
// commits made after the work is durable, by one committer per generation
// (off the batches' path, with the generation's id, so the broker refuses
// a stale member's commit), and the publisher of the output topics
// (ltv-changes, ltv-segments, ltv-dlq), one produce request per partition
// leader.
// It knows nothing about LTV; it moves bytes and offsets, and the pipeline
// package decides what they mean.
package stream
