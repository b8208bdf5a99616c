// Package bench is the end-to-end benchmark behind `make bench`: it runs
// the real consumer binary against a real redis-server and a
// Kafka-protocol broker on loopback, and measures throughput, latency,
// Redis memory, consumer RSS and CPU, next to the ceilings of the parts
// (kafka-go's raw consume rate, Redis's rate for the consumer's own
// traffic) so every figure is shown against its limit.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/benchreport"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/localredis"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Config sizes one benchmark run.
type Config struct {
	// Events and Customers size the throughput workload. Defaults
	// 1,000,000 and 200,000 (the sizing).
	Events, Customers int
	// Partitions per topic on the test broker. Default 12.
	Partitions int
	// OfferedRate is the steady load of the latency phase. Default 10,000/s.
	OfferedRate int
	// LatencyWarmup is not sampled (the group settles); LatencyDuration is.
	// Defaults 3 s and 20 s.
	LatencyWarmup, LatencyDuration time.Duration
	// Seed of the simulator. Default 1.
	Seed int64
	// ConsumerBinary is the built cmd/consumer. Required.
	ConsumerBinary string
	// ConsumerEnv adds environment settings for the consumer (tuning).
	ConsumerEnv []string
	// Workers and MaxBatch mirror the consumer's LTV_WORKERS and
	// LTV_MAX_BATCH for the Redis ceiling's replay. Defaults: the
	// consumer's defaults.
	Workers, MaxBatch int
	// WorkDir holds Redis's directory and the consumer logs. Required.
	WorkDir string
	// Topic names (SPEC §1 defaults).
	OrdersTopic, LifecycleTopic, ChangesTopic, SegmentsTopic, DLQTopic string
	// Log receives progress lines; default discards them.
	Log func(format string, args ...any)
	// SkipVerify skips comparing the final state with the oracle.
	SkipVerify bool
	// ThroughputOnly runs the consumer's throughput phase alone: no
	// ceilings, floors, latency phase or scale series. It is for comparing
	// two builds by their CPU per event, run after run, which the full run
	// makes slow; its report leaves those figures empty.
	ThroughputOnly bool
	// LatencyToo adds the latency phase to a ThroughputOnly run, after the
	// throughput phase: for comparing two builds' tail latency run after
	// run.
	LatencyToo bool
	// ScaleCustomers are the customer counts of the scale series: one
	// more throughput run each, of Events events, after the latency
	// phase. None by default.
	ScaleCustomers []int
}

func (c *Config) setDefaults() {
	settings.Positive(&c.Events, 1_000_000)
	settings.Positive(&c.Customers, 200_000)
	settings.Positive(&c.Partitions, 12)
	settings.Positive(&c.OfferedRate, 10_000)
	settings.Positive(&c.LatencyWarmup, 3*time.Second)
	settings.Positive(&c.LatencyDuration, 20*time.Second)
	if c.Seed == 0 {
		c.Seed = 1
	}
	defaults := consumerDefaults()
	settings.Positive(&c.Workers, envInt(c.ConsumerEnv, "LTV_WORKERS", defaults.Workers))
	settings.Positive(&c.MaxBatch, envInt(c.ConsumerEnv, "LTV_MAX_BATCH", defaults.MaxBatch))
	settings.IfZero(&c.OrdersTopic, defaults.OrdersTopic)
	settings.IfZero(&c.LifecycleTopic, defaults.LifecycleTopic)
	settings.IfZero(&c.ChangesTopic, defaults.ChangesTopic)
	settings.IfZero(&c.SegmentsTopic, defaults.SegmentsTopic)
	settings.IfZero(&c.DLQTopic, defaults.DLQTopic)
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
}

// consumerDefaults is the consumer's configuration with nothing set.
func consumerDefaults() *config.Config {
	cfg, err := config.Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		panic(fmt.Sprintf("default configuration does not load: %v", err)) // a bug, not input
	}
	return cfg
}

func defaultModel() *aggregate.Model { return consumerDefaults().Model }

func envInt(env []string, key string, def int) int {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return def
}

