// Command ltvctl is the operator's command line (SPEC §10): it reads the
// updater's Redis state with the consumer's own settings (the same
// environment variables and flags) and fits, scores and shows customers.
//
//	ltvctl get <customer_id>…        the public fields as JSON, one line per id (null: unknown)
//	ltvctl fit --as-of T …           fit the predictive model, print its YAML
//	ltvctl score --as-of T …         the §9 fields of every customer, as CSV
//	ltvctl report [--format …]       cohorts, channels, tiers (SPEC §11)
//	ltvctl serve                     the read API and live dashboard (SPEC §11)
//
// Run `ltvctl <command> -h` for a command's flags.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/clv"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"go.uber.org/zap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// A command's own error says what went wrong with Redis; go-redis's
	// retry lines on stderr would only bury it (serve logs them at debug).
	service.RouteRedisLogs(zap.NewNop())
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	usage string
	run   func(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error
}

// commands is filled in init: the commands' functions refer to it (for
// their usage lines).
var commands map[string]command

func init() {
	commands = map[string]command{
		"get":    {"get <customer_id>…: the public fields of each customer as JSON (GET /v1/customers/{id}'s object), one line per id in the order given, null for an unknown id (exit 1)", runGet},
		"fit":    {"fit --as-of T [--summary FILE.csv] [--model bgnbd|mbgnbd] [--time-unit week|day]: fit the predictive model (SPEC §9) and print its YAML; --model and --time-unit default to the configured predictive block's (LTV_CONFIG), else bgnbd and week", runFit},
		"report": {"report [--format table|csv|json] [--cac channel=amount]… [--as-of T] [--sample N]: cohort, channel, tier and segment figures (SPEC §11)", runReport},
		"score":  {"score --as-of T [--summary FILE.csv]: p_alive, expected orders and spend, predicted CLV of every customer, as CSV", runScore},
		"serve":  {"serve [--api-addr :8081]: the read API (SPEC §11) and the live dashboard, until SIGTERM", runServe},
	}
}

// errUsage marks a usage error (exit 2, the usage already printed).
var errUsage = errors.New("usage")

// badFlagError is a bad value of a command's own flag: a usage error (exit
// 2, as a bad setting is), printed by run.
type badFlagError struct{ err error }

func (e badFlagError) Error() string   { return e.err.Error() }
func (e badFlagError) Unwrap() []error { return []error{e.err, errUsage} }

// badFlag marks err as a bad flag value.
func badFlag(err error) error { return badFlagError{err} }

func run(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(errOut)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "ltvctl: unknown command %q\n\n", args[0])
		usage(errOut)
		return 2
	}
	err := cmd.run(ctx, args[1:], getenv, out, errOut)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		if bad := (badFlagError{}); errors.As(err, &bad) {
			fmt.Fprintf(errOut, "ltvctl %s: %v\n", args[0], err)
		}
		return 2
	}
	fmt.Fprintf(errOut, "ltvctl %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: ltvctl <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", commands[n].usage)
	}
	fmt.Fprintf(w, "\nEvery command takes the consumer's settings (LTV_REDIS_URL, LTV_CONFIG, … or their flags).\n")
}

// loadConfig parses the consumer's settings plus a command's own flags. A
// bad setting is a usage error (exit 2, as the consumer's), named on
// errOut.
func loadConfig(name string, args []string, getenv func(string) string, errOut io.Writer, flags func(*flag.FlagSet), rest *[]string) (*config.Config, error) {
	cfg, err := config.LoadCommand(config.Command{Name: "ltvctl " + name, Usage: "ltvctl " + commands[name].usage, Flags: flags, Args: rest},
		args, getenv, errOut)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(errOut, "ltvctl %s: %v\n", name, err)
		return nil, errUsage
	}
	return cfg, err
}

// openStore connects to Redis with the consumer's settings.
func openStore(cfg *config.Config) (*store.Redis, func(), error) {
	redisTLS, err := cfg.RedisTLS.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("redis %w", err)
	}
	client, err := store.NewClient(store.Config{URL: cfg.RedisURL, Username: cfg.RedisUsername, Password: cfg.RedisPassword, TLS: redisTLS})
	if err != nil {
		return nil, nil, err
	}
	return store.NewRedis(client, store.Config{}), func() { _ = client.Close() }, nil
}

