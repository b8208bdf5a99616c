// Command api-bench is the benchmark behind `make bench-api`: the read API
// of `ltvctl serve` (the built binary, as a child process) over a fresh
// redis-server holding many customers, measured from a load generator on
// the same machine. It measures
//
//   - single GET p99 at a fixed offered rate (open loop: each request's
//     latency counts from the moment it was due, so a stall is not hidden
//     by requests that were never sent);
//   - batchGet of 100 ids p99 at a fixed rate;
//   - the maximum requests/s of single GETs with many clients;
//
// and writes docs/benchmarks-api.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/bench"
	"github.com/ltv-stream/ltv-stream/internal/localredis"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "api-bench: %v\n", err)
		os.Exit(1)
	}
}

// options are the benchmark's parameters.
type options struct {
	customers  int
	rate       int
	batchRate  int
	batchSize  int
	duration   time.Duration
	maxClients int
	maxFor     time.Duration
	out        string
	workDir    string
	apiProcs   int
}

func run(ctx context.Context, args []string, logw io.Writer) error {
	var o options
	fs := flag.NewFlagSet("api-bench", flag.ContinueOnError)
	fs.SetOutput(logw)
	fs.IntVar(&o.customers, "customers", 200_000, "customers written to redis-server")
	fs.IntVar(&o.rate, "rate", 2000, "offered single GETs per second in the latency phase")
	fs.IntVar(&o.batchRate, "batch-rate", 100, "offered batchGets per second in the batch phase")
	fs.IntVar(&o.batchSize, "batch-size", 100, "ids per batchGet")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "length of each fixed-rate phase")
	fs.IntVar(&o.maxClients, "max-clients", 32, "concurrent clients in the maximum-throughput phase")
	fs.DurationVar(&o.maxFor, "max-duration", 10*time.Second, "length of the maximum-throughput phase")
	fs.StringVar(&o.out, "out", "docs/benchmarks-api.md", "report to write (empty: print only)")
	fs.IntVar(&o.apiProcs, "api-procs", 0, "GOMAXPROCS of ltvctl serve (0: Go's default, every core, as ltvctl serve runs unless told otherwise; 1: as a container limited to one CPU would run it)")
	fs.StringVar(&o.workDir, "workdir", "", "directory for the binary and redis-server (default: a temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.customers < o.batchSize || o.rate <= 0 || o.batchRate <= 0 || o.batchSize <= 0 || o.batchSize > 1000 || o.duration <= 0 || o.maxClients <= 0 {
		return fmt.Errorf("bad options: customers ≥ batch-size, positive rates and durations, batch-size ≤ 1000")
	}
	res, err := benchmark(ctx, o, logw)
	if err != nil {
		return err
	}
	report := res.markdown()
	fmt.Fprint(logw, "\n"+report)
	if o.out == "" {
		return nil
	}
	// A report committed to the repository: readable by everyone.
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil { //nolint:gosec // G306, see above
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(logw, "wrote %s\n", o.out)
	return nil
}

// phase is one measured phase.
type phase struct {
	name      string
	offered   string // the offered load, as shown
	requests  int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	// apiCPU and redisCPU are the CPU time the two processes used.
	apiCPU, redisCPU time.Duration
	target           time.Duration // p99 target; 0: none
	// serverP99 is the API's own p99 (from its latency histogram: the
	// upper bound of the bucket holding it), without the client's and the
	// network's share; 0 when unknown.
	serverP99 time.Duration
	// load is the machine's 1-minute load average at the phase's end.
	load string
	// late is, per request of an open-loop phase, how long after its due
	// time the generator sent it (sorted; nil for closed loops).
	late []time.Duration
}

func (p *phase) percentile(q float64) time.Duration {
	if len(p.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(p.latencies))+0.5) - 1
	return p.latencies[min(max(i, 0), len(p.latencies)-1)]
}

func (p *phase) rps() float64 { return float64(p.requests) / p.elapsed.Seconds() }