// Run performs one complete benchmark run with fresh servers.
func Run(ctx context.Context, cfg Config) (benchreport.Run, error) {
	cfg.setDefaults()
	if cfg.ConsumerBinary == "" || cfg.WorkDir == "" {
		return benchreport.Run{}, errors.New("bench: ConsumerBinary and WorkDir are required")
	}
	var out benchreport.Run

	redisDir, err := os.MkdirTemp(cfg.WorkDir, "redis-")
	if err != nil {
		return out, err
	}
	rs, rc, err := localredis.StartIn(ctx, redisDir)
	if err != nil {
		return out, err
	}
	defer rs.Stop()
	defer rc.Close()

	cfg.Log("generating %d events over %d customers", cfg.Events, cfg.Customers)
	w, err := generate(cfg, cfg.Seed, cfg.Events, cfg.Customers)
	if err != nil {
		return out, err
	}
	out.Events = len(w.msgs)
	out.Customers = cfg.Customers

	out.VerifySkipped = cfg.SkipVerify || cfg.ThroughputOnly
	memDelta, err := throughputPhase(ctx, cfg, rs, rc, w, &out)
	if err != nil {
		return out, err
	}
	if cfg.ThroughputOnly {
		if cfg.LatencyToo {
			w = nil
			err = latencyPhase(ctx, cfg, rs, rc, &out)
		}
		return out, err
	}
	if !cfg.SkipVerify {
		// After the run, so neither the recomputation nor its heap competes
		// with the system under test (see generate).
		if err := w.buildOracle(); err != nil {
			return out, err
		}
		out.Customers = w.customers
		if err := verify(ctx, rc, w); err != nil {
			return out, err
		}
		out.Verified = true
		cfg.Log("verified: Redis equals the independent recomputation for %d customers", w.customers)
		w.oracle = nil
		runtime.GC()
	}
	out.RedisBytesPerCustomer = float64(memDelta) / float64(out.Customers)
	cfg.Log("redis: %.0f bytes per customer", out.RedisBytesPerCustomer)
	if out.PublicFieldsBytesPerCustomer, err = publicFieldsFloor(ctx, rc); err != nil {
		return out, fmt.Errorf("public fields floor: %w", err)
	}
	cfg.Log("redis: %.0f bytes per customer for SPEC §3's public fields alone", out.PublicFieldsBytesPerCustomer)

	cfg.Log("redis ceiling: recording and replaying the consumer's Redis traffic")
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return out, err
	}
	redisCeiling, err := redisUpdateCeiling(ctx, cfg, rc, rs.Pid(), w)
	if err != nil {
		return out, fmt.Errorf("redis ceiling: %w", err)
	}
	out.RedisUpdateCeiling, out.RedisCeilingCPUSecondsPerMillion = redisCeiling.rate, redisCeiling.cpuPerMillion
	out.RedisFloorCPUSecondsPerMillion = redisCeiling.floorCPUPerMillion
	cfg.Log("redis ceiling: %.0f events/s, redis-server %.2f CPU s per million events (public fields as plain HSETs alone: %.2f)",
		out.RedisUpdateCeiling, out.RedisCeilingCPUSecondsPerMillion, out.RedisFloorCPUSecondsPerMillion)
	// The workload (a million records, the oracle, the recorded traffic)
	// goes before the latency phase (see latencyPhase).
	w = nil
	if err := latencyPhase(ctx, cfg, rs, rc, &out); err != nil {
		return out, err
	}

	for _, n := range slices.Sorted(slices.Values(cfg.ScaleCustomers)) {
		pt, err := scalePoint(ctx, cfg, rs, rc, n)
		if err != nil {
			return out, fmt.Errorf("scale point of %d customers: %w", n, err)
		}
		out.Scale = append(out.Scale, pt)
	}
	return out, nil
}

