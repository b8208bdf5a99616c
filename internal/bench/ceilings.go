package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// kafkaConsumeCeiling consumes every input record with a plain kafka-go
// group reader configured like the consumer's, doing nothing with them:
// the most the consumer could ever read from this broker. Its CPU cost is
// that of the harness process, which runs the broker and the reader and
// nothing else meanwhile.
func kafkaConsumeCeiling(ctx context.Context, cfg Config, brokers []string, total int) (ceiling, error) {
	var elapsed time.Duration
	cpu, err := cpuDuring(os.Getpid(), func() error {
		start := time.Now()
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, GroupID: fmt.Sprintf("bench-raw-%d", start.UnixNano()),
			GroupTopics: []string{cfg.OrdersTopic, cfg.LifecycleTopic},
			MinBytes:    1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond,
			QueueCapacity: 8000, StartOffset: kafka.FirstOffset,
			HeartbeatInterval: time.Second, RebalanceTimeout: 4 * time.Second,
		})
		defer r.Close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		for n := 0; n < total; n++ {
			if _, err := r.FetchMessage(ctx); err != nil {
				return fmt.Errorf("raw consume after %d of %d: %w", n, total, err)
			}
		}
		elapsed = time.Since(start)
		return nil
	})
	if err != nil {
		return ceiling{}, err
	}
	return ceiling{rate: float64(total) / elapsed.Seconds(), cpuPerMillion: perMillion(cpu, total)}, nil
}

// ceiling is a part's rate alone, and the CPU that rate cost: at the
// ceiling the part is the only thing running, so its CPU per event is the
// least it takes of the machine's cores at any rate.
type ceiling struct {
	rate          float64 // events (or messages) per second
	cpuPerMillion float64 // CPU seconds per million events of the measured process
	// floorCPUPerMillion (Redis only) is the CPU of the least Redis
	// traffic the same stream needs (publicWriteFloor).
	floorCPUPerMillion float64
}

// perMillion is CPU seconds per million of n events.
func perMillion(d time.Duration, n int) float64 { return d.Seconds() / (float64(n) / 1e6) }

// storeOp is one call the pipeline made to the store or to its timers
// (SPEC §8: stream times, the due index and the settle at a batch's end).
type storeOp struct {
	load        []string
	save        []store.Write
	clear       []store.Acked
	streamTimes []int32
	due         []store.DueQuery
	settle      *settleOp
}

// settleOp is one recorded Settle call.
type settleOp struct {
	updates []store.TimerUpdate
	times   map[int32]time.Time
	due     []store.DueQuery
}

// recordingStore runs the real store and remembers every call, so the same
// Redis traffic can be replayed later without any Kafka or domain work.
// The processor calls it from more than one goroutine (a batch reads its
// stream times and due customers while its customers load).
type recordingStore struct {
	inner *store.Redis
	mu    sync.Mutex
	ops   []storeOp
}

// record remembers one call.
func (s *recordingStore) record(op storeOp) {
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
}

func (s *recordingStore) Load(ctx context.Context, ids []string) ([]store.Snapshot, []error, error) {
	s.record(storeOp{load: append([]string(nil), ids...)})
	return s.inner.Load(ctx, ids)
}

func (s *recordingStore) Save(ctx context.Context, writes []store.Write) ([]int, error) {
	kept := make([]store.Write, len(writes))
	for i := range writes {
		kept[i] = writes[i].Clone() // the field lists are the processor's to reuse
	}
	s.record(storeOp{save: kept})
	return s.inner.Save(ctx, writes)
}

func (s *recordingStore) ClearPending(ctx context.Context, acked []store.Acked) error {
	s.record(storeOp{clear: append([]store.Acked(nil), acked...)})
	return s.inner.ClearPending(ctx, acked)
}

func (s *recordingStore) StreamTimes(ctx context.Context, partitions []int32) (map[int32]time.Time, error) {
	s.record(storeOp{streamTimes: append([]int32{}, partitions...)})
	return s.inner.StreamTimes(ctx, partitions)
}