// results is everything the report shows.
type results struct {
	opt       options
	started   time.Time
	loadTook  time.Duration
	redisMem  string
	redisVer  string
	phases    []*phase
	goVersion string
}

// benchmark builds ltvctl, starts redis-server, writes the customers,
// starts ltvctl serve and runs the phases.
func benchmark(ctx context.Context, o options, logw io.Writer) (*results, error) {
	res := &results{opt: o, started: time.Now().UTC(), goVersion: runtime.Version()}
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "api-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, format+"\n", args...) }

	logf("building ltvctl…")
	bin := filepath.Join(dir, "ltvctl")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/ltv-stream/ltv-stream/cmd/ltvctl").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build ltvctl: %w\n%s", err, out)
	}
	rs, rc, err := localredis.StartIn(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		return nil, err
	}
	defer rs.Stop()
	defer rc.Close()

	logf("writing %d customers to %s…", o.customers, rs)
	start := time.Now()
	if err := writeCustomers(ctx, rc, o.customers); err != nil {
		return nil, err
	}
	res.loadTook = time.Since(start)
	info, _ := rc.Info(ctx, "memory", "server").Result()
	res.redisMem, res.redisVer = infoField(info, "used_memory_human"), infoField(info, "redis_version")

	port, err := localredis.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LTV_REDIS_URL=" + rs.URL(), "LTV_API_ADDR=" + addr,
		"LTV_KAFKA_BROKERS=127.0.0.1:1", "LTV_LOG_LEVEL=warn"}
	if o.apiProcs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(o.apiProcs))
	}
	cmd.Stdout, cmd.Stderr = io.Discard, logw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ltvctl serve: %w", err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}, Timeout: 10 * time.Second}
	if err := waitHealthy(ctx, client, base); err != nil {
		return nil, err
	}
	pids := map[string]int{"api": cmd.Process.Pid, "redis": rs.Pid()}

	ids := func(r *rand.Rand) string { return customerID(r.IntN(o.customers)) }
	single := func(r *rand.Rand) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, base+"/v1/customers/"+ids(r), nil)
	}
	batch := func(r *rand.Rand) (*http.Request, error) {
		var b bytes.Buffer
		b.WriteString(`{"ids":[`)
		for i := range o.batchSize {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + ids(r) + `"`)
		}
		b.WriteString(`]}`)
		req, err := http.NewRequest(http.MethodPost, base+"/v1/customers:batchGet", &b)
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}

	logf("warming up…")
	if _, err := openLoop(ctx, client, single, o.rate, 2*time.Second, pids); err != nil {
		return nil, err
	}
	const getRoute, batchRoute = "GET /v1/customers/{id}", "POST /v1/customers:batchGet"
	logf("single GET at %d/s for %s…", o.rate, o.duration)
	before := scrape(client, base)
	p, err := openLoop(ctx, client, single, o.rate, o.duration, pids)
	if err != nil {
		return nil, err
	}
	p.serverP99, p.load = serverP99(before, scrape(client, base), getRoute), loadAverage()
	p.name, p.offered, p.target = "single GET", fmt.Sprintf("%d/s", o.rate), time.Millisecond
	res.phases = append(res.phases, p)

	logf("batchGet of %d at %d/s for %s…", o.batchSize, o.batchRate, o.duration)
	before = scrape(client, base)
	p, err = openLoop(ctx, client, batch, o.batchRate, o.duration, pids)
	if err != nil {
		return nil, err
	}
	p.serverP99, p.load = serverP99(before, scrape(client, base), batchRoute), loadAverage()
	p.name, p.offered, p.target = fmt.Sprintf("batchGet of %d", o.batchSize), fmt.Sprintf("%d/s (%d customers/s)", o.batchRate, o.batchRate*o.batchSize), 5*time.Millisecond
	res.phases = append(res.phases, p)

	logf("single GET, %d clients as fast as they can, for %s…", o.maxClients, o.maxFor)
	before = scrape(client, base)
	p, err = closedLoop(ctx, client, single, o.maxClients, o.maxFor, pids)
	if err != nil {
		return nil, err
	}
	p.serverP99, p.load = serverP99(before, scrape(client, base), getRoute), loadAverage()
	p.name, p.offered = "single GET, maximum", fmt.Sprintf("%d clients, no pause", o.maxClients)
	res.phases = append(res.phases, p)
	return res, nil
}