func runGet(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	var ids []string
	cfg, err := loadConfig("get", args, getenv, errOut, nil, &ids)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return badFlag(errors.New("name at least one customer id"))
	}
	// As the read API checks them: an id the updater can never have
	// stored is a mistake to name, not an unknown customer.
	for _, id := range ids {
		if err := decode.CheckCustomerID(id); err != nil {
			return badFlag(fmt.Errorf("customer id %q: %w", id, err))
		}
	}
	st, closeStore, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	// HMGET of the public names, as the read API reads a customer. A key
	// that another program wrote as something other than a hash fails
	// only its own read (store.NotHashError, named below), as in the
	// API's batchGet: the other customers are still printed.
	names := store.PublicFieldNames()
	read, err := st.ReadFields(ctx, ids, names)
	var notHash *store.NotHashError
	if err != nil && !errors.As(err, &notHash) {
		return err
	}
	// One line per id, in the order given: the read API's object of the
	// customer (store.AppendPublicJSON: exactly SPEC §3's public fields, in
	// its order, each the string Redis holds), or null for an id without
	// one, so that line n is always the n-th id's.
	var missing []string
	var buf []byte
	vals := make([]any, len(names))
	for i, m := range read {
		for j, name := range names {
			// A field the hash holds, an empty one too (a customer
			// without a tier has tier ""), is printed; one it does not
			// hold (nil) is left out.
			vals[j] = nil
			if v, held := m[name]; held {
				vals[j] = v
			}
		}
		var found bool
		buf, found = store.AppendPublicJSON(buf[:0], names, vals)
		if !found {
			if notHash == nil || !slices.Contains(notHash.IDs, ids[i]) {
				missing = append(missing, ids[i])
			}
			buf = append(buf, "null"...)
		}
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("unknown customers: %q", missing))
	}
	if notHash != nil {
		problems = append(problems, notHash.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// summaryFlags are the flags fit and score share.
type summaryFlags struct {
	asOf     string
	summary  string
	model    string
	timeUnit string
	// modelGiven and timeUnitGiven say --model and --time-unit were on
	// the command line; without them fit takes the configured predictive
	// block's (see fitDefaults). A summary's times are in a unit the file
	// does not name.
	modelGiven, timeUnitGiven bool
}

func (f *summaryFlags) register(fs *flag.FlagSet, withModel bool) {
	fs.StringVar(&f.asOf, "as-of", "", "the time T is measured to (RFC 3339 or YYYY-MM-DD); required when reading Redis")
	fs.StringVar(&f.summary, "summary", "", "read customers from this CSV (frequency,recency,T[,monetary_value], lifetimes / PyMC-Marketing format, already in time units) instead of Redis")
	if withModel {
		fs.Func("model", "purchase model: bgnbd or mbgnbd (default: the model of the configured predictive block (LTV_CONFIG), else bgnbd)", func(s string) error {
			f.model, f.modelGiven = s, true
			return nil
		})
		fs.Func("time-unit", "time unit of the fit: day or week (default: the time_unit of the configured predictive block (LTV_CONFIG), else week); with --summary, the unit of the file's recency and T (default week, whatever LTV_CONFIG says: the file does not name its unit)", func(s string) error {
			f.timeUnit, f.timeUnitGiven = s, true
			return nil
		})
	}
}

// fitDefaults fills in fit's --model and --time-unit when they were not
// given: an operator refitting the configured model must get a block of
// that model, in that unit, not bgnbd in weeks. Without a configured
// predictive block they are bgnbd and week. A --summary file's unit is
// the file's, which the configuration cannot know: without --time-unit it
// is read in weeks (the CDNOW summary's unit), as before, and fit says so.
// configured is the configured block's unit (0: none), for that note.
func (f *summaryFlags) fitDefaults(pred *aggregate.Predictive) (configured clv.TimeUnit) {
	kind, unit := clv.BGNBD, clv.Week
	if pred != nil {
		if p, ok := pred.Predictor.(interface{ Model() *clv.Model }); ok {
			c := p.Model().Config()
			kind, unit, configured = c.Purchases.Kind, c.TimeUnit, c.TimeUnit
		}
	}
	if !f.modelGiven {
		f.model = kind.String()
	}
	if !f.timeUnitGiven {
		f.timeUnit = unit.String()
		if f.summary != "" {
			f.timeUnit = clv.Week.String()
		}
	}
	return configured
}

// summaryRow is one customer of the population: its id and its §9 numbers.
type summaryRow struct {
	id       string
	customer clv.Customer
	margin   float64
	churned  bool
}

// check validates --as-of as loadSummary will use it: required when the
// customers come from Redis, and RFC 3339 or a date wherever it is given.
// A command calls it before anything that depends on the configuration or
// on Redis, so that a bad flag is a usage error (exit 2) whatever else is
// wrong.
func (f *summaryFlags) check() error {
	if f.summary == "" && f.asOf == "" {
		return badFlag(errors.New("--as-of is required when reading customers from Redis"))
	}
	if f.asOf != "" {
		if _, err := parseTime(f.asOf); err != nil {
			return err
		}
	}
	return nil
}

// loadSummary reads the population: from the CSV, or from every customer
// in Redis as of --as-of, in pipelined batches with progress on stderr.
// monetary reports whether the rows carry m: always from Redis, from a
// CSV only when it has a monetary_value column (SPEC §10: it is optional).
func loadSummary(ctx context.Context, cfg *config.Config, f *summaryFlags, unit clv.TimeUnit, errOut io.Writer) (rows []summaryRow, monetary bool, err error) {
	if err := f.check(); err != nil {
		return nil, false, err
	}
	if f.summary != "" {
		if f.asOf != "" {
			// A good value changes nothing here, as the file's T is
			// counted to its own date.
			fmt.Fprintf(errOut, "note: --as-of is not used with --summary: the file's T is already counted to the date it was made for\n")
		}
		// A summary carries no margins: its customers' orders are valued
		// at the configured default margin, as the consumer values an
		// order without gross_margin (SPEC §2), so that score's
		// predicted_clv is gross profit (SPEC §9), not revenue.
		return readSummaryCSV(f.summary, cfg.Model.DefaultMargin.InexactFloat64())
	}
	asOf, err := parseTime(f.asOf)
	if err != nil {
		return nil, false, err
	}
	st, closeStore, err := openStore(cfg)
	if err != nil {
		return nil, false, err
	}
	defer closeStore()
	last := time.Now()
	pop := redisPopulation{asOf: asOf, unit: time.Duration(unit.Days() * float64(aggregate.Day)), seen: stats.NewIDSet()}
	err = st.EachCustomer(ctx, 1000, func(snaps []store.Snapshot, errs []error) error {
		pop.add(snaps, errs)
		if time.Since(last) > time.Second {
			fmt.Fprintf(errOut, "read %d customers…\n", len(pop.rows))
			last = time.Now()
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	// In id order: SCAN's order changes from run to run (and server to
	// server), and an operator compares one day's scores with another's.
	rows = pop.rows
	slices.SortFunc(rows, func(a, b summaryRow) int { return strings.Compare(a.id, b.id) })
	fmt.Fprintf(errOut, "read %d customers with orders by %s", len(rows), asOf.Format(time.RFC3339))
	if pop.bad > 0 {
		fmt.Fprintf(errOut, " (%d unreadable hashes skipped)", pop.bad)
	}
	fmt.Fprintln(errOut)
	return rows, true, nil
}

// redisPopulation gathers fit's and score's customers from the batches a
// SCAN of Redis gives. SCAN may list a key twice (while Redis resizes its
// table, as a live consumer's writes make it do), so each customer is kept
// once: counted twice it would weigh twice in a fit and print two rows.
type redisPopulation struct {
	asOf time.Time
	unit time.Duration
	seen *stats.IDSet
	rows []summaryRow
	bad  int // unreadable hashes
}

// add keeps the customers of one batch that had an order by asOf.
func (p *redisPopulation) add(snaps []store.Snapshot, errs []error) {
	for i := range snaps {
		id := snaps[i].CustomerID
		if !p.seen.Add(id) {
			continue
		}
		if errs[i] != nil {
			p.bad++
			continue
		}
		s := &snaps[i].State
		if s.Orders == 0 || s.FirstOrderAt.After(p.asOf) {
			continue
		}
		row := summaryRow{id: id, churned: s.Churned()}
		c := &row.customer
		c.X, c.Tx, c.T, c.M, row.margin = aggregate.PredictiveInputs(s, p.unit, p.asOf)
		p.rows = append(p.rows, row)
	}
}

func parseTime(s string) (time.Time, error) {
	// RFC 3339 allows a lowercase t and z, as the input events' decoder
	// does; Go's layout does not.
	if t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s)); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, badFlag(fmt.Errorf("--as-of %q is neither RFC 3339 nor YYYY-MM-DD", s))
}

// readSummaryCSV reads the lifetimes / PyMC-Marketing summary format: a
// header naming frequency, recency, T and optionally monetary_value, in
// any case (and an id column, when present: see idOf). monetary reports whether
// the header has the monetary_value (or zbar) column; without it every
// row's M is 0, which is not an observed mean spend. Every row's margin
// rate is margin (the file has none).
func readSummaryCSV(path string, margin float64) (rows []summaryRow, monetary bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("summary: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("summary %s: empty file, no header (want frequency,recency,T[,monetary_value])", path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("summary %s: header: %w", path, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte-order mark
	}
	// Names are matched whatever their case (a spreadsheet's Frequency,
	// lifetimes' T, a database export's RECENCY) and blanks around them.
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if name == "" {
			continue // an unnamed column: pandas' index (the id, below) or padding
		}
		if _, twice := col[name]; twice {
			return nil, false, fmt.Errorf("summary %s: header names column %q twice", path, strings.TrimSpace(h))
		}
		col[name] = i
	}
	get := func(rec []string, names ...string) (string, bool) {
		for _, n := range names {
			if i, ok := col[strings.ToLower(n)]; ok && i < len(rec) {
				return rec[i], true
			}
		}
		return "", false
	}
	// The id column: customer_id (lifetimes' and PyMC-Marketing's name),
	// CustomerID, ID or id; else an unnamed first column, which is how
	// pandas writes a summary's index (DataFrame.to_csv). Without one the
	// id is the row's number.
	idOf := func(rec []string) string {
		if v, ok := get(rec, "customer_id", "customerid", "id"); ok {
			return strings.TrimSpace(v)
		}
		if strings.TrimSpace(header[0]) == "" && len(rec) > 0 {
			return strings.TrimSpace(rec[0])
		}
		return ""
	}
	for _, need := range [][]string{{"frequency", "x"}, {"recency", "t_x"}, {"T"}} {
		if _, ok := get(header, need...); !ok {
			return nil, false, fmt.Errorf("summary %s: no %s column (want frequency,recency,T[,monetary_value])", path, need[0])
		}
	}
	_, monetary = get(header, "monetary_value", "zbar")
	// A summary has one row per customer: a repeated id would weigh twice
	// in a fit and print two rows in score.
	lineOf := map[string]int{}
	for n := 1; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("summary %s: %w", path, err)
		}
		// The line the record starts on, as an editor shows it: blank
		// lines and quoted line breaks make it differ from the record's
		// number n, which is the id of a row in a file without ids.
		line, _ := r.FieldPos(0)
		var row summaryRow
		row.id = idOf(rec)
		if row.id == "" {
			row.id = strconv.Itoa(n)
		}
		where := fmt.Sprintf("summary %s line %d (id %s)", path, line, row.id)
		if first, twice := lineOf[row.id]; twice {
			return nil, false, fmt.Errorf("%s: the id is on line %d too; a summary has one row per customer", where, first)
		}
		lineOf[row.id] = line
		num := func(names ...string) (float64, error) {
			v, ok := get(rec, names...)
			if !ok || strings.TrimSpace(v) == "" {
				if names[0] == "monetary_value" {
					return 0, nil // a customer without repeat orders may leave it empty
				}
				return 0, fmt.Errorf("%s: %s is empty", where, names[0])
			}
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return 0, fmt.Errorf("%s: %s %q is not a number", where, names[0], v)
			}
			return n, nil
		}
		var errs [4]error
		row.customer.X, errs[0] = num("frequency", "x")
		row.customer.Tx, errs[1] = num("recency", "t_x")
		row.customer.T, errs[2] = num("T")
		row.customer.M, errs[3] = num("monetary_value", "zbar")
		if err := errors.Join(errs[:]...); err != nil {
			return nil, false, err
		}
		if err := row.customer.Check(); err != nil {
			return nil, false, fmt.Errorf("%s: %w", where, err)
		}
		row.margin = margin
		rows = append(rows, row)
	}
	return rows, monetary, nil
}

