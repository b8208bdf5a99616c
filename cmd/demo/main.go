// Command demo runs the whole LTV pipeline in one process with nothing
// installed: an embedded Kafka-protocol broker (franz-go's kfake) and an
// embedded Redis (miniredis), both on loopback TCP, the real updater
// service (the same code as cmd/consumer), the simulator producing into
// the input topics, a subscriber printing tier and segment changes as they arrive, and
// the read API with its live dashboard (ltvctl serve's), whose URL it
// prints first. It ends with a summary: events/s, customers per tier, DLQ
// count; with --stay it then keeps everything running until Ctrl-C, so
// the dashboard can be looked at. Ctrl-C stops it at any time. Exit
// codes: 0 success (also after Ctrl-C, before the summary or with --stay
// after it), 1 runtime error, 2 usage error (a flag the demo cannot
// honour, refused before anything starts).
//
// It is a demo: the embedded Redis runs Lua far slower than redis-server,
// so the figures are not the service's real throughput (see
// docs/performance.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type options struct {
	events, customers int
	seed              int64
	dupRate, lateRate float64
	badRate           float64
	linesPerSecond    int
	rate              int
	verbose           bool
	// apiAddr is where the read API and dashboard listen (a free port
	// when it is taken); stay keeps everything running after the summary
	// until the context ends (Ctrl-C).
	apiAddr string
	stay    bool
}

