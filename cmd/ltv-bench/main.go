// Command ltv-bench is the benchmark behind `make bench`. It builds the
// consumer, runs the end-to-end benchmark (internal/bench) several times
// with fresh servers, runs the hot-path Go benchmarks, and writes
// docs/benchmarks.md and its PNG chart from the measured numbers (medians
// over the runs). With -compare or -compare-env it instead runs two
// builds or settings alternately and prints a paired comparison.
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/bench"
	"github.com/ltv-stream/ltv-stream/internal/benchreport"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "ltv-bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		runs      = flag.Int("runs", 3, "complete runs; the report shows their medians")
		events    = flag.Int("events", 1_000_000, "input events in the throughput phase")
		customers = flag.Int("customers", 200_000, "customers in the simulated streams")
		rate      = flag.Int("rate", 10_000, "offered load (events/s) in the latency phase")
		latFor    = flag.Duration("latency-duration", 20*time.Second, "sampled length of the latency phase")
		warmup    = flag.Duration("latency-warmup", 3*time.Second, "unsampled warm-up of the latency phase")
		out       = flag.String("out", "docs/benchmarks.md", "markdown report to write (its chart goes next to it as .png); empty: print only")
		hotPath   = flag.Bool("hotpath", true, "also run the hot-path `go test -bench -benchmem` benchmarks")
		noVerify  = flag.Bool("no-verify", false, "skip checking the final Redis state against the independent recomputation")
		keep      = flag.Bool("keep", false, "keep the work directory (consumer logs)")
		prebuilt  = flag.String("consumer-binary", "", "run this consumer binary instead of building ./cmd/consumer (to compare two builds)")
		scale     = flag.String("scale", "50000,500000", "customer counts of the scale series: one more throughput run of -events events each, per run (empty: none)")
		onlyTput  = flag.Bool("throughput-only", false, "run only the consumer's throughput phase (no ceilings, latency or scale series): for comparing two builds run after run; implies -no-verify and -hotpath=false")
		predict   = flag.Bool("predictive", false, "run the consumer with the predictive model on (the SPEC §9 example block); implies -no-verify, since the recomputation knows the default model only")
	)
	var consumerEnv, compareEnv multiFlag
	flag.Var(&consumerEnv, "consumer-env", "KEY=VALUE added to the consumer's environment (repeatable), e.g. LTV_WORKERS=6")
	compareWith := flag.String("compare", "", "a second consumer binary (B) to compare with the first (A: -consumer-binary, or ./cmd/consumer built): -runs pairs of throughput runs, alternately, printed as a paired comparison (-out: written there too, only if given)")
	compareLatency := flag.Bool("compare-latency", false, "with -compare or -compare-env: each run takes the latency phase too, after the throughput phase (about 30 s more a run)")
	flag.Var(&compareEnv, "compare-env", "KEY=VALUE added to the environment of B only (repeatable): compares a setting, with the same binary unless -compare is given")
	flag.Parse()
	outGiven := false
	flag.Visit(func(f *flag.Flag) { outGiven = outGiven || f.Name == "out" })
	scaleCustomers, err := parseCounts(*scale)
	if err != nil {
		return fmt.Errorf("-scale: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	work, err := os.MkdirTemp("", "ltv-bench-")
	if err != nil {
		return err
	}
	if *keep {
		logf("work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	if *predict {
		path := filepath.Join(work, "predictive.yaml")
		if err := os.WriteFile(path, []byte(spectest.Predictive), 0o600); err != nil {
			return err
		}
		consumerEnv = append(consumerEnv, "LTV_CONFIG="+path)
		*noVerify = true
	}
	if *onlyTput {
		*noVerify, *hotPath = true, false
	}
	binary := *prebuilt
	if binary == "" {
		binary = filepath.Join(work, "consumer")
		logf("building the consumer")
		if outp, err := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/consumer").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/consumer: %w\n%s", err, outp)
		}
	}

	if *compareWith != "" || len(compareEnv) > 0 {
		compareOut := ""
		if outGiven {
			compareOut = *out
		}
		return runComparison(ctx, comparison{
			a:     side{name: "A", binary: binary},
			b:     side{name: "B", binary: cmp.Or(*compareWith, binary), env: compareEnv},
			pairs: *runs,
			log:   logf,
		}, bench.Config{
			Events: *events, Customers: *customers, ConsumerEnv: consumerEnv, WorkDir: work, Log: logf,
			OfferedRate: *rate, LatencyDuration: *latFor, LatencyWarmup: *warmup, LatencyToo: *compareLatency,
		}, compareOut)
	}

	report := benchreport.Report{
		Date:    time.Now().UTC(),
		Command: command(),
		Machine: describeMachine(),
		Targets: benchreport.DefaultTargets(),
	}
	for i := 1; i <= *runs; i++ {
		logf("run %d of %d", i, *runs)
		r, err := bench.Run(ctx, bench.Config{
			Events: *events, Customers: *customers, OfferedRate: *rate,
			LatencyDuration: *latFor, LatencyWarmup: *warmup,
			Seed: int64(i), ConsumerBinary: binary, ConsumerEnv: consumerEnv, WorkDir: work,
			Log: logf, SkipVerify: *noVerify, ScaleCustomers: scaleCustomers, ThroughputOnly: *onlyTput,
		})
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		report.Runs = append(report.Runs, r)
	}
	if *hotPath {
		logf("hot path: go test -bench -benchmem")
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1",
			"./internal/decode", "./internal/aggregate", "./internal/store", "./internal/pipeline")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("hot-path benchmarks: %w\n%s", err, buf.String())
		}
		if report.HotPath, err = benchreport.ParseGoBench(&buf); err != nil {
			return err
		}
	}
	report.Notes = notes(*events, *customers, *rate, *warmup, *latFor, consumerEnv)

	var md bytes.Buffer
	chartName := ""
	if *out != "" {
		chartName = strings.TrimSuffix(filepath.Base(*out), filepath.Ext(*out)) + ".png"
	}
	if err := benchreport.WriteMarkdown(&md, report, chartName); err != nil {
		return err
	}
	if *out == "" {
		_, err := os.Stdout.Write(md.Bytes())
		return err
	}
	var png bytes.Buffer
	if err := benchreport.WriteChart(&png, report); err != nil {
		return err
	}
	if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil {
		return err
	}
	chartPath := filepath.Join(filepath.Dir(*out), chartName)
	if err := os.WriteFile(chartPath, png.Bytes(), 0o644); err != nil {
		return err
	}
	_, _ = os.Stdout.Write(md.Bytes())
	logf("wrote %s and %s", *out, chartPath)
	return nil
}