// bucketLine is one bucket of the API's latency histogram.
var bucketLine = regexp.MustCompile(`^ltv_api_request_duration_seconds_bucket\{code="200",route="([^"]+)",le="([^"]+)"\} (\d+)`)

// scrape reads the API's latency histogram: cumulative counts per route
// and upper bound.
func scrape(client *http.Client, base string) map[string]map[float64]float64 {
	out := map[string]map[float64]float64{}
	res, err := client.Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		m := bucketLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		le, err1 := strconv.ParseFloat(m[2], 64)
		n, err2 := strconv.ParseFloat(m[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if out[m[1]] == nil {
			out[m[1]] = map[float64]float64{}
		}
		out[m[1]][le] = n
	}
	return out
}

// serverP99 is the upper bound of the histogram bucket holding the 99th
// percentile of the route's requests between two scrapes.
func serverP99(before, after map[string]map[float64]float64, route string) time.Duration {
	var les []float64
	for le := range after[route] {
		les = append(les, le)
	}
	slices.Sort(les)
	if len(les) == 0 {
		return 0
	}
	total := after[route][les[len(les)-1]] - before[route][les[len(les)-1]]
	for _, le := range les {
		if after[route][le]-before[route][le] >= 0.99*total {
			if math.IsInf(le, 1) {
				return 0
			}
			return time.Duration(le * float64(time.Second))
		}
	}
	return 0
}

// loadAverage is the 1-minute load average, as /proc/loadavg gives it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// customerID is the id of the i-th benchmark customer.
func customerID(i int) string { return fmt.Sprintf("c-%07d", i) }

// writeCustomers writes n customer hashes shaped as the updater writes
// them: the 16 public fields of SPEC §3 with typical values, and a
// private bookkeeping blob.
func writeCustomers(ctx context.Context, rc *redis.Client, n int) error {
	r := rand.New(rand.NewPCG(1, 2))
	channels := []string{"paid_search", "organic", "email", "direct", "social"}
	tiers := []string{"bronze", "silver", "gold", "platinum"}
	segments := []string{"new", "active", "at_risk", "lapsed", "churned"}
	blob := strings.Repeat("\x07", 48)
	for lo := 0; lo < n; lo += 1000 {
		_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+1000, n); i++ {
				orders := 1 + r.IntN(20)
				revenue := float64(orders) * (50 + r.Float64()*400)
				p.HSet(ctx, store.Key(customerID(i)),
					"orders", strconv.Itoa(orders), "revenue", fmt.Sprintf("%.2f", revenue),
					"gross_profit", fmt.Sprintf("%.2f", revenue*0.4), "refunds", "0.00",
					"first_order_at", "2025-03-01T12:00:00Z", "last_order_at", "2026-09-01T12:00:00Z",
					"aov", fmt.Sprintf("%.2f", revenue/float64(orders)), "frequency", fmt.Sprintf("%.4f", float64(orders)/1.5),
					"tenure_days", "549.00", "churned", "0", "ltv", fmt.Sprintf("%.2f", revenue*0.8),
					"tier", tiers[r.IntN(len(tiers))], "updated_at", "2026-11-23T07:31:45Z",
					"channel", channels[r.IntN(len(channels))], "segment", segments[r.IntN(len(segments))],
					"segment_since", "2026-09-01T12:00:00Z", "_g", blob)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write customers: %w", err)
		}
	}
	return nil
}

func infoField(info, name string) string {
	if v, ok := store.InfoField(info, name); ok {
		return v
	}
	return "?"
}

