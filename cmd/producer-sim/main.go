// Command producer-sim generates simulated order and lifecycle events
// (internal/sim) into Kafka or a JSON Lines file, and replays JSON Lines
// files into Kafka, as fast as possible or paced against event time.
//
//	producer-sim generate --events 100000 --customers 10000 --seed 1
//	producer-sim generate --events 1000000 --out stream.jsonl --bad-rate 0.005
//	producer-sim replay --in stream.jsonl --speed 86400
//
// Run producer-sim -h for everything. Exit codes: 0 success (also after a
// clean stop on SIGINT/SIGTERM), 1 runtime error, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/stream"
)

const prog = "producer-sim"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the run flushes and stops; restoring the
		// default handling lets a second Ctrl-C end it at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is the whole program behind main, with its environment passed in
// so that tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "generate"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && isHelp(args[0]) {
		cmd = "help"
	}
	var err error
	switch cmd {
	case "generate":
		err = runGenerate(ctx, args, getenv, stdout, stderr)
	case "replay":
		err = runReplay(ctx, args, getenv, stdin, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "%s: unknown command %q (want generate or replay)\nRun '%s -h' for usage.\n", prog, cmd, prog)
		return exitUsage
	}
	var uerr *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "%s %s: %v\nRun '%s %s -h' for usage.\n", prog, cmd, err, prog, cmd)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return exitError
	}
}

func isHelp(a string) bool {
	switch a {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

const mainUsage = `producer-sim: simulated LTV input events for Kafka, and a JSON Lines replayer.

Usage:
  producer-sim [generate] [flags]      simulate a stream into Kafka or a JSON Lines file (the default command)
  producer-sim replay --in FILE [flags] replay a JSON Lines file into Kafka
  producer-sim <command> -h            the flags of a command

Examples:
  # 100k events of 10k customers into the local Kafka, topics orders and customer-lifecycle
  producer-sim generate --events 100000 --customers 10000 --seed 1

  # a million events with 1 % producer retries, 1 % late and 0.5 % bad records, into a file
  producer-sim generate --events 1000000 --customers 200000 --duplicate-rate 0.01 \
      --late-rate 0.01 --bad-rate 0.005 --out stream.jsonl

  # replay it into another cluster at one simulated day per second
  producer-sim replay --in stream.jsonl --brokers kafka:9092 --speed 86400

  # only the bad records, with jq
  jq -c 'select(.label == "bad")' stream.jsonl | producer-sim replay --in -

Environment (flags win): LTV_KAFKA_BROKERS, LTV_ORDERS_TOPIC, LTV_LIFECYCLE_TOPIC.
Kafka security, as for the consumer (environment only): LTV_KAFKA_SASL_MECHANISM,
LTV_KAFKA_SASL_USERNAME, LTV_KAFKA_SASL_PASSWORD, LTV_KAFKA_TLS, LTV_KAFKA_TLS_CA_FILE,
LTV_KAFKA_TLS_CERT_FILE, LTV_KAFKA_TLS_KEY_FILE, LTV_KAFKA_TLS_INSECURE_SKIP_VERIFY.
Exit codes: 0 success (also after a clean stop on SIGINT/SIGTERM), 1 runtime error, 2 usage error.
`

// common holds the flags both commands share.
type common struct {
	brokers        string
	ordersTopic    string
	lifecycleTopic string
	out            string
	speed          float64
	maxGap         time.Duration
	quiet          bool
	autoCreate     bool
	labelHeaders   bool
	chunk          int
	// kafkaSec is read from the consumer's LTV_KAFKA_SASL_* and
	// LTV_KAFKA_TLS* variables (environment only: no secrets on the
	// command line); secErr reports a bad setting at validation, only
	// when the records go to Kafka (--out writes no Kafka).
	kafkaSec stream.Security
	secErr   error
}

// kafkaSecurity reads the Kafka security settings the consumer uses from
// the environment.
func kafkaSecurity(getenv func(string) string) (stream.Security, error) {
	files := config.TLSFiles{
		CAFile: getenv("LTV_KAFKA_TLS_CA_FILE"), CertFile: getenv("LTV_KAFKA_TLS_CERT_FILE"), KeyFile: getenv("LTV_KAFKA_TLS_KEY_FILE"),
	}
	for name, dst := range map[string]*bool{"LTV_KAFKA_TLS": &files.Enabled, "LTV_KAFKA_TLS_INSECURE_SKIP_VERIFY": &files.InsecureSkipVerify} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return stream.Security{}, fmt.Errorf("%s=%q is not true or false", name, v)
			}
			*dst = b
		}
	}
	tlsCfg, err := files.Config()
	if err != nil {
		return stream.Security{}, fmt.Errorf("kafka %w", err)
	}
	sec := stream.Security{SASLMechanism: getenv("LTV_KAFKA_SASL_MECHANISM"),
		Username: getenv("LTV_KAFKA_SASL_USERNAME"), Password: getenv("LTV_KAFKA_SASL_PASSWORD"), TLS: tlsCfg}
	return sec, sec.Validate()
}

