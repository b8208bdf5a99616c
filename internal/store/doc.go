// Package store keeps each customer's state in Redis (SPEC §3): one hash
// per customer under the key ltv:{<customer_id>}, read and written so
// that no event is lost or counted twice, whoever else writes. Writes are
// an atomic compare-and-set Lua script, so a fenced-off (zombie) consumer
// can never overwrite what the partition's new owner wrote.
//
// Where each part lives, one job per file:
//   - store.go: the Store interface the pipeline and the cache share;
//   - codec.go, blob.go: the hash codec (aggregate.State ↔ hash fields, and
//     the binary bookkeeping value), pure functions tested without a server;
//   - cache.go, cachecopy.go, ring.go: the state cache in front of Redis, the
//     encoding of its copies, and the ring buffer holding them;
//   - clearer.go: the one queue that clears acknowledged pending change
//     events and retries failed clears;
//   - client.go: Redis URLs and the standalone or Cluster client;
//   - scripts.go: the Lua scripts and the arguments they take;
//   - slot.go: Redis Cluster hash slots and grouping keys by them;
//   - redis.go: the Redis store itself: load, save, clear.
package store