func main() {
	ctx, stop := interruptContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// interruptContext ends at the first SIGINT or SIGTERM, which stops the
// demo in order; from then on the signals' default handling is back, so
// a second Ctrl-C ends a shutdown that hangs at once (as producer-sim's).
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.events, "events", 20000, "records to simulate")
	fs.IntVar(&o.customers, "customers", 2000, "customers to simulate")
	fs.Int64Var(&o.seed, "seed", 7, "simulator seed (same seed, same stream)")
	fs.Float64Var(&o.dupRate, "duplicate-rate", 0.01, "fraction of records re-sent as producer duplicates")
	fs.Float64Var(&o.lateRate, "late-rate", 0.01, "fraction of events delivered late (out of order)")
	fs.Float64Var(&o.badRate, "bad-rate", 0.005, "fraction of bad records (they go to the DLQ)")
	fs.IntVar(&o.linesPerSecond, "lines-per-second", 25, "at most this many tier-change lines, and as many segment-change lines, per second (the rest are counted)")
	fs.IntVar(&o.rate, "rate", 5000, "records produced per second, so changes appear live (0 = as fast as possible)")
	fs.BoolVar(&o.verbose, "v", false, "show the service's logs")
	fs.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:8081", "address of the read API and live dashboard (a free port if taken)")
	fs.BoolVar(&o.stay, "stay", false, "after the summary, keep broker, Redis, updater and dashboard running until Ctrl-C")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: demo [flags]\n\nRuns broker, Redis, updater, simulator and a change subscriber in one process.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "demo: %v\nRun 'demo -h' for usage.\n", err)
		return 2
	}
	if err := demo(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

// validate refuses values the demo cannot honour before anything starts.
// The simulator reads a 0 as "its default", so a 0 given here must be
// refused rather than passed on.
func (o *options) validate() error {
	switch {
	case o.events < 1:
		return fmt.Errorf("--events must be at least 1, got %d", o.events)
	case o.customers < 1:
		return fmt.Errorf("--customers must be at least 1, got %d", o.customers)
	case o.rate < 0:
		return fmt.Errorf("--rate must be at least 0, got %d", o.rate)
	case o.linesPerSecond < 0:
		return fmt.Errorf("--lines-per-second must be at least 0, got %d", o.linesPerSecond)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"duplicate-rate", o.dupRate}, {"late-rate", o.lateRate}, {"bad-rate", o.badRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("--%s must be in [0, 1], got %v", r.name, r.v)
		}
	}
	// The rest (the customer limit, the fault rates' sum) is the
	// simulator's own check.
	if _, err := sim.NewGenerator(o.simConfig()); err != nil {
		return fmt.Errorf("--customers, --events and the rates: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// simConfig is the simulator's configuration for the demo's flags.
func (o *options) simConfig() sim.Config {
	cfg := sim.Config{
		Seed: o.seed, Customers: o.customers, Events: o.events,
		DuplicateRate: o.dupRate, LateRate: o.lateRate, BadRate: o.badRate,
	}
	for _, r := range []*float64{&cfg.DuplicateRate, &cfg.LateRate, &cfg.BadRate} {
		if *r == 0 {
			*r = sim.Off // an explicit 0 means none, whatever the default
		}
	}
	return cfg
}

func demo(ctx context.Context, o options, out io.Writer) error {
	// 1. Embedded Kafka-protocol broker and Redis, both on loopback TCP.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(6, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic, settings.DefaultChangesTopic, settings.DefaultSegmentsTopic, settings.DefaultDLQTopic),
		kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		return fmt.Errorf("start embedded broker: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return fmt.Errorf("start embedded redis: %w", err)
	}
	defer mr.Close()
	fmt.Fprintf(out, "embedded Kafka-protocol broker on %s, embedded Redis on %s\n", strings.Join(brokers, ","), mr.Addr())

	// 2. The real updater service.
	cfg, err := config.Load([]string{"--http-addr", "127.0.0.1:0", "--kafka-brokers", strings.Join(brokers, ","),
		"--redis-url", "redis://" + mr.Addr() + "/0"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		return err
	}
	logger := zap.NewNop()
	if o.verbose {
		zc := zap.NewDevelopmentConfig()
		zc.Level = zap.NewAtomicLevelAt(zapcore.InfoLevel)
		logger, _ = zc.Build()
	}
	svcCtx, stopSvc := context.WithCancel(ctx)
	defer stopSvc()
	svcDone := make(chan error, 1)
	var httpAddr atomic.Value
	go func() {
		svcDone <- service.Run(svcCtx, cfg, service.Options{Logger: logger, Listening: func(a string) { httpAddr.Store(a) }})
	}()

	// The read API and the dashboard, as ltvctl serve runs them.
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer stopAPI()
	apiDone, url, err := startAPI(apiCtx, cfg, o.apiAddr, logger)
	if err != nil {
		return err
	}
	defer func() {
		stopAPI()
		if err := <-apiDone; err != nil {
			logger.Warn("dashboard stopped with an error", zap.Error(err))
		}
	}()
	fmt.Fprintf(out, "dashboard and read API on %s (it fills in as the events flow)\n", url)

	// 3. A subscriber, as a loyalty engine would be: prints tier changes.
	printer := newChangePrinter(out, o.linesPerSecond)
	subCtx, stopSub := context.WithCancel(ctx)
	var subWG sync.WaitGroup
	subWG.Add(1)
	go func() { defer subWG.Done(); printer.run(subCtx, brokers) }()

	// stopService stops the updater and waits for it; called again, it
	// returns the first call's result.
	var svcStopped bool
	var svcErr error
	stopService := func() error {
		if !svcStopped {
			svcStopped = true
			stopSvc()
			if err := <-svcDone; err != nil {
				svcErr = fmt.Errorf("service: %w", err)
			}
		}
		return svcErr
	}
	// stopEarly ends the demo before its summary. Ctrl-C (ctx ending) is
	// the user stopping it, not a failure: the updater finishes its
	// in-flight work before the broker and Redis go, and the demo exits 0.
	stopEarly := func(err error) error {
		stopSub()
		subWG.Wait()
		if ctx.Err() == nil {
			return err
		}
		// Interrupted: err is the interruption, or what it caused (a
		// wait that gave up saying how far it got).
		if err := stopService(); err != nil {
			return err
		}
		fmt.Fprintf(out, "\ninterrupted: the demo stopped before its summary\n")
		return nil
	}

	// 4. The simulator produces into the input topics.
	start := time.Now()
	stats, err := produce(ctx, brokers, o, cfg.MaxFutureSkew)
	if err != nil {
		return stopEarly(err)
	}
	fmt.Fprintf(out, "simulator: %d records produced (%d duplicates, %d late, %d bad) for %d customers\n",
		stats.total, stats.dups, stats.late, stats.bad, o.customers)

	// 5. Wait until every input offset is committed.
	if err := stream.WaitCaughtUp(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		return stopEarly(err)
	}
	elapsed := time.Since(start)
	// Every change is on its topic now; the subscriber counts them all
	// before the summary reports its counts.
	if err := printer.waitRead(ctx, brokers, 30*time.Second); err != nil {
		return stopEarly(err)
	}
	stopSub()
	subWG.Wait()
	if !o.stay {
		if err := stopService(); err != nil {
			return err
		}
	}

	// 6. Summary.
	if err := summary(ctx, out, brokers, mr.Addr(), stats, elapsed, o.rate, printer); err != nil {
		return stopEarly(err)
	}
	if !o.stay {
		return nil
	}
	fmt.Fprintf(out, "\nstill serving the dashboard on %s; Ctrl-C stops the demo\n", url)
	<-ctx.Done()
	return stopService()
}

// startAPI runs the read API and dashboard on addr, or on a free loopback
// port when addr is taken, until ctx ends; done receives its end.
func startAPI(ctx context.Context, cfg *config.Config, addr string, log *zap.Logger) (<-chan error, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, "", fmt.Errorf("listen for the dashboard: %w", err)
		}
	}
	done := make(chan error, 1)
	// Fresh statistics every 2 s: the demo's population is small.
	go func() {
		done <- service.ServeAPI(ctx, cfg, ln, service.APIOptions{Logger: log, StatsRefresh: 2 * time.Second, CAC: demoCAC()})
	}()
	return done, service.URLOf(ln.Addr()), nil
}

// demoCAC is an illustrative acquisition cost per new customer (SEK) for
// the simulator's paid channels, so the dashboard's Channels panel shows
// LTV:CAC as an operator would see it with `ltvctl serve --cac`. Organic
// and direct customers cost nothing to acquire and get no ratio.
func demoCAC() map[string]decimal.Decimal {
	return map[string]decimal.Decimal{
		"paid_search": decimal.NewFromInt(1200),
		"social":      decimal.NewFromInt(1900),
		"email":       decimal.NewFromInt(250),
	}
}

// produceStats counts what the simulator produced. ahead counts the
// records other than bad ones dated more than skew after the clock at the
// start: the updater dead-letters them too (SPEC §2, max_future_skew).
type produceStats struct {
	total, dups, late, bad int
	ahead                  int
	skew                   time.Duration
}

func produce(ctx context.Context, brokers []string, o options, skew time.Duration) (produceStats, error) {
	st := produceStats{skew: skew}
	// The updater reads every record after this instant, so its own
	// limit is at least this one.
	aheadAfter := time.Now().Add(skew)
	gen, err := sim.NewGenerator(o.simConfig())
	if err != nil {
		return st, err
	}
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers, BatchSize: 2000})
	if err != nil {
		return st, err
	}
	defer w.Close()
	chunk := 2000
	if o.rate > 0 {
		chunk = max(1, o.rate/20) // 20 produce calls a second
	}
	// Room for a chunk grows as records come: a --rate far beyond what
	// the demo can produce must not reserve memory for rate/20 messages.
	batch := make([]kafka.Message, 0, min(chunk, o.events, 8192))
	started := time.Now()
	flush := func() error {
		err := stream.WriteAll(ctx, w, batch)
		batch = batch[:0]
		return err
	}
	for rec := range gen.All() {
		topic := rec.Topic.String() // SPEC §1's default names
		batch = append(batch, kafka.Message{Topic: topic, Key: rec.Key, Value: rec.Value})
		st.total++
		switch rec.Label {
		case sim.LabelDuplicate:
			st.dups++
		case sim.LabelLate:
			st.late++
		case sim.LabelBad:
			st.bad++
		}
		if skew >= 0 && rec.DatedAfter(aheadAfter) {
			st.ahead++
		}
		if len(batch) >= chunk {
			if err := flush(); err != nil {
				return st, err
			}
			if o.rate > 0 {
				due := started.Add(time.Duration(float64(st.total) / float64(o.rate) * float64(time.Second)))
				select {
				case <-ctx.Done():
					return st, ctx.Err()
				case <-time.After(time.Until(due)):
				}
			}
		}
	}
	return st, flush()
}