// consumerMessageLimit is the input size limit a consumer started from
// this environment would have: LTV_MAX_MESSAGE_BYTES when it holds a
// positive byte count, else the default (a consumer refuses to start on
// any other value). which names the one it is, for the oversize note.
func consumerMessageLimit(getenv func(string) string) (limit int, which string) {
	if n, err := strconv.Atoi(strings.TrimSpace(getenv("LTV_MAX_MESSAGE_BYTES"))); err == nil && n > 0 {
		return n, "limit"
	}
	return decode.DefaultMaxBytes, "default limit"
}

func envOr(getenv func(string) string, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string, outHelp string) {
	c.kafkaSec, c.secErr = kafkaSecurity(getenv)
	fs.StringVar(&c.brokers, "brokers", envOr(getenv, "LTV_KAFKA_BROKERS", "localhost:9092"),
		"Kafka bootstrap brokers, comma-separated (env LTV_KAFKA_BROKERS)")
	fs.StringVar(&c.ordersTopic, "orders-topic", envOr(getenv, "LTV_ORDERS_TOPIC", settings.DefaultOrdersTopic),
		"topic for order events (env LTV_ORDERS_TOPIC)")
	fs.StringVar(&c.lifecycleTopic, "lifecycle-topic", envOr(getenv, "LTV_LIFECYCLE_TOPIC", settings.DefaultLifecycleTopic),
		"topic for churn/reactivation events (env LTV_LIFECYCLE_TOPIC)")
	fs.StringVar(&c.out, "out", "", outHelp)
	fs.Float64Var(&c.speed, "speed", 0,
		"0 = as fast as possible; N = N× event time (86400 = one simulated day per second)")
	fs.DurationVar(&c.maxGap, "max-gap", time.Second, "with --speed: the longest single pause")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines and no summary on stderr")
	fs.BoolVar(&c.autoCreate, "auto-create-topics", false,
		"let the broker create missing topics (if it allows it) instead of failing")
	fs.BoolVar(&c.labelHeaders, "label-headers", false,
		"add headers sim-label and sim-bad-reason to each Kafka message (for test oracles)")
	fs.IntVar(&c.chunk, "chunk", 5000, "records per Kafka produce call")
}

