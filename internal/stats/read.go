// Package stats computes the population statistics of the read API and of
// `ltvctl report` (SPEC §11) from Redis: it lists every customer, reads
// the public fields of all of them or of a uniform sample, feeds them to
// internal/report, and (Provider) caches the result so many callers cost
// at most one computation every refresh interval.
package stats

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// Source lists and reads customers. *store.Redis implements it with SCAN
// and pipelined HMGETs, which a read-only ACL user limited to ltv:* may
// run, on a standalone server or a cluster.
type Source interface {
	// EachCustomerID calls fn with batches of customer ids until every
	// customer has been listed at least once; fn's error stops it.
	EachCustomerID(ctx context.Context, batchSize int, fn func(ids []string) error) error
	// ReadFields returns the named fields of each customer, nil for a
	// customer that is gone.
	ReadFields(ctx context.Context, customerIDs, fields []string) ([]map[string]string, error)
}

// Progress is where a read stands, for a progress line.
type Progress struct {
	// Listed counts the customer keys listed so far.
	Listed int64
	// Read counts the keys whose fields have been read (customers or not).
	Read int64
	// Sampling is true while the keys are being listed to choose a sample
	// (the fields are read afterwards).
	Sampling bool
}

// DefaultBatchSize is how many customers one SCAN step lists and one
// pipeline reads.
const DefaultBatchSize = 1000

// ReadConfig configures Read.
type ReadConfig struct {
	// Report configures the figures; a zero Report.AsOf means the wall
	// clock at the start of the read.
	Report report.Config
	// SampleLimit, when > 0, caps the customers read: with a larger
	// population, a uniform sample of exactly SampleLimit customers is
	// read (docs/cohorts.md). 0 reads every customer.
	SampleLimit int
	// BatchSize is the SCAN count and the customers per pipeline. Default
	// DefaultBatchSize.
	BatchSize int
	// Seed seeds the sample; 0 picks a random seed.
	Seed uint64
	// Progress, when set, is called after every batch (from the calling
	// goroutine or, on a cluster, one master's walk at a time).
	Progress func(Progress)
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
}

