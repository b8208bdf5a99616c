// ltvctl report: the cohort and channel figures of SPEC §11, read from
// Redis by internal/stats, printed as aligned tables, CSV or the JSON of
// the read API's GET /v1/stats.

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/shopspring/decimal"
)

// reportTables are the tables of a report, in the order printed.
var reportTables = []string{"tiers", "segments", "histogram", "cohorts", "channels"}

// reportFlags are report's own flags.
type reportFlags struct {
	format, table, asOf, buckets string
	cac                          []string
	sample                       int
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "format", "table", "output: table (aligned text), csv (one table) or json (the object of GET /v1/stats)")
	fs.StringVar(&f.table, "table", "", "with table or csv: print only this table: "+strings.Join(reportTables, ", ")+" (csv default cohorts)")
	fs.StringVar(&f.asOf, "as-of", "", "end of the customer-months (RFC 3339 or YYYY-MM-DD; default now)")
	fs.StringVar(&f.buckets, "ltv-buckets", "", "lower edges of the LTV histogram bands, comma-separated, from 0 (default: around the tier thresholds)")
	fs.IntVar(&f.sample, "sample", 0, "read a uniform sample of this many customers when there are more (0: read every customer)")
	fs.Func("cac", "acquisition cost per new customer of a channel, channel=amount (repeatable; (none) names customers without a channel)", func(s string) error {
		f.cac = append(f.cac, s)
		return nil
	})
}

// halfCent is the smallest acquisition cost that is not shown as 0.00.
var halfCent = decimal.New(5, -3)

// parseCAC reads the --cac values into costs per channel; source names
// where they came from in errors (the flag, or serve's LTV_CAC).
func parseCAC(source string, values []string) (map[string]decimal.Decimal, error) {
	out := map[string]decimal.Decimal{}
	for _, v := range values {
		i := strings.LastIndex(v, "=")
		if i < 0 {
			return nil, badFlag(fmt.Errorf("%s %q: want channel=amount", source, v))
		}
		channel, amount := strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:])
		if channel == "" {
			return nil, badFlag(fmt.Errorf("%s %q: no channel name (customers without one are (none))", source, v))
		}
		switch {
		case strings.HasPrefix(channel, `"`):
			// A Go-quoted name is that name exactly: how the text tables
			// show a channel that is literally "(none)", starts with a
			// quote or holds a control character, and how a name with a
			// comma goes into LTV_CAC.
			name, err := strconv.Unquote(channel)
			if err != nil {
				return nil, badFlag(fmt.Errorf("%s %q: channel %s is not a valid quoted name", source, v, channel))
			}
			channel = name
		case channel == "(none)":
			channel = ""
		}
		d, err := decimal.NewFromString(amount)
		if err != nil || d.Sign() <= 0 {
			return nil, badFlag(fmt.Errorf("%s %q: amount %q is not a positive decimal", source, v, amount))
		}
		// Money is shown to the cent: a cost below half a cent would be
		// printed as 0.00 beside an LTV:CAC computed from the exact value
		// (0.00 and 1535000 in one row), so it is refused as the zero it
		// shows as.
		if d.LessThan(halfCent) {
			return nil, badFlag(fmt.Errorf("%s %q: amount %q rounds to 0.00; an acquisition cost is at least 0.01", source, v, amount))
		}
		if _, dup := out[channel]; dup {
			return nil, badFlag(fmt.Errorf("%s %q: channel given twice", source, v))
		}
		out[channel] = d
	}
	return out, nil
}

// parseEdges reads --ltv-buckets.
func parseEdges(s string) ([]decimal.Decimal, error) {
	if s == "" {
		return nil, nil
	}
	var edges []decimal.Decimal
	for _, part := range strings.Split(s, ",") {
		d, err := decimal.NewFromString(strings.TrimSpace(part))
		if err != nil {
			return nil, badFlag(fmt.Errorf("--ltv-buckets: %q is not a number", part))
		}
		edges = append(edges, d)
	}
	return edges, nil
}