func (c *common) validate() error {
	if !(c.speed >= 0) || math.IsInf(c.speed, 0) {
		return usagef("--speed must be a finite number ≥ 0, got %v", c.speed)
	}
	if c.maxGap <= 0 {
		return usagef("--max-gap must be positive, got %v", c.maxGap)
	}
	if c.chunk < 1 {
		return usagef("--chunk must be at least 1, got %d", c.chunk)
	}
	if c.out == "" {
		if c.secErr != nil {
			return usagef("%v", c.secErr)
		}
		if len(settings.SplitList(c.brokers)) == 0 {
			return usagef("--brokers is empty")
		}
		if strings.TrimSpace(c.ordersTopic) == "" || strings.TrimSpace(c.lifecycleTopic) == "" {
			return usagef("topic names must not be empty")
		}
		for _, t := range []struct{ setting, name string }{
			{"--orders-topic (LTV_ORDERS_TOPIC)", c.ordersTopic}, {"--lifecycle-topic (LTV_LIFECYCLE_TOPIC)", c.lifecycleTopic},
		} {
			if !config.ValidTopic(t.name) {
				return usagef("%s: invalid topic name %q (Kafka allows [a-zA-Z0-9._-], at most 249 characters)", t.setting, t.name)
			}
		}
		if c.ordersTopic == c.lifecycleTopic {
			return usagef("--orders-topic and --lifecycle-topic are both %q: the inputs are two topics", c.ordersTopic)
		}
	}
	return nil
}

// parse parses args into fs, printing help to stdout on -h.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer, help string) error {
	fs.SetOutput(io.Discard) // errors are reported by run, help below
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return flag.ErrHelp
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

const generateUsage = `Usage: producer-sim generate [flags]

Simulates customers (Pareto/NBD purchases and drop-out, Gamma-Gamma spend, refunds,
churn and reactivation) and writes their events, mixed with faults, to Kafka or,
with --out, to a JSON Lines file. The same flags and seed give the same bytes.

Examples:
  producer-sim generate --events 100000 --customers 10000 --seed 1
  producer-sim generate --events 1000000 --customers 200000 --seed 1 \
      --duplicate-rate 0.01 --late-rate 0.01 --bad-rate 0.005 --out /tmp/sim.jsonl
  producer-sim generate --events 5000 --out - | jq -c 'select(.label=="bad") | .bad_reason'
  producer-sim generate --speed 3600      # one simulated hour per second, into Kafka

A rate of 0 switches that behaviour off. JSON Lines format: one object per line,
{"topic","key","value" (or "value_b64"),"ts","label","bad_reason"}; see internal/sim.

Flags:
`

const replayUsage = `Usage: producer-sim replay --in FILE.jsonl [flags]

Replays a JSON Lines file (as written by 'generate --out') into Kafka, or with
--out into another JSON Lines file or stdout. Topics in the file are logical
("orders", "customer-lifecycle") and map to --orders-topic and --lifecycle-topic.

Examples:
  producer-sim replay --in /tmp/sim.jsonl
  producer-sim replay --in /tmp/sim.jsonl --speed 86400 --brokers kafka-1:9092,kafka-2:9092
  jq -c 'select(.key == "c-000042")' /tmp/sim.jsonl | producer-sim replay --in -

Flags:
`

