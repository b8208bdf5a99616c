// Command consumer is the LTV updater service: it reads order and lifecycle
// events from Kafka, keeps per-customer LTV state in Redis and publishes
// tier and segment changes (and dead letters for bad input). Configuration: SPEC §7 (environment variables, flags that
// override them, and a YAML file named by LTV_CONFIG). Run with -h for the
// full list.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"go.uber.org/zap"
)

func main() {
	os.Exit(run())
}

// faultHook, set only by faultinject.go in a build with the faultinject
// tag, reads the crash-test settings and returns the hook that makes the
// process kill itself after a batch's durable steps. A production build
// has no such switch.
var faultHook func(getenv func(string) string, log *zap.Logger) (func(stage string), error)

// gcSettings decides the garbage collector's settings, trading memory the
// service has for CPU it lacks: the pipeline allocates per event but keeps
// little alive, so Go's default (collect whenever the heap doubles) runs
// the collector several times a second under load. Unless the operator set
// GOGC, collect when the heap grows 4x; unless the operator set GOMEMLIMIT
// (a container limit usually does), keep the soft limit of
// defaultMemoryLimit. Each is decided on its own: a GOMEMLIMIT alone keeps
// the measured GOGC. A zero limit means GOMEMLIMIT is the operator's.
func gcSettings(cfg *config.Config, getenv func(string) string) (gcPercent int, memoryLimit int64) {
	if getenv("GOGC") == "" {
		gcPercent = 400
	}
	if getenv("GOMEMLIMIT") == "" {
		memoryLimit = defaultMemoryLimit(cfg.StateCacheBytes, cfg.Workers, cfg.MaxBatch)
	}
	return gcPercent, memoryLimit
}

// baseHeap is the heap besides the state cache that the consumer's soft
// memory limit allows at the default workers and batch size: what they
// have in flight (fetched records, the event-time merge, a batch's loaded
// customers, writes and outputs) plus room for the garbage made between
// two collections.
const baseHeap = 128 << 20

// defaultMemoryLimit is the soft memory limit for a state cache of
// cacheBytes and workers batches of up to maxBatch records. With the
// defaults it is 128 MiB plus the 48 MiB cache. A soft limit close to
// what is live makes the collector run back to back (it then takes up to
// half the CPU), so the part besides the cache grows with workers ×
// maxBatch, which is what the workers hold in flight, and a cache smaller
// than the default leaves its memory to the Redis replies of the loads it
// no longer saves. (A fixed limit cost several times the CPU per event with
// 8 workers or with the cache off: performance.md, "Design decisions".)
func defaultMemoryLimit(cacheBytes, workers, maxBatch int) int64 {
	limit := int64(baseHeap)
	if inFlight, base := int64(workers)*int64(maxBatch), int64(stream.DefaultWorkers*stream.DefaultMaxBatch); inFlight > base {
		limit = limit * inFlight / base
	}
	return limit + max(int64(cacheBytes), store.DefaultCacheBytes)
}

// belowDefaultLimit says whether a memory limit is below the one the
// consumer would set itself for cfg, which it returns.
func belowDefaultLimit(cfg *config.Config, limit int64) (int64, bool) {
	want := defaultMemoryLimit(cfg.StateCacheBytes, cfg.Workers, cfg.MaxBatch)
	return want, limit < want
}

// tuneGC applies gcSettings and logs what the collector runs with, with a
// warning when the operator's GOMEMLIMIT is below the limit these settings
// would get by default: the collector may then take much of the CPU.
func tuneGC(cfg *config.Config, getenv func(string) string, log *zap.Logger) {
	gcPercent, memoryLimit := gcSettings(cfg, getenv)
	if gcPercent != 0 {
		debug.SetGCPercent(gcPercent)
	}
	if memoryLimit != 0 {
		debug.SetMemoryLimit(memoryLimit)
	}
	limit := debug.SetMemoryLimit(-1) // a negative limit only reads it
	log.Info("garbage collector",
		zap.String("gogc", cmp.Or(getenv("GOGC"), strconv.Itoa(gcPercent))),
		zap.Int64("memory_limit_bytes", limit),
		zap.Bool("memory_limit_from_env", memoryLimit == 0))
	if want, below := belowDefaultLimit(cfg, limit); below {
		log.Warn("GOMEMLIMIT is below the soft memory limit the consumer sets itself for this state cache, workers and batch size; the garbage collector may take much of the CPU (see \"The Go runtime\" in docs/configuration.md)",
			zap.Int64("memory_limit_bytes", limit), zap.Int64("default_bytes", want))
	}
}

func run() int {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		return healthcheck(os.Args[2:], os.Getenv, os.Stderr)
	}
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "consumer: %v\n", err)
		return 2
	}
	log, err := service.NewLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "consumer: logger: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	tuneGC(cfg, os.Getenv, log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := service.Options{Logger: log}
	if faultHook != nil { // only in a build with the faultinject tag
		if opts.AfterStage, err = faultHook(os.Getenv, log); err != nil {
			fmt.Fprintf(os.Stderr, "consumer: %v\n", err)
			return 2
		}
	}
	if err := service.Run(ctx, cfg, opts); err != nil {
		log.Error("consumer failed", zap.Error(err))
		return 1
	}
	return 0
}

// healthcheck is `consumer healthcheck [--url URL]`: it probes a running
// instance's /readyz and exits 0 when ready, 1 otherwise. The container
// image has no shell or curl (distroless), so Docker's HEALTHCHECK and
// docker-compose call the binary itself.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := "http://" + probeAddr(getenv("LTV_HTTP_ADDR")) + "/readyz"
	url := fs.String("url", def, "readiness URL to probe (its default is made from LTV_HTTP_ADDR)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s: %s %s\n", *url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}

// probeAddr is where a probe on this host reaches a listen address such as
// ":8080", "0.0.0.0:9000" or "127.0.0.2:8080": its own host when it names
// one, loopback when it listens on every address (127.0.0.1:8080 when
// unset or unparsable).
func probeAddr(addr string) string {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil || port == "" || port == "0" {
		return "127.0.0.1:8080"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