func runFit(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	var f summaryFlags
	cfg, err := loadConfig("fit", args, getenv, errOut, func(fs *flag.FlagSet) { f.register(fs, true) }, nil)
	if err != nil {
		return err
	}
	configuredUnit := f.fitDefaults(cfg.Model.Predictive)
	kind, err := clv.ParseKind(f.model)
	if err != nil {
		return badFlag(fmt.Errorf("--model: %w", err))
	}
	unit, err := clv.ParseTimeUnit(f.timeUnit)
	if err != nil {
		return badFlag(fmt.Errorf("--time-unit: %w", err))
	}
	if f.summary != "" && !f.timeUnitGiven {
		// The parameters' time scale is the file's; a summary in days
		// fitted as weeks gives a block that forecasts seven times too
		// slowly, with nothing else to show for it.
		fmt.Fprintf(errOut, "note: reading %s as weeks (--time-unit week, the default for a summary file, whose unit the configuration cannot know); lifetimes' summary_data_from_transaction_data counts in days unless given freq=\"W\": give --time-unit day for such a file\n", f.summary)
		if configuredUnit != 0 && configuredUnit != unit {
			fmt.Fprintf(errOut, "note: the configured predictive block (LTV_CONFIG) has time_unit: %s; the block printed here has time_unit: %s, and pasted over it changes the consumer's unit\n", configuredUnit, unit)
		}
	}
	rows, monetary, err := loadSummary(ctx, cfg, &f, unit, errOut)
	if err != nil {
		return err
	}
	customers := make([]clv.Customer, len(rows))
	for i := range rows {
		customers[i] = rows[i].customer
	}
	purchases, err := clv.FitPurchases(kind, customers)
	if err != nil {
		return err
	}
	// Without a monetary_value column there is no spend to fit (SPEC §10:
	// the column is optional): the purchase model alone, and say so.
	var spend clv.SpendFit
	if monetary {
		if spend, err = clv.FitSpend(customers); err != nil {
			return err
		}
	}
	source := "Redis as of " + f.asOf
	if f.summary != "" {
		source = f.summary
	}
	fmt.Fprintf(out, "# fitted by ltvctl fit on %d customers (%s)\n", purchases.Customers, source)
	fmt.Fprintf(out, "# purchases: log-likelihood %.4f; ", purchases.LogLikelihood)
	if monetary {
		fmt.Fprintf(out, "spend: log-likelihood %.4f on %d repeat buyers", spend.LogLikelihood, spend.Customers)
		if spend.Skipped > 0 {
			// From Redis, a mean of 0 or less comes from refunds; a
			// summary says only that its monetary_value is.
			why := "refunded repeat orders"
			if f.summary != "" {
				why = "a monetary_value of 0 or less"
			}
			fmt.Fprintf(out, " (%d with %s skipped)", spend.Skipped, why)
		}
	} else {
		fmt.Fprintf(out, "spend: not fitted, the summary has no monetary_value column")
		fmt.Fprintf(errOut, "note: %s has no monetary_value column: fitted the purchase model only; add the Gamma-Gamma spend: {p, q, v} to the block before using it\n", f.summary)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "predictive:\n")
	fmt.Fprintf(out, "  model: %s\n", kind)
	fmt.Fprintf(out, "  time_unit: %s\n", unit)
	fmt.Fprintf(out, "  purchases: {r: %s, alpha: %s, a: %s, b: %s}\n", num4(purchases.R), num4(purchases.Alpha), num4(purchases.A), num4(purchases.B))
	if monetary {
		fmt.Fprintf(out, "  spend: {p: %s, q: %s, v: %s}   # Gamma-Gamma\n", num4(spend.P), num4(spend.Q), num4(spend.V))
	} else {
		fmt.Fprintf(out, "  # spend: {p: …, q: …, v: …}   # Gamma-Gamma: NOT FITTED, the summary has no monetary_value column;\n")
		fmt.Fprintf(out, "  #   the consumer requires it: fit on a summary with monetary_value (or on Redis) and put its spend: line here\n")
	}
	fmt.Fprint(out, forecastSettings(cfg.Model.Predictive))
	return nil
}