func runGenerate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	var c common
	c.register(fs, getenv, "write JSON Lines to this file ('-' = stdout) instead of Kafka")
	var cfg sim.Config
	var start string
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed: the same flags and seed give the same bytes")
	fs.IntVar(&cfg.Customers, "customers", sim.DefaultCustomers, "number of customers")
	fs.IntVar(&cfg.Events, "events", sim.DefaultEvents, "number of records to write, faults included")
	fs.StringVar(&start, "start", sim.DefaultStart.Format(time.RFC3339), "earliest event time (RFC 3339 or YYYY-MM-DD)")
	fs.Float64Var(&cfg.AcquisitionDays, "acquisition-days", sim.DefaultAcquisitionDays, "customers' first orders are spread over this many days")
	fs.StringVar(&cfg.BaseCurrency, "currency", sim.DefaultBaseCurrency, "currency of valid orders")
	rates := []struct {
		p    *float64
		name string
		def  float64
		help string
	}{
		{&cfg.DuplicateRate, "duplicate-rate", 0, "fraction of records that are producer-retry duplicates"},
		{&cfg.LateRate, "late-rate", 0, "fraction of records that are late (out of event-time order)"},
		{&cfg.BadRate, "bad-rate", 0, "fraction of records that violate SPEC §2 (malformed JSON, missing fields, …)"},
		{&cfg.OversizeRate, "oversize-rate", 0, "fraction of records padded to --oversize-bytes"},
		{&cfg.RefundRate, "refund-rate", sim.DefaultRefundRate, "probability that an order is later refunded"},
		{&cfg.ChurnRate, "churn-rate", sim.DefaultChurnRate, "probability that a dropping-out customer gets customer_churned"},
		{&cfg.ReactivationRate, "reactivation-rate", sim.DefaultReactivationRate, "probability that a churned customer comes back"},
		{&cfg.MarginAbsentRate, "margin-absent-rate", sim.DefaultMarginAbsentRate, "fraction of orders without gross_margin"},
		{&cfg.NumericAmountRate, "numeric-amount-rate", sim.DefaultNumericAmountRate, "fraction of orders with amounts as JSON numbers"},
	}
	for _, r := range rates {
		fs.Float64Var(r.p, r.name, r.def, r.help)
	}
	fs.IntVar(&cfg.OversizeBytes, "oversize-bytes", sim.DefaultOversizeBytes, "size of an oversized record")
	fs.Float64Var(&cfg.PurchaseShape, "purchase-shape", sim.DefaultPurchaseShape, "model: purchase rate λ ~ Gamma(r, α), r")
	fs.Float64Var(&cfg.PurchaseAlpha, "purchase-alpha", sim.DefaultPurchaseAlpha, "model: purchase rate λ ~ Gamma(r, α), α in days")
	fs.Float64Var(&cfg.DropoutShape, "dropout-shape", sim.DefaultDropoutShape, "model: drop-out rate μ ~ Gamma(s, β), s")
	fs.Float64Var(&cfg.DropoutBeta, "dropout-beta", sim.DefaultDropoutBeta, "model: drop-out rate μ ~ Gamma(s, β), β in days")
	fs.Float64Var(&cfg.SpendP, "spend-p", sim.DefaultSpendP, "model: Gamma-Gamma spend p (order amount shape)")
	fs.Float64Var(&cfg.SpendQ, "spend-q", sim.DefaultSpendQ, "model: Gamma-Gamma spend q")
	fs.Float64Var(&cfg.SpendGamma, "spend-gamma", sim.DefaultSpendGamma, "model: Gamma-Gamma spend γ (mean order value ≈ p·γ/(q−1))")

	if err := parse(fs, args, stdout, generateUsage); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if cfg.Events < 1 {
		return usagef("--events must be at least 1, got %d", cfg.Events)
	}
	// The generator reads 0 as "the default": given on the command line,
	// a 0 (or an empty currency) is a mistake, not a request for it.
	var unset error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "acquisition-days", "oversize-bytes", "purchase-shape", "purchase-alpha", "dropout-shape",
			"dropout-beta", "spend-p", "spend-q", "spend-gamma":
			if v, err := strconv.ParseFloat(f.Value.String(), 64); err == nil && v == 0 && unset == nil {
				unset = usagef("--%s must not be 0 (leave it out for the default %s)", f.Name, f.DefValue)
			}
		case "currency":
			if strings.TrimSpace(f.Value.String()) == "" && unset == nil {
				unset = usagef("--currency must not be empty (leave it out for the default %s)", f.DefValue)
			}
		}
	})
	if unset != nil {
		return unset
	}
	if cfg.Customers < 1 {
		return usagef("--customers must be at least 1, got %d", cfg.Customers)
	}
	t, err := parseStart(start)
	if err != nil {
		return err
	}
	if t.IsZero() {
		// The generator reads the zero time as "the default start" and
		// would begin in 2020 instead of refusing the year 1.
		return usagef("--start %s is outside the years 1970..9000", t.Format(time.RFC3339))
	}
	cfg.Start = t
	for _, r := range rates {
		if !(*r.p >= 0 && *r.p <= 1) {
			return usagef("--%s must be in [0, 1], got %v", r.name, *r.p)
		}
		if *r.p == 0 {
			*r.p = sim.Off // an explicit 0 means none, not the default
		}
	}
	gen, err := sim.NewGenerator(cfg)
	if err != nil {
		return usagef("%v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if limit, which := consumerMessageLimit(getenv); cfg.OversizeRate > 0 && cfg.OversizeBytes <= limit && !c.quiet {
		// Labelled bad for being over the consumer's limit, such a record
		// is an ordinary valid order to a consumer with that limit.
		fmt.Fprintf(stderr, "%s: note: --oversize-bytes %d is within the consumer's %s (LTV_MAX_MESSAGE_BYTES, %d): "+
			"such a consumer applies the records labelled %q as valid orders; give more, or set the consumer's limit below it\n",
			prog, cfg.OversizeBytes, which, limit, sim.BadOversized)
	}
	desc := fmt.Sprintf("generating %s records of %s customers (seed %d)",
		sim.Thousands(int64(cfg.Events)), sim.Thousands(int64(cfg.Customers)), cfg.Seed)
	future := &futureCounter{src: sim.FromGenerator(gen), after: time.Now().Add(24 * time.Hour)}
	err = deliver(ctx, &c, future, cfg.Events, desc, false, stdout, stderr)
	if future.n > 0 && !c.quiet {
		fmt.Fprintf(stderr, "%s: note: %s records are dated after %s (now + 24 h): a consumer with the default "+
			"max_future_skew dead-letters them; use an earlier --start or fewer events per customer\n",
			prog, sim.Thousands(int64(future.n)), future.after.Format(time.RFC3339))
	}
	return err
}