func waitHealthy(ctx context.Context, client *http.Client, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := client.Get(base + "/healthz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/healthz answered %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ltvctl serve not healthy after 30 s: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// do sends one request and reads the whole answer; a status other than
// 200 is an error.
func do(client *http.Client, req *http.Request) error {
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	return err
}

// openLoop offers rate requests per second for d: request i is due at
// start + i/rate and its latency counts from then. Enough senders are
// kept that a slow answer does not delay the next request's sending.
func openLoop(ctx context.Context, client *http.Client, mk func(*rand.Rand) (*http.Request, error), rate int, d time.Duration, pids map[string]int) (*phase, error) {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, total)
	late := make([]time.Duration, total)
	var fails failures
	due := make(chan int, total)
	senders := 64
	start := time.Now().Add(10 * time.Millisecond)
	cpu := startCPU(pids)
	for i := range total {
		due <- i
	}
	close(due)
	concurrently(senders, 7, func(r *rand.Rand) {
		for i := range due {
			at := start.Add(time.Duration(i) * interval)
			if wait := time.Until(at); wait > 0 {
				time.Sleep(wait)
			}
			req, err := mk(r)
			sent := time.Now()
			if err == nil {
				err = do(client, req.WithContext(ctx))
			}
			lat[i], late[i] = time.Since(sent), max(sent.Sub(at), 0)
			fails.add(err)
		}
	})
	p, err := finish(ctx, lat, time.Since(start), cpu, &fails)
	if p != nil {
		slices.Sort(late)
		p.late = late
	}
	return p, err
}

// failures counts a phase's failed requests and keeps the first error for
// the report; a phase's goroutines record into it concurrently.
type failures struct {
	n     atomic.Int64
	first atomic.Value
}

// add records err unless it is nil.
func (f *failures) add(err error) {
	if err != nil {
		f.n.Add(1)
		f.first.CompareAndSwap(nil, err)
	}
}

// concurrently runs n goroutines and waits for them all. Each has its own
// random source, seeded by its index and seed, so a phase asks for the
// same customers on every run.
func concurrently(n int, seed uint64, work func(r *rand.Rand)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(rand.New(rand.NewPCG(uint64(i), seed)))
		}()
	}
	wg.Wait()
}

// finish makes the phase of a run: its latencies sorted, the CPU used,
// and an error if any request failed or ctx ended.
func finish(ctx context.Context, lat []time.Duration, elapsed time.Duration, cpu func() (time.Duration, time.Duration), fails *failures) (*phase, error) {
	p := &phase{requests: len(lat), errors: int(fails.n.Load()), elapsed: elapsed, latencies: lat}
	p.apiCPU, p.redisCPU = cpu()
	slices.Sort(p.latencies)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if p.errors > 0 {
		return nil, fmt.Errorf("%d of %d requests failed, the first: %v", p.errors, p.requests, fails.first.Load())
	}
	return p, nil
}