func (s *recordingStore) DueTimers(ctx context.Context, queries []store.DueQuery) ([][]string, error) {
	s.record(storeOp{due: append([]store.DueQuery{}, queries...)})
	return s.inner.DueTimers(ctx, queries)
}

func (s *recordingStore) Settle(ctx context.Context, updates []store.TimerUpdate, times map[int32]time.Time, due []store.DueQuery) (map[int32]time.Time, [][]string, error) {
	op := &settleOp{updates: append([]store.TimerUpdate{}, updates...), times: maps.Clone(times), due: append([]store.DueQuery{}, due...)}
	s.record(storeOp{settle: op})
	return s.inner.Settle(ctx, updates, times, due)
}

type discardPublisher struct{}

func (discardPublisher) Publish(context.Context, []pipeline.Message) error { return nil }

// redisUpdateCeiling measures how fast Redis absorbs exactly the traffic
// the consumer sends for this workload (pipelined loads of the customers
// its state cache does not hold, compare-and-set save scripts, pending
// clears, and the timers of SPEC §8: stream times, due queries and each
// batch's settle of index entries), issued from Go with the consumer's
// concurrency but with no Kafka and no domain work in between. The result
// is in input events per second, so it compares directly with the
// end-to-end throughput.
//
// First the stream is processed once in-process (batches of maxBatch per
// worker, partitions sharded over workers as the consumer does) while the
// store calls are recorded; then Redis is flushed and the recorded calls
// are replayed, one goroutine per worker, and only the replay is timed.
func redisUpdateCeiling(ctx context.Context, cfg Config, rc *redis.Client, redisPid int, w *workload) (ceiling, error) {
	// The store over a client like the service's (store.NewClient: RESP2),
	// so the recorded loads are the service's.
	sc, err := store.NewClient(store.Config{URL: "redis://" + rc.Options().Addr})
	if err != nil {
		return ceiling{}, err
	}
	defer sc.Close()
	st := store.NewRedis(sc, store.Config{})
	if err := st.LoadScripts(ctx); err != nil {
		return ceiling{}, err
	}
	dec, err := decode.New(decode.Config{BaseCurrency: "SEK"})
	if err != nil {
		return ceiling{}, err
	}
	model := defaultModel()
	workers := cfg.Workers
	shards := make([][]pipeline.Record, workers)
	// Place records as the producer's Murmur2 balancer did; the global
	// index is a valid offset (it increases within every partition).
	var balancer kafka.Murmur2Balancer
	partitionIDs := make([]int, cfg.Partitions)
	for i := range partitionIDs {
		partitionIDs[i] = i
	}
	for i, m := range w.msgs {
		p := balancer.Balance(m, partitionIDs...)
		shard := p % workers // both topics' partition p: one customer, one worker
		shards[shard] = append(shards[shard], pipeline.Record{
			Topic: m.Topic, Partition: int32(p), Offset: int64(i), Key: m.Key, Value: m.Value,
		})
	}
	recs := make([]*recordingStore, workers)
	for i := range recs {
		recs[i] = &recordingStore{inner: st}
		// The consumer's state cache sits in front of Redis, so only what
		// passes it is recorded. Workers own disjoint customers: a cache
		// each, with a share of the consumer's one budget, is the same.
		cached := store.NewCached(recs[i], store.CacheConfig{MaxBytes: store.DefaultCacheBytes / workers})
		// The timers go past the cache, as in the service.
		proc, err := pipeline.New(pipeline.Config{Model: model, Decoder: dec, Store: cached, Timers: recs[i], Out: discardPublisher{}})
		if err != nil {
			return ceiling{}, err
		}
		for lo := 0; lo < len(shards[i]); lo += cfg.MaxBatch {
			if _, err := proc.Process(ctx, shards[i][lo:min(lo+cfg.MaxBatch, len(shards[i]))]); err != nil {
				return ceiling{}, fmt.Errorf("recording pass: %w", err)
			}
		}
	}
	settles := 0
	for _, r := range recs {
		for _, op := range r.ops {
			if op.settle != nil {
				settles++
			}
		}
	}
	if settles == 0 {
		// The service settles every batch (SPEC §8's index and stream
		// times); a replay without them would understate Redis's work.
		return ceiling{}, errors.New("recording pass: no batch settled its timers")
	}
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return ceiling{}, err
	}
	var elapsed time.Duration
	cpu, err := cpuDuring(redisPid, func() error {
		var wg sync.WaitGroup
		errs := make([]error, workers)
		start := time.Now()
		for i := range recs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = replay(ctx, st, recs[i].ops)
			}(i)
		}
		wg.Wait()
		elapsed = time.Since(start)
		return errors.Join(errs...)
	})
	if err != nil {
		return ceiling{}, err
	}
	out := ceiling{rate: float64(len(w.msgs)) / elapsed.Seconds(), cpuPerMillion: perMillion(cpu, len(w.msgs))}
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return ceiling{}, err
	}
	floor, err := publicWriteFloor(ctx, rc, redisPid, recs)
	if err != nil {
		return ceiling{}, fmt.Errorf("public write floor: %w", err)
	}
	out.floorCPUPerMillion = perMillion(floor, len(w.msgs))
	return out, nil
}