// futureCounter counts the records of a source, other than bad ones,
// dated after a time: events a consumer would refuse as lying too far
// ahead of its clock.
type futureCounter struct {
	src   sim.RecordSource
	after time.Time
	n     int
}

func (f *futureCounter) Next() (sim.Record, error) {
	r, err := f.src.Next()
	if err == nil && r.DatedAfter(f.after) {
		f.n++
	}
	return r, err
}

func parseStart(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--start %q is neither RFC 3339 (2025-01-01T00:00:00Z) nor a date (2025-01-01)", s)
}

func runReplay(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var c common
	c.register(fs, getenv, "write JSON Lines to this file ('-' = stdout) instead of Kafka")
	var in string
	fs.StringVar(&in, "in", "", "JSON Lines file to replay ('-' = stdin); required")
	if err := parse(fs, args, stdout, replayUsage); err != nil {
		return err
	}
	if in == "" {
		return usagef("--in is required")
	}
	if err := c.validate(); err != nil {
		return err
	}
	var r io.Reader = stdin
	total := 0
	name := "stdin"
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		// Opening a directory succeeds; say so before Kafka is tried or
		// --out is emptied, not at the first read.
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return fmt.Errorf("replay: %s is a directory", in)
		}
		if c.out != "" && c.out != "-" {
			// os.Create would empty the input before a line is read.
			if same, err := sameFile(f, c.out); err != nil {
				return fmt.Errorf("replay: %w", err)
			} else if same {
				return usagef("--out %s is the --in file: write to another file", c.out)
			}
		}
		if total, err = countLines(f); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		r, name = f, in
	}
	desc := "replaying " + name
	if total > 0 {
		desc += fmt.Sprintf(" (%s lines)", sim.Thousands(int64(total)))
	}
	// A file that is not a regular one (stdin, a pipe) may wait for its
	// next line: what was read is flushed meanwhile, and an interrupt does
	// not wait for it.
	return deliver(ctx, &c, sim.NewJSONLReader(r), total, desc, total == 0, stdout, stderr)
}

