package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestRunSmall runs the whole benchmark on a small workload: every phase
// must produce a plausible figure and the final state must verify.
func TestRunSmall(t *testing.T) {
	testutil.SkipShort(t, "builds and runs the consumer binary")
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, "../../cmd/consumer")
	ctx := testutil.Context(t, 4*time.Minute)
	r, err := Run(ctx, Config{
		Events: 20_000, Customers: 4_000, OfferedRate: 2_000,
		LatencyWarmup: time.Second, LatencyDuration: 2 * time.Second,
		ConsumerBinary: bin, WorkDir: dir, Log: t.Logf,
		ScaleCustomers: []int{8_000, 1_000},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if !r.Verified {
		t.Error("final state not verified")
	}
	if r.Events != 20_000 || r.Customers <= 0 || r.Customers > 4_000 {
		t.Errorf("events %d customers %d", r.Events, r.Customers)
	}
	for name, v := range map[string]float64{
		"throughput": r.Throughput, "kafka ceiling": r.KafkaConsumeCeiling, "redis ceiling": r.RedisUpdateCeiling,
		"bytes per customer": r.RedisBytesPerCustomer, "cpu per million": r.CPUSecondsPerMillion,
		"achieved rate": r.AchievedRate,
	} {
		if v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	for name, v := range map[string]float64{
		"public fields floor": r.PublicFieldsBytesPerCustomer, "kafka ceiling cpu": r.KafkaCeilingCPUSecondsPerMillion,
		"redis ceiling cpu": r.RedisCeilingCPUSecondsPerMillion,
	} {
		if v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	// The floors are what the stored state and traffic cost without the
	// bookkeeping, so they must not exceed the figures with it (the CPU
	// ones are counted in 10 ms ticks, a few ticks in so small a run).
	if r.PublicFieldsBytesPerCustomer >= r.RedisBytesPerCustomer {
		t.Errorf("public fields floor %.1f B is not below the stored %.1f B per customer", r.PublicFieldsBytesPerCustomer, r.RedisBytesPerCustomer)
	}
	if r.RedisFloorCPUSecondsPerMillion < 0 || r.RedisFloorCPUSecondsPerMillion > r.RedisCeilingCPUSecondsPerMillion {
		t.Errorf("redis floor %.2f CPU-s per million is not within 0 and the replayed traffic's %.2f", r.RedisFloorCPUSecondsPerMillion, r.RedisCeilingCPUSecondsPerMillion)
	}
	if r.PeakRSSBytes < 1<<20 {
		t.Errorf("peak RSS %d bytes is implausible", r.PeakRSSBytes)
	}
	if r.LatencySamples == 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
		t.Errorf("latency samples %d p50 %s p99 %s max %s", r.LatencySamples, r.P50, r.P99, r.Max)
	}
	if r.AchievedRate < 0.8*r.OfferedRate {
		t.Errorf("offered %v/s but achieved only %v/s", r.OfferedRate, r.AchievedRate)
	}
	// The scale series: smallest count first, each a complete run.
	if len(r.Scale) != 2 || r.Scale[0].Customers != 1_000 || r.Scale[1].Customers != 8_000 {
		t.Fatalf("scale points %+v", r.Scale)
	}
	for _, p := range r.Scale {
		if p.Throughput <= 0 || p.CPUSecondsPerMillion <= 0 || p.PeakRSSBytes < 1<<20 ||
			p.OutputsPerEvent <= 0 || p.CacheHitRate <= 0 || p.CacheHitRate > 1 {
			t.Errorf("scale point %+v", p)
		}
	}
	// The same events over eight times the customers: more first orders,
	// each with its first tier and segment assignments.
	if few, many := r.Scale[0].OutputsPerEvent, r.Scale[1].OutputsPerEvent; many <= few {
		t.Errorf("change events per applied event: %.3f at 1,000 customers, %.3f at 8,000; want more at 8,000", few, many)
	}
}

// The throughput-only run measures the consumer and nothing else, so
// comparing two builds takes a minute a run; with LatencyToo it adds the
// latency phase (for comparing tail latencies), and still nothing else.
func TestThroughputOnlyRunsTheConsumerAlone(t *testing.T) {
	testutil.SkipShort(t, "builds and runs the consumer binary")
	bin := testutil.BuildBinary(t, "../../cmd/consumer")
	for _, latencyToo := range []bool{false, true} {
		t.Run(fmt.Sprintf("latency phase %v", latencyToo), func(t *testing.T) {
			ctx := testutil.Context(t, 2*time.Minute)
			r, err := Run(ctx, Config{
				Events: 5_000, Customers: 1_000, ConsumerBinary: bin, WorkDir: t.TempDir(), Log: t.Logf,
				SkipVerify: true, ThroughputOnly: true, ScaleCustomers: []int{500},
				LatencyToo: latencyToo, OfferedRate: 500, LatencyWarmup: 500 * time.Millisecond, LatencyDuration: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Throughput <= 0 || r.CPUSecondsPerMillion <= 0 {
				t.Errorf("throughput %v, cpu %v: the consumer's figures are missing", r.Throughput, r.CPUSecondsPerMillion)
			}
			if measured := r.LatencySamples > 0 && r.P99 > 0; measured != latencyToo {
				t.Errorf("%d latency samples, p99 %v: want the latency phase measured: %v", r.LatencySamples, r.P99, latencyToo)
			}
			if r.KafkaConsumeCeiling != 0 || r.RedisUpdateCeiling != 0 || r.RedisBytesPerCustomer != 0 || len(r.Scale) != 0 {
				t.Errorf("ran more than the phases asked for: %+v", r)
			}
		})
	}
}