// latencyPhase offers the steady load of the latency phase to a fresh
// consumer over an empty Redis and a fresh broker, and records the
// produce → change-event latencies. The caller has dropped its workload:
// the memory is returned first, or this process (which also runs the
// broker) spends the phase collecting and scavenging a heap of a
// gigabyte, and its pauses show up as the consumer's tail latency.
func latencyPhase(ctx context.Context, cfg Config, rs *localredis.Server, rc *redis.Client, out *benchreport.Run) error {
	runtime.GC()
	debug.FreeOSMemory()
	cfg.Log("latency: %d events/s for %s (+%s warm-up)", cfg.OfferedRate, cfg.LatencyDuration, cfg.LatencyWarmup)
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return err
	}
	cluster, brokers, err := startBroker(cfg)
	if err != nil {
		return err
	}
	lat, err := measureLatency(ctx, cfg, brokers, rs.URL())
	cluster.Close()
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	out.OfferedRate, out.AchievedRate = lat.offered, lat.achieved
	out.LatencySamples = len(lat.samples)
	out.P50, out.P99, out.Max = lat.percentile(0.50), lat.percentile(0.99), lat.samples[len(lat.samples)-1]
	cfg.Log("latency: %d samples, p50 %s, p99 %s, max %s", out.LatencySamples, out.P50, out.P99, out.Max)
	return nil
}