// sameFile reports whether path names the open file f (also through
// another name or a link). A path that does not exist yet is not f.
func sameFile(f *os.File, path string) (bool, error) {
	in, err := f.Stat()
	if err != nil {
		return false, err
	}
	out, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(in, out), nil
}

// countLines counts the lines of a regular file for the progress
// percentage, then rewinds it. Other files give 0 (unknown).
func countLines(f *os.File) (int, error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, nil
	}
	buf := make([]byte, 1<<20)
	n, last := 0, byte('\n')
	for {
		k, err := f.Read(buf)
		for _, b := range buf[:k] {
			if b == '\n' {
				n++
			}
		}
		if k > 0 {
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return n, nil
}

// deliver replays src into the sink the flags select and reports; a
// waiting source is one that may block for its next record.
func deliver(ctx context.Context, c *common, src sim.RecordSource, total int, desc string, waiting bool, stdout, stderr io.Writer) error {
	var sink sim.Sink
	var target string
	var closeOut func() error
	switch c.out {
	case "":
		transport, err := c.kafkaSec.Transport()
		if err != nil {
			return usagef("%v", err)
		}
		ks, err := sim.NewKafkaSink(sim.KafkaConfig{
			Brokers: settings.SplitList(c.brokers), OrdersTopic: c.ordersTopic, LifecycleTopic: c.lifecycleTopic,
			ChunkSize: c.chunk, AllowAutoTopicCreation: c.autoCreate, LabelHeaders: c.labelHeaders,
			Transport: transport,
		})
		if err != nil {
			return usagef("%v", err)
		}
		// Replay flushes the sink before it returns; closing then loses nothing.
		defer func() { _ = ks.Close() }()
		// With --auto-create-topics a missing topic (or an unreachable
		// broker, reported by the first write) is no reason to stop here;
		// existing topics with different partition counts still are.
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = ks.Check(cctx)
		cancel()
		notCoPartitioned := errors.Is(err, sim.ErrNotCoPartitioned)
		if err != nil && (!c.autoCreate || notCoPartitioned) {
			if ctx.Err() != nil {
				return nil // interrupted before anything was written
			}
			hint := fmt.Sprintf("\n  (start Kafka, check --brokers, create the topics %q and %q, or pass --auto-create-topics)",
				c.ordersTopic, c.lifecycleTopic)
			if notCoPartitioned {
				hint = "" // creating or reaching them would not help
			}
			return fmt.Errorf("kafka not usable: %w%s", err, hint)
		}
		sink = ks
		target = fmt.Sprintf("Kafka %s (topics %s, %s)", c.brokers, c.ordersTopic, c.lifecycleTopic)
	case "-":
		sink, target = sim.NewJSONLSink(stdout), "stdout"
	default:
		f, err := os.Create(c.out)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		closeOut = f.Close
		defer func() {
			if closeOut != nil {
				_ = closeOut()
			}
		}()
		sink, target = sim.NewJSONLSink(f), c.out
	}

	opts := sim.ReplayOptions{Speed: c.speed, MaxGap: c.maxGap, Total: total}
	if waiting {
		opts.IdleFlush = 500 * time.Millisecond
	}
	if !c.quiet {
		fmt.Fprintf(stderr, "%s: %s → %s\n", prog, desc, target)
		opts.Progress = sim.ProgressPrinter(stderr, prog)
	}
	st, err := sim.Replay(ctx, src, sink, opts)
	if closeOut != nil {
		cerr := closeOut()
		closeOut = nil
		if err == nil && cerr != nil {
			return fmt.Errorf("close %s: %w", c.out, cerr)
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		if !c.quiet {
			fmt.Fprintf(stderr, "%s: interrupted: stopped cleanly after %s records, all of them delivered\n",
				prog, sim.Thousands(int64(st.Records)))
		}
		return nil
	}
	return err
}