// closedLoop runs clients that each send the next request as soon as the
// last is answered, for d.
func closedLoop(ctx context.Context, client *http.Client, mk func(*rand.Rand) (*http.Request, error), clients int, d time.Duration, pids map[string]int) (*phase, error) {
	var mu sync.Mutex
	var all []time.Duration
	var fails failures
	start := time.Now()
	end := start.Add(d)
	cpu := startCPU(pids)
	concurrently(clients, 11, func(r *rand.Rand) {
		var mine []time.Duration
		for time.Now().Before(end) && ctx.Err() == nil {
			t0 := time.Now()
			req, err := mk(r)
			if err == nil {
				err = do(client, req.WithContext(ctx))
			}
			mine = append(mine, time.Since(t0))
			fails.add(err)
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	return finish(ctx, all, time.Since(start), cpu, &fails)
}

// startCPU notes the processes' CPU times; the returned function gives
// what each used since.
func startCPU(pids map[string]int) func() (api, redis time.Duration) {
	a0, _ := bench.CPUTime(pids["api"])
	r0, _ := bench.CPUTime(pids["redis"])
	return func() (time.Duration, time.Duration) {
		a1, _ := bench.CPUTime(pids["api"])
		r1, _ := bench.CPUTime(pids["redis"])
		return a1 - a0, r1 - r0
	}
}

func procsText(n int) string {
	if n <= 0 {
		return "Go's default GOMAXPROCS (every core)"
	}
	return fmt.Sprintf("GOMAXPROCS=%d (`-api-procs`; a container limited to %d CPU gets the same from Go by itself)", n, n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

// markdown renders the report.
func (r *results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Read API benchmark\n\n")
	fmt.Fprintf(&b, "Generated by `make bench-api` (`go run ./cmd/api-bench`) on %s; do not edit by hand.\n\n", r.started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "`ltvctl serve` (the built binary) answers over loopback HTTP from a fresh redis-server %s holding %d customers "+
		"(%s; written in %s), shaped as the updater writes them (16 public fields and a private blob). "+
		"The load generator runs on the same machine (%d cores, %s), as do Redis and the API: all three share the cores. "+
		"The API runs with %s.\n\n",
		r.redisVer, r.opt.customers, r.redisMem, r.loadTook.Round(time.Millisecond), runtime.NumCPU(), r.goVersion, procsText(r.opt.apiProcs))
	fmt.Fprintf(&b, "Fixed-rate phases are open loop: request i is due at i/rate, and 64 senders keep requests going out when due "+
		"while earlier ones wait, so a slow answer does not hold back the next requests. Latency counts from the moment a request is sent; "+
		"\"sent late p99\" is how late the generator sent the requests (its timers and the shared cores' scheduling): a server stall "+
		"that kept every sender waiting would show there. Ids are drawn uniformly from all customers. "+
		"The percentiles are the client's (loopback HTTP, the load generator's own scheduling included); "+
		"\"API's own p99\" is the upper bound of the bucket of the API's latency histogram (`/metrics`) that holds its 99th percentile: "+
		"the time from the request read to the answer written. \"load avg\" is the machine's 1-minute load average at the phase's end "+
		"(above 2, processes were waiting for the 2 cores).\n\n")
	fmt.Fprintf(&b, "| phase | offered load | requests | answered/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | target p99 | met | API's own p99 ms | sent late p99 ms | API CPU µs/req | Redis CPU µs/req | load avg |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|\n")
	for _, p := range r.phases {
		target, met := "—", "—"
		if p.target > 0 {
			target = fmt.Sprintf("≤ %g ms", float64(p.target)/float64(time.Millisecond))
			met = "no"
			if p.percentile(0.99) <= p.target {
				met = "yes"
			}
		}
		perReq := func(d time.Duration) string {
			return fmt.Sprintf("%.0f", float64(d.Microseconds())/float64(max(p.requests, 1)))
		}
		own := "?"
		if p.serverP99 > 0 {
			own = "≤ " + ms(p.serverP99)
		}
		late := "—"
		if len(p.late) > 0 {
			late = ms(p.late[min(int(0.99*float64(len(p.late))), len(p.late)-1)])
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.name, p.offered, p.requests, p.rps(),
			ms(p.percentile(0.50)), ms(p.percentile(0.90)), ms(p.percentile(0.99)), ms(p.percentile(0.999)), ms(p.percentile(1)),
			target, met, own, late, perReq(p.apiCPU), perReq(p.redisCPU), p.load)
	}
	last := r.phases[len(r.phases)-1]
	fmt.Fprintf(&b, "\n**Maximum:** %.0f single GETs/s with %d concurrent clients (p99 %s ms), the load generator included on the same %d cores.\n",
		last.rps(), r.opt.maxClients, ms(last.percentile(0.99)), runtime.NumCPU())
	fmt.Fprintf(&b, "\nRun it again with `make bench-api`; `go run ./cmd/api-bench -h` lists the options "+
		"(customers, rates, durations, clients). Single runs on a shared machine vary; compare CPU per request between builds.\n")
	return b.String()
}