// throughputPhase loads the whole stream into a fresh broker, measures
// kafka-go's raw consume rate on it, then runs the consumer binary from
// start until every input offset is committed.
func throughputPhase(ctx context.Context, cfg Config, rs *localredis.Server, rc *redis.Client, w *workload, out *benchreport.Run) (memDelta int64, err error) {
	cluster, brokers, err := startBroker(cfg)
	if err != nil {
		return 0, err
	}
	defer cluster.Close()
	cfg.Log("producing %d records", len(w.msgs))
	if err := produceAll(ctx, brokers, w.msgs); err != nil {
		return 0, err
	}
	if !cfg.ThroughputOnly {
		cfg.Log("kafka ceiling: raw kafka-go group consume")
		kafkaCeiling, err := kafkaConsumeCeiling(ctx, cfg, brokers, len(w.msgs))
		if err != nil {
			return 0, err
		}
		out.KafkaConsumeCeiling, out.KafkaCeilingCPUSecondsPerMillion = kafkaCeiling.rate, kafkaCeiling.cpuPerMillion
		cfg.Log("kafka ceiling: %.0f msg/s, broker + reader %.2f CPU s per million messages", out.KafkaConsumeCeiling, out.KafkaCeilingCPUSecondsPerMillion)
	}

	if err := rc.FlushAll(ctx).Err(); err != nil {
		return 0, err
	}
	before, err := usedMemory(ctx, rc)
	if err != nil {
		return 0, err
	}
	c, err := consumeAll(ctx, cfg, rs, brokers, len(w.msgs), "consumer-throughput.log")
	if err != nil {
		return 0, err
	}
	out.RedisCPUSecondsPerMillion, out.BrokerCPUSecondsPerMillion = c.redisCPU, c.brokerCPU
	out.Cores = runtime.NumCPU()
	out.Elapsed, out.Throughput = c.elapsed, c.throughput
	out.PeakRSSBytes, out.CPUSecondsPerMillion, out.GCShare = c.peakRSS, c.consumerCPU, c.work.gcShare()

	if stats, err := rc.Info(ctx, "commandstats").Result(); err == nil {
		cfg.Log("redis commandstats:%s", commandStats(stats))
	}
	after, err := usedMemory(ctx, rc)
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

// consumed is what one consumer run over a whole stream measured; the CPU
// figures are seconds per million input events.
type consumed struct {
	elapsed                          time.Duration
	throughput                       float64
	peakRSS                          int64
	consumerCPU, redisCPU, brokerCPU float64
	work                             workCounters // read once every offset was committed
}

// consumeAll runs the consumer binary over the records already on the
// broker, from start until every input offset is committed, with Redis
// empty or as the caller left it.
func consumeAll(ctx context.Context, cfg Config, rs *localredis.Server, brokers []string, records int, logName string) (consumed, error) {
	var c consumed
	group := fmt.Sprintf("bench-throughput-%d", time.Now().UnixNano())
	cfg.Log("throughput: consumer binary from start until every offset is committed")
	proc, err := startConsumer(cfg, consumerSettings{brokers: brokers, redisURL: rs.URL(), group: group}, logName)
	if err != nil {
		return c, err
	}
	defer proc.kill()
	guarded, stopGuard := proc.guard(ctx)
	defer stopGuard()
	meter := startCPUMeter(map[string]int{"consumer": proc.cmd.Process.Pid, "redis": rs.Pid(), "broker+harness": os.Getpid()})
	wctx, cancel := context.WithTimeout(guarded, 10*time.Minute)
	defer cancel()
	done, err := waitCommitted(wctx, brokers, group, []string{cfg.OrdersTopic, cfg.LifecycleTopic}, 20*time.Millisecond, proc.samplePeak)
	if err != nil {
		return c, err
	}
	cpu := meter.used()
	cfg.Log("cpu while consuming: consumer %s, redis %s, broker+harness %s (wall %s)",
		cpu["consumer"], cpu["redis"], cpu["broker+harness"], time.Since(proc.started).Round(10*time.Millisecond))
	c.redisCPU = perMillion(cpu["redis"], records)
	c.brokerCPU = perMillion(cpu["broker+harness"], records)
	c.elapsed = done.Sub(proc.started)
	c.throughput = float64(records) / c.elapsed.Seconds()
	if c.work, err = readWorkCounters(ctx, proc.httpAddr); err != nil {
		return c, err
	}
	use, err := proc.stop()
	if err != nil {
		return c, err
	}
	c.peakRSS = use.peakRSS
	c.consumerCPU = use.cpu.Seconds() / (float64(records) / 1e6)
	cfg.Log("throughput: %.0f events/s (%s), peak RSS %d MB, %.1f CPU s per million (%.0f %% of it the garbage collector); %.2f outputs per applied event, %.1f %% state-cache hits",
		c.throughput, c.elapsed.Round(time.Millisecond), c.peakRSS>>20, c.consumerCPU, 100*c.work.gcShare(), c.work.outputsPerEvent(), 100*c.work.cacheHitRate())
	return c, nil
}

// scalePoint measures the throughput of the same number of events over
// customers customers, on a fresh broker and an empty Redis.
func scalePoint(ctx context.Context, cfg Config, rs *localredis.Server, rc *redis.Client, customers int) (benchreport.ScalePoint, error) {
	pt := benchreport.ScalePoint{Customers: customers}
	cfg.Log("scale: generating %d events over %d customers", cfg.Events, customers)
	w, err := generate(cfg, cfg.Seed, cfg.Events, customers)
	if err != nil {
		return pt, err
	}
	cluster, brokers, err := startBroker(cfg)
	if err != nil {
		return pt, err
	}
	defer cluster.Close()
	if err := produceAll(ctx, brokers, w.msgs); err != nil {
		return pt, err
	}
	records := len(w.msgs)
	w = nil // the consumer's run should not compete with this heap
	runtime.GC()
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return pt, err
	}
	c, err := consumeAll(ctx, cfg, rs, brokers, records, fmt.Sprintf("consumer-scale-%d.log", customers))
	if err != nil {
		return pt, err
	}
	pt.Throughput, pt.CPUSecondsPerMillion, pt.RedisCPUSecondsPerMillion, pt.PeakRSSBytes = c.throughput, c.consumerCPU, c.redisCPU, c.peakRSS
	pt.OutputsPerEvent, pt.CacheHitRate = c.work.outputsPerEvent(), c.work.cacheHitRate()
	return pt, nil
}

func startBroker(cfg Config) (*kfake.Cluster, []string, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(cfg.Partitions), cfg.OrdersTopic, cfg.LifecycleTopic, cfg.ChangesTopic, cfg.SegmentsTopic, cfg.DLQTopic),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("start broker: %w", err)
	}
	return c, c.ListenAddrs(), nil
}