// changePrinter prints tier and segment changes as they arrive,
// rate-limited so a fast run stays readable; it counts everything it reads.
type changePrinter struct {
	out      io.Writer
	perSec   int
	mu       sync.Mutex
	read     int
	promoted int
	demoted  int
	segments int
	byTimer  int
	skipped  int
	// consumed counts the messages read, whatever they hold.
	consumed int64
	ids      map[string]bool
	// window and printed rate-limit the lines, tier and segment lines
	// each with their own budget so neither kind crowds out the other.
	window  time.Time
	printed [2]int
}

func newChangePrinter(out io.Writer, perSec int) *changePrinter {
	return &changePrinter{out: out, perSec: perSec, ids: map[string]bool{}}
}

func (p *changePrinter) run(ctx context.Context, brokers []string) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, GroupID: "ltv-demo-printer", GroupTopics: []string{settings.DefaultChangesTopic, settings.DefaultSegmentsTopic},
		MaxWait: 200 * time.Millisecond, StartOffset: kafka.FirstOffset,
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second,
	})
	defer func() { _ = r.Close() }()
	p.window = time.Now()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return
		}
		var c schemas.Change
		if json.Unmarshal(m.Value, &c) == nil {
			p.print(&c)
		}
		p.mu.Lock()
		p.consumed++
		p.mu.Unlock()
	}
}