// publicWriteFloor replays only the public-field part of the recorded
// saves, as plain pipelined HSETs (no script, no compare-and-set, no
// bookkeeping, no loads or clears), and returns redis-server's CPU for it:
// what writing SPEC §3's fields for this stream costs Redis at the least.
func publicWriteFloor(ctx context.Context, rc redis.UniversalClient, redisPid int, recs []*recordingStore) (time.Duration, error) {
	// Per worker, per recorded save: one HSET per written customer.
	pipelines := make([][][][]any, len(recs))
	for i, rec := range recs {
		for _, op := range rec.ops {
			var cmds [][]any
			for _, w := range op.save {
				set, _ := w.Changes()
				args := []any{"hset", store.Key(w.CustomerID)}
				for name, v := range set {
					if !strings.HasPrefix(name, "_") {
						args = append(args, name, v)
					}
				}
				if len(args) > 2 {
					cmds = append(cmds, args)
				}
			}
			if len(cmds) > 0 {
				pipelines[i] = append(pipelines[i], cmds)
			}
		}
	}
	return cpuDuring(redisPid, func() error {
		var wg sync.WaitGroup
		errs := make([]error, len(pipelines))
		for i := range pipelines {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for _, cmds := range pipelines[i] {
					if _, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
						for _, args := range cmds {
							p.Do(ctx, args...)
						}
						return nil
					}); err != nil {
						errs[i] = err
						return
					}
				}
			}(i)
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

func replay(ctx context.Context, st *store.Redis, ops []storeOp) error {
	for _, op := range ops {
		switch {
		case op.load != nil:
			if _, _, err := st.Load(ctx, op.load); err != nil {
				return fmt.Errorf("replay load: %w", err)
			}
		case op.save != nil:
			conflicts, err := st.Save(ctx, op.save)
			if err != nil {
				return fmt.Errorf("replay save: %w", err)
			}
			if len(conflicts) > 0 {
				return fmt.Errorf("replay save: %d unexpected conflicts (the replay is not the recorded traffic)", len(conflicts))
			}
		case op.clear != nil:
			if err := st.ClearPending(ctx, op.clear); err != nil {
				return fmt.Errorf("replay clear: %w", err)
			}
		case op.streamTimes != nil:
			if _, err := st.StreamTimes(ctx, op.streamTimes); err != nil {
				return fmt.Errorf("replay stream times: %w", err)
			}
		case op.due != nil:
			if _, err := st.DueTimers(ctx, op.due); err != nil {
				return fmt.Errorf("replay due query: %w", err)
			}
		case op.settle != nil:
			if _, _, err := st.Settle(ctx, op.settle.updates, op.settle.times, op.settle.due); err != nil {
				return fmt.Errorf("replay settle: %w", err)
			}
		}
	}
	return nil
}