// commandStats condenses INFO commandstats to "cmd calls usec_per_call"
// entries: where Redis spent its time.
func commandStats(info string) string {
	var b strings.Builder
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec, per string
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				calls = v
			case "usec":
				usec = v
			case "usec_per_call":
				per = v
			}
		}
		fmt.Fprintf(&b, " %s calls=%s usec=%s per_call=%s;", strings.TrimPrefix(name, "cmdstat_"), calls, usec, per)
	}
	return b.String()
}

func usedMemory(ctx context.Context, rc *redis.Client) (int64, error) {
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("redis info: %w", err)
	}
	if v, ok := store.InfoField(info, "used_memory"); ok {
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, errors.New("redis info: no used_memory")
}

// publicFieldsFloor is what the data model of SPEC §3 costs before any
// bookkeeping: every customer hash as stored now, copied with its public
// fields only (every field not starting with "_") into an empty database
// of the same server, as used_memory per customer. It is the floor under
// the Redis bytes-per-customer figure: what is left between it and the
// target is all the offset guard and the dedupe window may take. The copy
// is removed again.
func publicFieldsFloor(ctx context.Context, rc *redis.Client) (float64, error) {
	opt := *rc.Options()
	opt.DB = 1
	dst := redis.NewClient(&opt)
	defer dst.Close()
	if err := dst.FlushDB(ctx).Err(); err != nil {
		return 0, err
	}
	before, err := usedMemory(ctx, rc)
	if err != nil {
		return 0, err
	}
	copied := 0
	var cursor uint64
	for {
		keys, next, err := rc.Scan(ctx, cursor, "ltv:{*}", 2000).Result()
		if err != nil {
			return 0, err
		}
		n, err := copyPublicFields(ctx, rc, dst, keys)
		if err != nil {
			return 0, err
		}
		copied += n
		if cursor = next; cursor == 0 {
			break
		}
	}
	after, err := usedMemory(ctx, rc)
	if err != nil {
		return 0, err
	}
	if err := dst.FlushDB(ctx).Err(); err != nil {
		return 0, err
	}
	if copied == 0 {
		return 0, errors.New("no customer hashes")
	}
	return float64(after-before) / float64(copied), nil
}

// copyPublicFields copies the public fields of the customer hashes among
// keys (other keys, such as pending keys, are skipped) from src to dst.
func copyPublicFields(ctx context.Context, src, dst *redis.Client, keys []string) (int, error) {
	var hashes []string
	for _, k := range keys {
		if strings.HasSuffix(k, "}") {
			hashes = append(hashes, k)
		}
	}
	cmds := make([]*redis.MapStringStringCmd, len(hashes))
	if _, err := src.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range hashes {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	_, err := dst.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range hashes {
			var args []any
			for field, v := range cmds[i].Val() {
				if !strings.HasPrefix(field, "_") {
					args = append(args, field, v)
				}
			}
			if len(args) > 0 {
				p.HSet(ctx, k, args...)
			}
		}
		return nil
	})
	return len(hashes), err
}

// verify compares every customer's public fields with the oracle.
func verify(ctx context.Context, rc *redis.Client, w *workload) error {
	ids := w.oracle.Customers()
	const chunk = 2000
	mismatches := 0
	var first string
	for lo := 0; lo < len(ids); lo += chunk {
		part := ids[lo:min(lo+chunk, len(ids))]
		cmds := make([]*redis.MapStringStringCmd, len(part))
		if _, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range part {
				cmds[i] = p.HGetAll(ctx, "ltv:{"+id+"}")
			}
			return nil
		}); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for i, id := range part {
			exp, _ := w.oracle.Expect(id)
			h := cmds[i].Val()
			for field, want := range exp.Fields {
				if got := h[field]; got != want {
					mismatches++
					if first == "" {
						first = fmt.Sprintf("customer %s field %s = %q, want %q", id, field, got, want)
					}
				}
			}
		}
	}
	if mismatches > 0 {
		return fmt.Errorf("verify: %d field mismatches, first: %s", mismatches, first)
	}
	return nil
}
