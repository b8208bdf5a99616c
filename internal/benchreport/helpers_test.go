package benchreport

import "time"

// sampleReport is a realistic three-run report that meets every target.
func sampleReport() Report {
	run := func(thr, kafka, redis float64, p99 time.Duration, rss int64) Run {
		return Run{
			Events: 1_000_000, Customers: 50_000, Elapsed: time.Duration(1e6 / thr * float64(time.Second)),
			Throughput: thr, KafkaConsumeCeiling: kafka, RedisUpdateCeiling: redis,
			OfferedRate: 10_000, AchievedRate: 9_998, LatencySamples: 48_000,
			P50: 3210 * time.Microsecond, P99: p99, Max: 41 * time.Millisecond,
			RedisBytesPerCustomer: 312.4, PeakRSSBytes: rss, CPUSecondsPerMillion: 5.43, GCShare: 0.29,
			Verified: true,
		}
	}
	return Report{
		Date:    time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Command: "make bench",
		Machine: Machine{
			CPU: "AMD EPYC 7763 64-Core Processor", Cores: 4, MemoryBytes: 16 << 30,
			OS: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-18-amd64", GoVersion: "go1.26.8",
			RedisVersion: "7.0.15", Broker: "kfake (franz-go), in-process, loopback TCP",
		},
		Targets: DefaultTargets(),
		Runs: []Run{
			run(172_340, 910_000, 402_000, 12300*time.Microsecond, 123<<20),
			run(178_000, 890_000, 398_000, 11900*time.Microsecond, 128<<20),
			run(163_900, 930_000, 405_000, 61*time.Millisecond, 121<<20),
		},
		HotPath: []GoBench{
			{Package: "github.com/ltv-stream/ltv-stream/internal/decode", Name: "BenchmarkDecode", Procs: 4,
				N: 987654, NsPerOp: 1052, BytesPerOp: 256, AllocsPerOp: 3,
				Extra: map[string]float64{"events/s": 950_000, "MB/s": 123.45}},
			{Package: "github.com/ltv-stream/ltv-stream/internal/aggregate", Name: "BenchmarkApply", Procs: 1,
				N: 100, NsPerOp: 1100, BytesPerOp: -1, AllocsPerOp: -1},
		},
		Notes: []string{"The broker runs in-process.", "  ", "Redis | runs on loopback."},
	}
}

// sampleWith is, for the test tables, sampleReport changed by edit.
func sampleWith(edit func(r *Report)) func() Report {
	return func() Report {
		r := sampleReport()
		edit(&r)
		return r
	}
}

// sampleRuns is sampleReport with edit applied to each run (i its index).
func sampleRuns(edit func(i int, r *Run)) func() Report {
	return sampleWith(func(r *Report) {
		for i := range r.Runs {
			edit(i, &r.Runs[i])
		}
	})
}