// forecastSettings renders the block's lines that a fit does not estimate:
// those of the configured predictive block when there is one (a refit
// pasted over it must not reset the operator's horizon, discount rate or
// re-scoring), else SPEC §9's example values.
func forecastSettings(pred *aggregate.Predictive) string {
	horizon, discount, rescoreDays := 12, 0.01, 0.0
	from := "SPEC §9's example values: choose your own"
	if pred != nil {
		if p, ok := pred.Predictor.(interface{ Model() *clv.Model }); ok {
			c := p.Model().Config()
			horizon, discount = c.HorizonMonths, c.DiscountRateMonthly
			rescoreDays = float64(pred.RescoreEvery) / float64(aggregate.Day)
			from = "as configured (LTV_CONFIG)"
		}
	}
	return fmt.Sprintf("  # horizon, discount and re-scoring: %s\n  horizon_months: %d\n  discount_rate_monthly: %s\n  rescore_every_days: %s\n",
		from, horizon, strconv.FormatFloat(discount, 'g', -1, 64), strconv.FormatFloat(rescoreDays, 'g', -1, 64))
}

// num4 renders a parameter with enough digits to reproduce the fit.
func num4(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func runScore(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	var f summaryFlags
	cfg, err := loadConfig("score", args, getenv, errOut, func(fs *flag.FlagSet) { f.register(fs, false) }, nil)
	if err != nil {
		return err
	}
	// A bad --as-of is a usage error (exit 2), as in fit, even when the
	// configuration has no model to score with.
	if err := f.check(); err != nil {
		return err
	}
	pred := cfg.Model.Predictive
	if pred == nil {
		return fmt.Errorf("no predictive model configured: add the `predictive:` block that ltvctl fit prints to the YAML file (LTV_CONFIG)")
	}
	unit := clv.Week
	if pred.TimeUnit == aggregate.Day {
		unit = clv.Day
	}
	rows, monetary, err := loadSummary(ctx, cfg, &f, unit, errOut)
	if err != nil {
		return err
	}
	// Without a monetary_value column no customer's mean spend m is known:
	// the Gamma-Gamma expectation given only x is the population mean
	// p·v/(q−1) (the model's value for a customer with no repeat order),
	// for every customer; scoring m as 0 would pull it towards 0.
	popSpend := 0.0
	if !monetary {
		popSpend = pred.Predictor.Predict(0, 0, 0, 0, 0).ExpectedSpend
		fmt.Fprintf(errOut, "note: %s has no monetary_value column: expected_spend is the population mean %.2f for every customer, and predicted_clv uses it\n", f.summary, popSpend)
	}
	// A scoring the model cannot compute is a zero prediction, as the
	// consumer stores it (counted in ltv_prediction_failures_total there);
	// here it is named, and the command fails, so that zeros are never
	// taken for a forecast.
	failures := func() int64 { return 0 }
	if c, ok := pred.Predictor.(interface{ Failures() int64 }); ok {
		failures = c.Failures
	}
	var failed []string
	w := csv.NewWriter(out)
	_ = w.Write([]string{"id", "p_alive", "expected_orders", "expected_spend", "predicted_clv"})
	for _, r := range rows {
		before := failures()
		m := r.customer.M
		if !monetary {
			// With m at the population mean, the credibility-weighted
			// expectation is the population mean whatever x.
			m = popSpend
		}
		p := pred.Predictor.Predict(r.customer.X, r.customer.Tx, r.customer.T, m, r.margin)
		if failures() != before {
			failed = append(failed, r.id)
		}
		if !monetary {
			p.ExpectedSpend = popSpend
		}
		if r.churned {
			// SPEC §9: no future for a churned customer. Expected orders
			// are P(alive) × …, so 0 too, as the consumer stores them;
			// expected_spend stays the Gamma-Gamma value of its x and m.
			p.PAlive, p.ExpectedOrders, p.CLV = 0, 0, 0
		}
		// Rendered as the consumer stores them (SPEC §9's places), so that
		// a customer scored at the same time shows the same digits here and
		// in Redis.
		_ = w.Write([]string{r.id, aggregate.PredictionText(p.PAlive, 4), aggregate.PredictionText(p.ExpectedOrders, 4),
			aggregate.PredictionText(p.ExpectedSpend, 2), aggregate.PredictionText(p.CLV, 2)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if len(failed) > 0 {
		const show = 10
		names := strings.Join(failed[:min(len(failed), show)], ", ")
		if len(failed) > show {
			names += ", …"
		}
		return fmt.Errorf("the model could not score %d of %d customers (%s): their rows hold zeros, as the consumer stores them; check the predictive parameters (refit)",
			len(failed), len(rows), names)
	}
	return nil
}