func runReport(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	var f reportFlags
	cfg, err := loadConfig("report", args, getenv, errOut, f.register, nil)
	if err != nil {
		return err
	}
	switch f.format {
	case "table", "csv", "json":
	default:
		return badFlag(fmt.Errorf("--format %q: want table, csv or json", f.format))
	}
	if f.table != "" && !slices.Contains(reportTables, f.table) {
		return badFlag(fmt.Errorf("--table %q: want one of %s", f.table, strings.Join(reportTables, ", ")))
	}
	if f.sample < 0 {
		return badFlag(fmt.Errorf("--sample %d: want a number of customers, or 0 for all", f.sample))
	}
	rc := report.Config{Tiers: cfg.Model.Tiers, Currency: cfg.BaseCurrency}
	if rc.CAC, err = parseCAC("--cac", f.cac); err != nil {
		return err
	}
	if rc.Edges, err = parseEdges(f.buckets); err != nil {
		return err
	}
	if f.asOf != "" {
		if rc.AsOf, err = parseTime(f.asOf); err != nil {
			return err
		}
	} else {
		rc.AsOf = time.Now().UTC()
	}
	if _, err := report.NewAccumulator(rc); err != nil {
		return badFlag(err) // bad flag values, before connecting
	}
	st, closeStore, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	last := time.Now()
	s, err := stats.Read(ctx, st, stats.ReadConfig{
		Report: rc, SampleLimit: f.sample,
		Progress: func(p stats.Progress) {
			if time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			if p.Sampling {
				fmt.Fprintf(errOut, "listed %d customers (choosing a sample)…\n", p.Listed)
			} else {
				fmt.Fprintf(errOut, "read %d customers…\n", p.Read)
			}
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "read %d of %d customers\n", s.SampleSize, s.Population)
	if sk := s.Skipped; sk.Total() > 0 {
		in := ""
		if s.Sampled {
			in = " of the sample"
		}
		fmt.Fprintf(errOut, "warning: %d keys%s under ltv:{…} left out, not in the population: %d not hashes, %d hashes without public fields, %d customers with unreadable fields; first: %s\n",
			sk.Total(), in, sk.NotHash, sk.NoPublicFields, sk.Unreadable, sk.First)
	}
	for ch := range rc.CAC {
		if !hasChannel(s, ch) {
			fmt.Fprintf(errOut, "warning: --cac names channel %q, which no customer came through\n", channelName(ch))
		}
	}
	switch f.format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	case "csv":
		name := f.table
		if name == "" {
			name = "cohorts"
		}
		w := csv.NewWriter(out)
		t := reportTable(s, name, false)
		_ = w.Write(t.header)
		_ = w.WriteAll(t.rows)
		if err := w.Error(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	return writeTables(out, s, f.table)
}

func hasChannel(s *report.Stats, ch string) bool {
	for _, c := range s.Channels {
		if c.Channel == ch {
			return true
		}
	}
	return false
}

// channelName shows the empty channel as (none). A channel that is
// literally named "(none)", or whose name starts with a quote, is shown
// Go-quoted so that neither reads as the other; --cac takes the same
// quoted form. Tier names are shown the same way: the empty tier is the
// customers below a ladder that starts above 0.
func channelName(ch string) string {
	switch {
	case ch == "":
		return "(none)"
	case ch == "(none)" || strings.HasPrefix(ch, `"`):
		return strconv.Quote(ch)
	}
	return ch
}

// textCell renders a cell for a terminal. Channel and tier names are a
// producer's (or whatever Redis holds) and may carry a newline, a tab or
// an escape sequence: printed raw they would split a row, shift its
// columns or drive the operator's terminal. Such a cell is shown Go-quoted,
// every byte visible; CSV and JSON keep the value as it is.
func textCell(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// table is one table of a report: a header and rows of cells.
type table struct {
	title  string
	header []string
	rows   [][]string
}

// reportTable builds the named table. For text, shares are percentages,
// undefined figures "-" and the empty channel, tier and segment "(none)"; for CSV,
// shares are fractions, undefined figures empty and channels, tiers and
// segments as stored.
func reportTable(s *report.Stats, name string, text bool) table {
	null := ""
	share := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	channel := func(ch string) string { return ch }
	tier := channel
	if text {
		null = "-"
		share = func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }
		channel = channelName
		tier = channelName
	}
	money := func(m *report.Money) string {
		if m == nil {
			return null
		}
		return m.String()
	}
	rate := func(x *float64) string {
		if x == nil {
			return null
		}
		return strconv.FormatFloat(*x, 'f', -1, 64)
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	var t table
	switch name {
	case "tiers":
		t = table{title: "Tiers", header: []string{"tier", "customers"}}
		for _, n := range s.TierOrder {
			t.rows = append(t.rows, []string{tier(n), count(s.Tiers[n])})
		}
	case "segments":
		t = table{title: "Segments", header: []string{"segment", "customers"}}
		for _, n := range s.SegmentNames {
			t.rows = append(t.rows, []string{tier(n), count(s.Segments[n])})
		}
	case "histogram":
		t = table{title: "LTV histogram", header: []string{"from", "to", "customers"}}
		for _, b := range s.LTVHistogram {
			t.rows = append(t.rows, []string{b.From.String(), money(b.To), count(b.Customers)})
		}
	case "cohorts":
		t = table{title: "Cohorts (month of first order × channel)", header: []string{"cohort", "channel", "customers",
			"share_new", "share_active", "repeat_rate", "revenue", "gross_profit", "mean_ltv", "mean_predicted_clv",
			"arpu_month", "monthly_churn_rate", "subscription_ltv"}}
		for _, c := range s.Cohorts {
			t.rows = append(t.rows, []string{c.Cohort, channel(c.Channel), count(c.Customers), share(c.ShareNew),
				share(c.ShareActive), share(c.RepeatRate), c.Revenue.String(), c.GrossProfit.String(), c.MeanLTV.String(),
				money(c.MeanPredictedCLV), money(c.ARPUMonth), rate(c.MonthlyChurnRate), money(c.SubscriptionLTV)})
		}
	case "channels":
		t = table{title: "Channels", header: []string{"channel", "customers", "mean_ltv", "cac", "ltv_cac"}}
		for _, c := range s.Channels {
			t.rows = append(t.rows, []string{channel(c.Channel), count(c.Customers), c.MeanLTV.String(), money(c.CAC), rate(c.LTVCAC)})
		}
	}
	return t
}

// writeTables prints the report (or one table of it) as aligned text.
func writeTables(out io.Writer, s *report.Stats, only string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%d customers, as of %s (computed %s); amounts in %s\n", s.Population, s.AsOf.Format(time.RFC3339), s.GeneratedAt.Format(time.RFC3339), s.Currency)
	if s.SampleError != nil {
		fmt.Fprintf(tw, "%s\n", *s.SampleError)
	}
	for _, name := range reportTables {
		if only != "" && name != only {
			continue
		}
		t := reportTable(s, name, true)
		fmt.Fprintf(tw, "\n%s\n", t.title)
		header := make([]string, len(t.header))
		for i, h := range t.header {
			header[i] = strings.ToUpper(strings.ReplaceAll(h, "_", " "))
		}
		fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
		cells := make([]string, 0, len(t.header))
		for _, r := range t.rows {
			cells = cells[:0]
			for _, c := range r {
				cells = append(cells, textCell(c))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		// A blank line ends the tabwriter's column block.
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