func notes(events, customers, rate int, warmup, dur time.Duration, env []string) []string {
	n := []string{
		fmt.Sprintf("Throughput: %s input events (simulator defaults: about 2%% duplicate event ids, 2%% late events, 0.5%% bad records that go to the DLQ) over %s customers, loaded into a fresh broker before the consumer starts; the clock runs from the consumer process's start (group join included) until the group has committed every input offset.",
			strconv.Itoa(events), strconv.Itoa(customers)),
		"Kafka ceiling: a plain kafka-go group reader, configured like the consumer's, reading the same records and doing nothing with them. Redis ceiling: the consumer's exact Redis traffic for the same stream (what passes its state cache: pipelined loads of the customers it holds no copy of, compare-and-set save scripts, pending clears, and SPEC §8's stream times, due queries and timer-index settles; same batches and concurrency, in message order without the event-time merge), recorded once and replayed from Go as fast as Redis takes it, in input events per second.",
		fmt.Sprintf("Latency: %d events/s offered for %s after a %s warm-up that is not sampled; each sample is the time from handing an event to the harness's producer (which lingers 100 µs) until the harness receives the LTV-change event it caused (an upper bound of the append time, as a subscriber sees it).", rate, dur, warmup),
		"Memory: Redis used_memory after the throughput run minus before, divided by the customers; it includes every private bookkeeping field and key. RSS and CPU: the consumer process's peak resident set (VmHWM in /proc) and its user+system CPU time (/proc/<pid>/stat) over the throughput phase, divided by the input events.",
		"The broker (kfake, in the harness process), redis-server and the consumer share the machine's cores, as the targets require.",
		"Floors: the memory floor copies every customer hash as stored after the throughput run, with its public fields only (no field starting with \"_\"), into an empty database of the same server and divides the used_memory delta by the customers; what separates it from the target is all the room the offset guard and the dedupe window of SPEC §6 could have. The CPU budget is what the machine's cores can spend per event at the throughput target. Kafka alone is the harness process's CPU (broker and raw reader, nothing else running) at the Kafka consume ceiling; Redis alone is redis-server's CPU at the Redis update ceiling; the Redis floor is redis-server's CPU when only the public fields of the consumer's recorded saves are replayed as plain pipelined HSETs, which no design that keeps SPEC §3's hash can undercut. Budget minus Kafka alone minus the Redis floor is the most any consumer could have for decoding, aggregating, encoding, fencing zombies, producing changes and committing.",
	}
	if len(env) > 0 {
		n = append(n, "Consumer settings: "+strings.Join(env, " ")+".")
	}
	return n
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// describeMachine reads what the report needs to say about this machine.
func describeMachine() benchreport.Machine {
	m := benchreport.Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Broker:    "kfake (franz-go), in the harness process, over loopback TCP",
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.MemoryBytes = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if outp, err := exec.Command("redis-server", "--version").Output(); err == nil {
		m.RedisVersion = strings.TrimSpace(string(outp))
	}
	return m
}

// parseCounts reads a comma-separated list of positive counts ("" is
// none).
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// command is how the report says it was made: "make bench" for the
// default run, else the flags given.
func command() string {
	if len(os.Args) <= 1 {
		return "make bench"
	}
	args := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		args[i] = a
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return "ltv-bench " + strings.Join(args, " ")
}
