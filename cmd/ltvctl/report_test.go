package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
)

// hashes reads every customer hash with KEYS and HGETALL: an independent
// way to the figures the report must show.
func hashes(t *testing.T, c *redis.Client) []map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "ltv:{*}").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, k := range keys {
		if !strings.HasSuffix(k, "}") {
			continue // pending events, a partition's keys
		}
		h, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// TestReportFromRedis: on customers the consumer's pipeline wrote, the
// JSON report's counts and exact sums equal those recomputed here from the
// raw hashes, and LTV:CAC is mean LTV / CAC.
func TestReportFromRedis(t *testing.T) {
	srv := seedRedis(t, aggregate.DefaultModel(), 400, 6000)
	env := map[string]string{"LTV_REDIS_URL": srv.URL()}
	code, out, errOut := ltvctl(t, env, "report", "--format", "json", "--as-of", "2023-01-01", "--cac", "email=25", "--cac", "paid_search=40.50", "--cac", "tv=10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "read 400 of 400 customers") || !strings.Contains(errOut, `channel "tv", which no customer came through`) {
		t.Errorf("stderr: %s", errOut)
	}
	var got report.Stats
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Currency != "SEK" {
		t.Errorf("currency %q, want the default base currency SEK", got.Currency)
	}
	raw := hashes(t, srv.Client())
	if got.Population != int64(len(raw)) || got.SampleSize != 400 || got.Sampled {
		t.Fatalf("population %d sample %d sampled %v; %d hashes", got.Population, got.SampleSize, got.Sampled, len(raw))
	}
	tiers := map[string]int64{}
	type cohort struct {
		customers       int64
		revenue, profit decimal.Decimal
	}
	cohorts := map[string]*cohort{}
	for _, h := range raw {
		tiers[h["tier"]]++
		if h["first_order_at"] == "" {
			continue
		}
		key := h["first_order_at"][:7] + "|" + h["channel"]
		if cohorts[key] == nil {
			cohorts[key] = &cohort{}
		}
		co := cohorts[key]
		co.customers++
		co.revenue = co.revenue.Add(decimal.RequireFromString(h["revenue"]))
		co.profit = co.profit.Add(decimal.RequireFromString(h["gross_profit"]))
	}
	for name, n := range tiers {
		if got.Tiers[name] != n {
			t.Errorf("tier %s: %d, want %d", name, got.Tiers[name], n)
		}
	}
	if len(got.Cohorts) != len(cohorts) || len(got.Cohorts) < 10 {
		t.Fatalf("%d cohorts, want %d", len(got.Cohorts), len(cohorts))
	}
	for i, gc := range got.Cohorts {
		want := cohorts[gc.Cohort+"|"+gc.Channel]
		if want == nil || gc.Customers != want.customers || !gc.Revenue.Decimal().Equal(want.revenue) || !gc.GrossProfit.Decimal().Equal(want.profit) {
			t.Errorf("cohort %s/%s: %d customers, revenue %s, profit %s; want %+v", gc.Cohort, gc.Channel, gc.Customers, gc.Revenue, gc.GrossProfit, want)
		}
		if i > 0 && (got.Cohorts[i-1].Cohort > gc.Cohort || (got.Cohorts[i-1].Cohort == gc.Cohort && got.Cohorts[i-1].Channel >= gc.Channel)) {
			t.Errorf("cohorts out of order at %d", i)
		}
	}
	costs := map[string]float64{"email": 25, "paid_search": 40.5}
	for _, ch := range got.Channels {
		cost, ok := costs[ch.Channel]
		if !ok {
			if ch.CAC != nil || ch.LTVCAC != nil {
				t.Errorf("channel %s has a CAC it was not given", ch.Channel)
			}
			continue
		}
		mean, _ := ch.MeanLTV.Decimal().Float64()
		if ch.LTVCAC == nil || abs(*ch.LTVCAC-mean/cost) > 0.001*mean/cost {
			t.Errorf("channel %s: ltv_cac %v, want %v / %v", ch.Channel, ch.LTVCAC, mean, cost)
		}
	}
	// The JSON keys are the read API's, in its order.
	keys := regexp.MustCompile(`(?m)^  "([a-z_]+)":`).FindAllStringSubmatch(out, -1)
	var names []string
	for _, k := range keys {
		names = append(names, k[1])
	}
	if strings.Join(names, ",") != "generated_at,as_of,population,sampled,sample_size,sample_error,tiers,tier_order,segments,ltv_histogram,cohorts,channels,mean_ltv,currency,skipped" {
		t.Errorf("top-level keys %v", names)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestReportFormats: the aligned table, CSV, one table, and a sample.
func TestReportFormats(t *testing.T) {
	srv := seedRedis(t, aggregate.DefaultModel(), 300, 3000)
	env := map[string]string{"LTV_REDIS_URL": srv.URL()}
	_, js, _ := ltvctl(t, env, "report", "--format", "json", "--as-of", "2023-01-01")
	var full report.Stats
	if err := json.Unmarshal([]byte(js), &full); err != nil {
		t.Fatal(err)
	}

	t.Run("table", func(t *testing.T) {
		code, out, errOut := ltvctl(t, env, "report", "--as-of", "2023-01-01", "--cac", "email=30")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"300 customers, as of 2023-01-01T00:00:00Z", "; amounts in SEK\n", "\nTiers\n", "\nSegments\n", "\nLTV histogram\n",
			"\nCohorts (month of first order × channel)\n", "\nChannels\n", "MONTHLY CHURN RATE", "LTV CAC"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		block := out[strings.Index(out, "COHORT  "):]
		block = block[:strings.Index(block, "\n\n")]
		lines := strings.Split(block, "\n")
		if len(lines) != len(full.Cohorts)+1 {
			t.Fatalf("%d cohort lines, want %d", len(lines)-1, len(full.Cohorts))
		}
		// Aligned: every column starts where its header does.
		starts := columnStarts(lines[0])
		for _, l := range lines[1:] {
			if got := columnStarts(l); !slices.Equal(got, starts) {
				t.Fatalf("misaligned:\n%s\n%s", lines[0], l)
			}
		}
		if strings.Contains(block, "%!") {
			t.Errorf("formatting error in\n%s", block)
		}
	})

	t.Run("csv", func(t *testing.T) {
		tests := []struct {
			table, header string
			rows          int
		}{
			{"", "cohort,channel,customers,share_new,share_active,repeat_rate,revenue,gross_profit,mean_ltv,mean_predicted_clv,arpu_month,monthly_churn_rate,subscription_ltv", len(full.Cohorts)},
			{"channels", "channel,customers,mean_ltv,cac,ltv_cac", len(full.Channels)},
			{"tiers", "tier,customers", 4},
			{"segments", "segment,customers", 5},
			{"histogram", "from,to,customers", len(full.LTVHistogram)},
		}
		for _, tc := range tests {
			args := []string{"report", "--format", "csv", "--as-of", "2023-01-01"}
			if tc.table != "" {
				args = append(args, "--table", tc.table)
			}
			code, out, errOut := ltvctl(t, env, args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errOut)
			}
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(rows) != tc.rows+1 || strings.Join(rows[0], ",") != tc.header {
				t.Errorf("%v: %v, %d rows, header %v", args, err, len(rows), rows[0])
			}
		}
	})

	t.Run("sample", func(t *testing.T) {
		code, out, errOut := ltvctl(t, env, "report", "--sample", "100", "--table", "tiers", "--as-of", "2023-01-01")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(out, "uniform sample of 100 of 300 customers; shares ±8.0") || !strings.Contains(errOut, "read 100 of 300 customers") {
			t.Errorf("sample not stated:\n%s\n%s", out, errOut)
		}
		if strings.Contains(out, "Cohorts") {
			t.Errorf("--table tiers printed more:\n%s", out)
		}
	})
}

// columnStarts are the offsets where the cells of an aligned line begin
// (after two spaces or more: a header may hold one).
func columnStarts(line string) []int {
	var starts []int
	for i := range line {
		if line[i] != ' ' && (i == 0 || i >= 2 && line[i-1] == ' ' && line[i-2] == ' ') {
			starts = append(starts, i)
		}
	}
	return starts
}

// TestReportErrors: bad flags fail before Redis is touched, with a clear
// message and exit 1, as every ltvctl command's.
func TestReportErrors(t *testing.T) {
	env := map[string]string{"LTV_REDIS_URL": "redis://127.0.0.1:1/0"} // never reached
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--cac", "email"}, 2, `--cac "email": want channel=amount`},
		{[]string{"--cac", "email=abc"}, 2, `amount "abc" is not a positive decimal`},
		{[]string{"--cac", "email=-3"}, 2, `amount "-3" is not a positive decimal`},
		{[]string{"--cac", "email=0"}, 2, `is not a positive decimal`},
		{[]string{"--cac", "email=0.004"}, 2, `amount "0.004" rounds to 0.00`},
		{[]string{"--cac", "=5"}, 2, "no channel name"},
		{[]string{"--cac", `"open=5`}, 2, `channel "open is not a valid quoted name`},
		{[]string{"--cac", `(none)=5`, "--cac", `""=6`}, 2, "channel given twice"},
		{[]string{"--cac", "email=5", "--cac", "email=6"}, 2, "channel given twice"},
		{[]string{"--format", "xml"}, 2, `--format "xml": want table, csv or json`},
		{[]string{"--table", "everything"}, 2, `--table "everything": want one of tiers, segments, histogram, cohorts, channels`},
		{[]string{"--as-of", "yesterday"}, 2, `--as-of "yesterday" is neither RFC 3339 nor YYYY-MM-DD`},
		{[]string{"--ltv-buckets", "0,abc"}, 2, `--ltv-buckets: "abc" is not a number`},
		{[]string{"--ltv-buckets", "10,20"}, 2, "must start at 0"},
		{[]string{"--ltv-buckets", "0,20,5"}, 2, "edge 5 is not above 20"},
		{[]string{"--sample", "-1"}, 2, "--sample -1"},
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"--workers", "0"}, 2, "--workers (LTV_WORKERS)"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			start := time.Now()
			code, _, errOut := ltvctl(t, env, append([]string{"report"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, %q; want exit %d and %q", code, errOut, tc.code, tc.want)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v: it tried Redis", time.Since(start))
			}
		})
	}
}
