// The contract of a customer-state store: the Store interface and Acked.

package store

import "context"

// Store is what reads and writes customer state: Redis itself, the cache
// in front of it (Cached), or a wrapper around either (the benchmark's
// recorder). The pipeline processes batches through one, and Cached sits
// in front of one, so both use this single declaration.
//
// It is declared here, next to its implementations, rather than in the
// pipeline (its main user, where Go usually puts an interface) because
// Cached both implements it and holds one: the pipeline imports this
// package, so a declaration there would make this package import the
// pipeline, a cycle. pipeline.Store is an alias of this type.
type Store interface {
	// Load reads the snapshots of the given customers. A hash that cannot
	// be parsed yields an error in its slot of errs; err is for the store
	// being unreachable.
	Load(ctx context.Context, customerIDs []string) (snaps []Snapshot, errs []error, err error)
	// Save applies the writes, each a compare-and-set on its customer's
	// token, and returns the indexes of those whose token no longer
	// matched (not written; reload them). The writes are valid for the
	// call only (their field lists may be lent, see FieldBuffer): a store
	// that keeps them must Clone them.
	Save(ctx context.Context, writes []Write) (conflicts []int, err error)
	// ClearPending says the pending change events of these customers are
	// published (acknowledged) and may be dropped. The store's Clearer
	// owns the clear and its retries, so callers need not retry: an error
	// is for logging, and at worst means the events are published once
	// more later with the same event ids.
	ClearPending(ctx context.Context, acked []Acked) error
}

// Acked names a customer whose pending change events were published, and
// the token written with them: the clear applies only while the stored
// token is still that one (a newer write owns its own pending events).
type Acked struct {
	CustomerID string // whose pending change events to clear
	Token      string // Write.Token of the write that stored the pending events
}