func (c *ReadConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Progress == nil {
		c.Progress = func(Progress) {}
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
}

// Read computes the statistics of the customers src lists. Without a
// sample limit (or with a population within it) every customer is read,
// a batch at a time while the keys are listed. Above the limit the ids
// are first sampled while listing (reservoir sampling: memory for
// SampleLimit ids), then the sample is read in batches. A customer is a
// hash with a public field: keys of another type, hashes without public
// fields and customers with an unparseable field are left out, counted by
// reason in Stats.Skipped, and are not in Stats.Population.
func Read(ctx context.Context, src Source, cfg ReadConfig) (*report.Stats, error) {
	cfg.setDefaults()
	now := cfg.Now()
	if cfg.Report.AsOf.IsZero() {
		cfg.Report.AsOf = now
	}
	acc, err := report.NewAccumulator(cfg.Report)
	if err != nil {
		return nil, err
	}
	// listed counts the keys listed, read those whose fields were asked
	// for, added the customers in the figures.
	var listed, read, added int64
	readBatch := func(ids []string, sampling bool) error {
		fields, err := src.ReadFields(ctx, ids, readFields)
		// A key that is not a hash fails only its own read: it is left out
		// and counted in Skipped, instead of failing every report and the
		// read API's /v1/stats until someone deletes it.
		var notHash map[string]bool
		if nh := (*store.NotHashError)(nil); errors.As(err, &nh) {
			notHash = make(map[string]bool, len(nh.IDs))
			for _, id := range nh.IDs {
				notHash[id] = true
				acc.Skip(report.SkipNotHash, fmt.Errorf("customer %q: %w", id, &store.NotHashError{IDs: []string{id}}))
			}
		} else if err != nil {
			return err
		}
		read += int64(len(ids))
		for i, f := range fields {
			switch {
			case notHash[ids[i]]:
			case f == nil:
				// No public field: not a customer anyone can read (GET
				// /v1/customers/{id} answers 404), or deleted since it was
				// listed.
				acc.Skip(report.SkipNoPublicFields, fmt.Errorf("customer %q: key %s holds no public field", ids[i], store.Key(ids[i])))
			case acc.Add(ids[i], f) == nil: // an error is counted in Skipped
				added++
			}
		}
		cfg.Progress(Progress{Listed: listed, Read: read, Sampling: sampling})
		return nil
	}
	if cfg.SampleLimit <= 0 {
		// SCAN may list a key twice (Redis resizing its table while the
		// consumer writes, a slot migrating on a cluster): each customer
		// is read and counted once.
		seen := NewIDSet()
		err := src.EachCustomerID(ctx, cfg.BatchSize, func(ids []string) error {
			ids = seen.KeepNew(ids)
			listed += int64(len(ids))
			if len(ids) == 0 {
				return nil
			}
			return readBatch(ids, false)
		})
		if err != nil {
			return nil, fmt.Errorf("read customers: %w", err)
		}
		return acc.Stats(report.Meta{GeneratedAt: now, Population: added}), nil
	}
	res := newReservoir(cfg.SampleLimit, cfg.Seed)
	err = src.EachCustomerID(ctx, cfg.BatchSize, func(ids []string) error {
		for _, id := range ids {
			res.offer(id)
		}
		listed += int64(len(ids))
		cfg.Progress(Progress{Listed: listed, Sampling: true})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	// A key SCAN listed twice may be in the sample twice; it is read
	// once. (listed may count it twice: the population is an estimate.)
	for ids := NewIDSet().KeepNew(res.items); len(ids) > 0; {
		n := min(len(ids), cfg.BatchSize)
		if err := readBatch(ids[:n], false); err != nil {
			return nil, fmt.Errorf("read sampled customers: %w", err)
		}
		ids = ids[n:]
	}
	// The sample is of keys: the population is the keys listed × the
	// share of the sampled keys that are customers (exact when every key
	// was read), and the figures are scaled by population / added, so a
	// stray key stands for no customer.
	population := added
	if read > 0 && listed > read {
		population = (listed*added + read/2) / read
	}
	return acc.Stats(report.Meta{GeneratedAt: now, Population: population, Sampled: listed > read}), nil
}

// readFields are the fields Read asks for: the report's, then the other
// public ones (SPEC §3, §9). A hash is a customer when it holds any public
// field, as for the read API's GET, and the report's alone do not say so
// (a hash with only updated_at is a customer without a tier).
var readFields = func() []string {
	out := slices.Clone(report.Fields)
	for _, f := range store.PublicFieldNames() {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}()

// IDSet remembers the customer ids seen, as 64-bit hashes (8 bytes each
// plus the map's overhead, instead of the id's string): a report over
// millions of customers keeps them all. Redis's SCAN may list a key more
// than once, so everything that reads the whole population (these
// figures, ltvctl fit and score) passes the ids through one.
type IDSet struct {
	seed maphash.Seed
	seen map[uint64]struct{}
}

// NewIDSet returns an empty set.
func NewIDSet() *IDSet { return &IDSet{seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}} }

// Add remembers id and reports whether it is new. Two ids whose hashes
// collide (odds ~n²/2⁶⁵) count as one.
func (s *IDSet) Add(id string) bool {
	h := maphash.String(s.seed, id)
	if _, dup := s.seen[h]; dup {
		return false
	}
	s.seen[h] = struct{}{}
	return true
}

// KeepNew returns the ids not seen before and remembers them: ids itself
// when all are new, else a copy without the others (the caller's slice
// is not changed).
func (s *IDSet) KeepNew(ids []string) []string {
	var out []string // nil until a repeat is met
	for i, id := range ids {
		if !s.Add(id) {
			if out == nil {
				out = append(make([]string, 0, len(ids)-1), ids[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, id)
		}
	}
	if out == nil {
		return ids
	}
	return out
}

// reservoir keeps a uniform random sample of fixed size of a stream of
// unknown length (Algorithm R, Vitter 1985): after n items, each of them
// is in the sample with probability size/n.
type reservoir struct {
	size  int
	seen  int64
	items []string
	rng   *rand.Rand
}

func newReservoir(size int, seed uint64) *reservoir {
	return &reservoir{size: size, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// offer considers one more item.
func (r *reservoir) offer(item string) {
	r.seen++
	if len(r.items) < r.size {
		r.items = append(r.items, item)
		return
	}
	if j := r.rng.Int64N(r.seen); j < int64(r.size) {
		r.items[j] = item
	}
}