// waitRead waits until the printer has read as many messages as the
// change topics hold, so its counts cover every change published so far.
func (p *changePrinter) waitRead(ctx context.Context, brokers []string, timeout time.Duration) error {
	var total int64
	for _, topic := range []string{settings.DefaultChangesTopic, settings.DefaultSegmentsTopic} {
		ends, err := stream.EndOffsets(ctx, brokers, topic)
		if err != nil {
			return fmt.Errorf("change topics: %w", err)
		}
		for _, n := range ends {
			total += n
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		read := p.consumed
		p.mu.Unlock()
		if read >= total {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the change subscriber read %d of %d changes in %s", read, total, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// print counts a change and prints it if it is worth a line and the
// second's budget allows.
func (p *changePrinter) print(c *schemas.Change) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids[c.EventID] { // a re-emission: subscribers dedupe by event_id
		return
	}
	p.ids[c.EventID] = true
	var line string
	kind := 0
	if c.Schema == aggregate.SchemaSegment {
		kind = 1
		p.segments++
		cause := ""
		if _, ok := strings.CutPrefix(c.CausedBy, "timer:"); ok {
			p.byTimer++
			cause = "  (" + quietFor(c.LastOrderAt, c.OccurredAt) + " without an order)"
		}
		// Going quiet and coming back are the changes a marketing team acts on.
		if c.Segment == "at_risk" || c.Segment == "lapsed" || c.PreviousSegment == "at_risk" || c.PreviousSegment == "lapsed" {
			line = fmt.Sprintf("◆ %-9s %-8s → %-8s segment, %s%s\n", c.CustomerID, orNew(c.PreviousSegment), orNone(c.Segment), c.OccurredAt[:10], cause)
		}
	} else {
		p.read++
		if c.Direction == "up" {
			p.promoted++
		} else {
			p.demoted++
		}
		if c.PreviousTier != "" || c.Tier == "gold" || c.Tier == "platinum" {
			arrow := "▲"
			if c.Direction == "down" {
				arrow = "▼"
			}
			churn := ""
			if c.Churned {
				churn = " churned"
			}
			line = fmt.Sprintf("%s %-9s %-8s → %-8s ltv %10s  orders %d%s\n", arrow, c.CustomerID, orNew(c.PreviousTier), c.Tier, c.LTV, c.Orders, churn)
		}
	}
	if time.Since(p.window) > time.Second {
		if p.skipped > 0 {
			fmt.Fprintf(p.out, "  … %d more changes\n", p.skipped)
			p.skipped = 0
		}
		p.window, p.printed = time.Now(), [2]int{}
	}
	if line != "" && p.printed[kind] < p.perSec {
		fmt.Fprint(p.out, line)
		p.printed[kind]++
	} else {
		p.skipped++
	}
}

// quietFor renders the time from a customer's last order to a timer's
// due time, in days.
func quietFor(lastOrderAt, due string) string {
	last, err1 := time.Parse(time.RFC3339Nano, lastOrderAt)
	at, err2 := time.Parse(time.RFC3339Nano, due)
	if err1 != nil || err2 != nil {
		return "a long time"
	}
	return fmt.Sprintf("%.0f days", at.Sub(last).Hours()/24)
}

func orNew(s string) string {
	if s == "" {
		return "(new)"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func summary(ctx context.Context, out io.Writer, brokers []string, redisAddr string, st produceStats, elapsed time.Duration, rate int, p *changePrinter) error {
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	tiers, segments := map[string]int{}, map[string]int{}
	customers := 0
	iter := rc.Scan(ctx, 0, "ltv:{*}", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if !strings.HasSuffix(key, "}") { // a pending key, or a partition's clock
			continue
		}
		vals, err := rc.HMGet(ctx, key, "tier", "segment").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		tier, _ := vals[0].(string)
		segment, _ := vals[1].(string)
		customers++
		tiers[tier]++
		segments[segment]++
	}
	if err := iter.Err(); err != nil {
		return err
	}
	ends, err := stream.EndOffsets(ctx, brokers, settings.DefaultDLQTopic)
	if err != nil {
		return err
	}
	var dlq int64
	for _, n := range ends {
		dlq += n
	}
	fmt.Fprintf(out, "\n── summary ──────────────────────────────────────────\n")
	paced := "as fast as possible"
	if rate > 0 {
		paced = fmt.Sprintf("offered at %d/s", rate)
	}
	fmt.Fprintf(out, "events          %d in %s = %.0f events/s (%s; embedded broker and Redis)\n",
		st.total, elapsed.Round(time.Millisecond), float64(st.total)/elapsed.Seconds(), paced)
	fmt.Fprintf(out, "customers       %d\n", customers)
	names := make([]string, 0, len(tiers))
	for n := range tiers {
		names = append(names, n)
	}
	order := map[string]int{"bronze": 0, "silver": 1, "gold": 2, "platinum": 3}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	for _, n := range names {
		label := n
		if label == "" {
			label = "(no tier)"
		}
		fmt.Fprintf(out, "  %-12s  %d\n", label, tiers[n])
	}
	fmt.Fprintf(out, "segments (by the stream's own clock, event time)\n")
	for _, n := range []string{"new", "active", "at_risk", "lapsed", "churned", ""} {
		if segments[n] > 0 {
			fmt.Fprintf(out, "  %-12s  %d\n", orNone(n), segments[n])
		}
	}
	p.mu.Lock()
	fmt.Fprintf(out, "tier changes    %d (%d up, %d down)\n", p.read, p.promoted, p.demoted)
	fmt.Fprintf(out, "segment changes %d (%d by timers: customers who went quiet)\n", p.segments, p.byTimer)
	p.mu.Unlock()
	if st.ahead == 0 {
		fmt.Fprintf(out, "dead letters    %d (bad records produced: %d)\n", dlq, st.bad)
		return nil
	}
	fmt.Fprintf(out, "dead letters    %d (bad records produced: %d, records dated more than %s ahead of the clock: %d)\n",
		dlq, st.bad, st.skew, st.ahead)
	fmt.Fprintf(out, "note: the simulated histories run past today, and the updater refuses events dated more than "+
		"max_future_skew after its clock: fewer --events per customer (or more --customers) avoids them\n")
	return nil
}
