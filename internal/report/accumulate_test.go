package report_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/shopspring/decimal"
)

var asOf = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

// six customers whose figures are worked out by hand in the tests below.
var six = []struct {
	id     string
	fields map[string]string
}{
	// Cohort 2025-01 × email: A, B, C. Observed 167, 181 and 60 days
	// (C churned on 2025-03-21): 408 days = 408 / 30.4375 months.
	{"A", map[string]string{"orders": "1", "revenue": "100.00", "gross_profit": "40.00", "ltv": "120.00", "tier": "bronze",
		"first_order_at": "2025-01-15T00:00:00Z", "last_order_at": "2025-01-15T00:00:00Z", "churned": "0", "channel": "email", "segment": "at_risk"}},
	{"B", map[string]string{"orders": "3", "revenue": "300.00", "gross_profit": "150.00", "ltv": "1500.00", "tier": "silver",
		"first_order_at": "2025-01-01T00:00:00Z", "last_order_at": "2025-06-01T00:00:00Z", "churned": "0", "channel": "email", "segment": "active"}},
	{"C", map[string]string{"orders": "2", "revenue": "200.00", "gross_profit": "50.00", "ltv": "60.00", "tier": "bronze",
		"first_order_at": "2025-01-20T00:00:00Z", "last_order_at": "2025-02-01T00:00:00Z", "churned": "1", "channel": "email",
		"segment": "churned", "segment_since": "2025-03-21T00:00:00Z"}},
	// Cohort 2025-02 × no channel: D, 141 days.
	{"D", map[string]string{"orders": "1", "revenue": "50.00", "gross_profit": "50.00", "ltv": "5000.00", "tier": "gold",
		"first_order_at": "2025-02-10T00:00:00Z", "last_order_at": "2025-02-10T00:00:00Z", "churned": "0", "segment": "new"}},
	// No order: counted in tiers, segments and the histogram only.
	{"E", map[string]string{"orders": "0", "revenue": "0.00", "gross_profit": "0.00", "ltv": "0.00", "tier": "bronze",
		"churned": "1", "segment": "churned", "segment_since": "2025-01-01T00:00:00Z"}},
	// Cohort 2025-02 × paid_search: F, scored by the predictive model, so
	// its historical LTV is its gross profit; 123 days.
	{"F", map[string]string{"orders": "2", "revenue": "80.10", "gross_profit": "20.05", "ltv": "25000.00", "predicted_clv": "10.00",
		"tier": "platinum", "first_order_at": "2025-02-28T00:00:00Z", "last_order_at": "2025-04-01T00:00:00Z", "churned": "0",
		"channel": "paid_search", "segment": "active"}},
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func accumulate(t *testing.T, cfg report.Config) *report.Accumulator {
	t.Helper()
	acc, err := report.NewAccumulator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range six {
		if err := acc.Add(c.id, c.fields); err != nil {
			t.Fatalf("add %s: %v", c.id, err)
		}
	}
	return acc
}

// cohortRow flattens a cohort for comparison (nil → "null").
func cohortRow(c report.Cohort) []string {
	str := func(p *report.Money) string {
		if p == nil {
			return "null"
		}
		return p.String()
	}
	fl := func(p *float64) string {
		if p == nil {
			return "null"
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	return []string{c.Cohort, c.Channel, decimal.NewFromInt(c.Customers).String(), fl(&c.ShareNew), fl(&c.ShareActive),
		c.Revenue.String(), c.GrossProfit.String(), c.MeanLTV.String(), str(c.MeanPredictedCLV), fl(&c.RepeatRate),
		str(c.ARPUMonth), fl(c.MonthlyChurnRate), str(c.SubscriptionLTV)}
}

func TestCohortsByHand(t *testing.T) {
	acc := accumulate(t, report.Config{AsOf: asOf})
	st := acc.Stats(report.Meta{GeneratedAt: asOf.Add(1500 * time.Millisecond), Population: 6})
	want := [][]string{
		// 600 revenue / (408/30.4375) months = 44.76; 1 churned / 13.4045
		// months = 0.0746; subscription LTV = 240 gross profit / 1 churned.
		// mean LTV (120 + 1500 + 60) / 3 = 560; 2 of 3 repeat buyers.
		{"2025-01", "email", "3", "0", "0.3333", "600.00", "240.00", "560.00", "null", "0.6667", "44.76", "0.0746", "240.00"},
		// 50 / (141/30.4375) = 10.79; no churn: rate 0, no subscription LTV.
		{"2025-02", "", "1", "1", "0", "50.00", "50.00", "5000.00", "null", "0", "10.79", "0", "null"},
		// 80.10 / (123/30.4375) = 19.82; historical LTV = gross profit 20.05.
		{"2025-02", "paid_search", "1", "0", "1", "80.10", "20.05", "20.05", "10.00", "1", "19.82", "0", "null"},
	}
	if len(st.Cohorts) != len(want) {
		t.Fatalf("%d cohorts, want %d: %+v", len(st.Cohorts), len(want), st.Cohorts)
	}
	for i, c := range st.Cohorts {
		if got := cohortRow(c); strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("cohort %d:\n got %v\nwant %v", i, got, want[i])
		}
	}
	if got := st.Cohorts[0].CustomerMonths; got < 13.4045 || got > 13.4046 {
		t.Errorf("customer-months of 2025-01 email = %v, want 408/30.4375 = 13.40452", got)
	}
	if st.Population != 6 || st.SampleSize != 6 || st.Sampled || st.SampleError != nil {
		t.Errorf("population %d sample %d sampled %v error %v", st.Population, st.SampleSize, st.Sampled, st.SampleError)
	}
	if !st.GeneratedAt.Equal(asOf.Add(time.Second)) {
		t.Errorf("generated_at %v, want whole seconds", st.GeneratedAt)
	}
}

func TestCountsAndHistogramByHand(t *testing.T) {
	tests := []struct {
		name     string
		cfg      report.Config
		wantHist string // from-to:customers
	}{
		{"default edges around the default tiers", report.Config{AsOf: asOf},
			"0.00-500.00:3 500.00-1000.00:0 1000.00-2500.00:1 2500.00-5000.00:0 5000.00-10000.00:1 10000.00-20000.00:0 20000.00-40000.00:1 40000.00-null:0"},
		{"configured edges", report.Config{AsOf: asOf, Edges: []decimal.Decimal{dec("0"), dec("100"), dec("5000")}},
			"0.00-100.00:2 100.00-5000.00:2 5000.00-null:2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := accumulate(t, tc.cfg).Stats(report.Meta{GeneratedAt: asOf, Population: 6})
			var hist []string
			for _, b := range st.LTVHistogram {
				to := "null"
				if b.To != nil {
					to = b.To.String()
				}
				hist = append(hist, b.From.String()+"-"+to+":"+decimal.NewFromInt(b.Customers).String())
			}
			if got := strings.Join(hist, " "); got != tc.wantHist {
				t.Errorf("histogram\n got %s\nwant %s", got, tc.wantHist)
			}
			wantTiers := map[string]int64{"bronze": 3, "silver": 1, "gold": 1, "platinum": 1}
			wantSegments := map[string]int64{"new": 1, "active": 2, "at_risk": 1, "lapsed": 0, "churned": 2}
			for k, v := range wantTiers {
				if st.Tiers[k] != v {
					t.Errorf("tier %s: %d, want %d", k, st.Tiers[k], v)
				}
			}
			for k, v := range wantSegments {
				if st.Segments[k] != v {
					t.Errorf("segment %s: %d, want %d", k, st.Segments[k], v)
				}
			}
			if len(st.Tiers) != 4 || len(st.Segments) != 5 {
				t.Errorf("tiers %v segments %v", st.Tiers, st.Segments)
			}
			if strings.Join(st.TierOrder, ",") != "bronze,silver,gold,platinum" {
				t.Errorf("tier order %v", st.TierOrder)
			}
		})
	}
}

func TestChannelsAndLTVCAC(t *testing.T) {
	tests := []struct {
		name string
		cac  map[string]decimal.Decimal
		want []string // channel|customers|mean_ltv|cac|ltv_cac
	}{
		{"no costs", nil, []string{"|1|5000.00|null|null", "email|3|560.00|null|null", "paid_search|1|20.05|null|null"}},
		// 560 / 140 = 4; 20.05 / 10 = 2.005; a cost for a channel with no
		// customers adds no row.
		{"costs", map[string]decimal.Decimal{"email": dec("140"), "paid_search": dec("10.00"), "tv": dec("99")},
			[]string{"|1|5000.00|null|null", "email|3|560.00|140.00|4", "paid_search|1|20.05|10.00|2.005"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := accumulate(t, report.Config{AsOf: asOf, CAC: tc.cac}).Stats(report.Meta{GeneratedAt: asOf, Population: 6})
			var got []string
			for _, c := range st.Channels {
				cac, ratio := "null", "null"
				if c.CAC != nil {
					cac = c.CAC.String()
				}
				if c.LTVCAC != nil {
					ratio = decimal.NewFromFloat(*c.LTVCAC).String()
				}
				got = append(got, strings.Join([]string{c.Channel, decimal.NewFromInt(c.Customers).String(), c.MeanLTV.String(), cac, ratio}, "|"))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("channels\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestSampledScalesCountsAndSums: six customers standing for twelve double
// every count and sum; means, shares and rates stay.
func TestSampledScalesCountsAndSums(t *testing.T) {
	st := accumulate(t, report.Config{AsOf: asOf}).Stats(report.Meta{GeneratedAt: asOf, Population: 12, Sampled: true})
	if !st.Sampled || st.SampleSize != 6 || st.Population != 12 || st.SampleError == nil {
		t.Fatalf("sampled %v size %d population %d", st.Sampled, st.SampleSize, st.Population)
	}
	// 1.96 × √(0.25/6) × √(6/11) = 29.55 pp.
	if want := "uniform sample of 6 of 12 customers; shares ±29.55 pp, 95%"; !strings.HasPrefix(*st.SampleError, want) {
		t.Errorf("sample_error %q, want it to start %q", *st.SampleError, want)
	}
	if st.Tiers["bronze"] != 6 || st.Segments["churned"] != 4 || st.LTVHistogram[0].Customers != 6 {
		t.Errorf("counts not scaled: %v %v %v", st.Tiers, st.Segments, st.LTVHistogram[0])
	}
	c := st.Cohorts[0]
	if c.Customers != 6 || c.Revenue.String() != "1200.00" || c.GrossProfit.String() != "480.00" ||
		c.MeanLTV.String() != "560.00" || c.ShareActive != 0.3333 || c.ARPUMonth.String() != "44.76" || c.SubscriptionLTV.String() != "240.00" {
		t.Errorf("cohort %+v", c)
	}
	if st.Channels[1].Customers != 6 || st.Channels[1].MeanLTV.String() != "560.00" {
		t.Errorf("channel %+v", st.Channels[1])
	}
	// A population that is not larger than the sample is not scaled.
	st = accumulate(t, report.Config{AsOf: asOf}).Stats(report.Meta{GeneratedAt: asOf, Population: 4, Sampled: true})
	if st.Sampled || st.Population != 6 || st.Tiers["bronze"] != 3 {
		t.Errorf("population below the customers added: sampled %v population %d", st.Sampled, st.Population)
	}
}

// TestChurnedExposureEnds: a customer is observed to its churn or to the
// as-of time, and its churn counts only when it is within those months.
func TestChurnedExposureEnds(t *testing.T) {
	base := map[string]string{"orders": "1", "revenue": "10.00", "gross_profit": "10.00", "ltv": "10.00",
		"first_order_at": "2025-01-01T00:00:00Z", "last_order_at": "2025-01-11T00:00:00Z", "churned": "1"}
	tests := []struct {
		name        string
		extra       map[string]string
		wantDays    float64
		wantChurned int64
	}{
		{"churn time from the churned segment", map[string]string{"segment": "churned", "segment_since": "2025-01-31T00:00:00Z"}, 30, 1},
		{"no segment: the last order", nil, 10, 1},
		{"churned segment older than the last order: the last order", map[string]string{"segment": "churned", "segment_since": "2025-01-05T00:00:00Z"}, 10, 1},
		{"churn at the as-of time", map[string]string{"segment": "churned", "segment_since": "2025-07-01T00:00:00Z"}, 181, 1},
		{"churn after the as-of time: still a customer then", map[string]string{"segment": "churned", "segment_since": "2026-01-01T00:00:00Z"}, 181, 0},
		{"no churn time at all: the as-of time", map[string]string{"last_order_at": ""}, 181, 1},
		{"not churned: the as-of time", map[string]string{"churned": "0", "segment": "active"}, 181, 0},
		{"first order after the as-of time: none", map[string]string{"churned": "0", "first_order_at": "2025-08-01T00:00:00Z"}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]string{}
			for k, v := range base {
				fields[k] = v
			}
			for k, v := range tc.extra {
				fields[k] = v
			}
			acc, _ := report.NewAccumulator(report.Config{AsOf: asOf})
			if err := acc.Add("x", fields); err != nil {
				t.Fatal(err)
			}
			c := acc.Stats(report.Meta{}).Cohorts[0]
			if got := c.CustomerMonths * 30.4375; got < tc.wantDays-1e-9 || got > tc.wantDays+1e-9 {
				t.Errorf("observed %v days, want %v", got, tc.wantDays)
			}
			if c.Churned != tc.wantChurned {
				t.Errorf("churned %d, want %d", c.Churned, tc.wantChurned)
			}
			if tc.wantDays == 0 && (c.ARPUMonth != nil || c.MonthlyChurnRate != nil || c.SubscriptionLTV != nil) {
				t.Errorf("no customer-months, yet ARPU %v churn %v LTV %v", c.ARPUMonth, c.MonthlyChurnRate, c.SubscriptionLTV)
			}
		})
	}
}

func TestBadFieldsAreSkippedWithAClearError(t *testing.T) {
	tests := []struct {
		field, value, want string
	}{
		{"orders", "two", `orders "two" is not a count`},
		{"orders", "-1", `orders "-1" is not a count`},
		{"revenue", "1,00", `revenue "1,00" is not a decimal`},
		{"predicted_clv", "NaN", `predicted_clv "NaN" is not a decimal`},
		{"first_order_at", "2025-13-01", `first_order_at "2025-13-01" is not RFC 3339`},
		{"churned", "yes", `churned "yes" is not 0 or 1`},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			acc, _ := report.NewAccumulator(report.Config{AsOf: asOf})
			_ = acc.Add("good", six[0].fields)
			err := acc.Add("bad", map[string]string{"orders": "1", tc.field: tc.value})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"bad"`) {
				t.Fatalf("error %v, want one naming the customer and %s", err, tc.want)
			}
			st := acc.Stats(report.Meta{Population: 2})
			if st.Skipped.Unreadable != 1 || st.Skipped.Total() != 1 || st.SampleSize != 1 || st.Tiers["bronze"] != 1 || !strings.Contains(st.Skipped.First, tc.want) {
				t.Errorf("skipped %+v, sample %d, tiers %v", st.Skipped, st.SampleSize, st.Tiers)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  report.Config
		want string
	}{
		{"no as-of", report.Config{}, "no as-of time"},
		{"edges not from 0", report.Config{AsOf: asOf, Edges: []decimal.Decimal{dec("10"), dec("20")}}, "must start at 0"},
		{"edges not ascending", report.Config{AsOf: asOf, Edges: []decimal.Decimal{dec("0"), dec("20"), dec("20")}}, "edge 20 is not above 20"},
		{"zero cost", report.Config{AsOf: asOf, CAC: map[string]decimal.Decimal{"tv": dec("0")}}, `channel "tv" is 0`},
		{"negative cost", report.Config{AsOf: asOf, CAC: map[string]decimal.Decimal{"tv": dec("-5")}}, "must be above 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := report.NewAccumulator(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDefaultEdges(t *testing.T) {
	tests := []struct {
		tiers []aggregate.Tier
		want  string
	}{
		{aggregate.DefaultTiers(), "0 500 1000 2500 5000 10000 20000 40000"},
		{[]aggregate.Tier{{Name: "a", Min: dec("0")}, {Name: "b", Min: dec("300")}}, "0 150 300 600"},
		{[]aggregate.Tier{{Name: "only", Min: dec("0")}}, "0"},
	}
	for _, tc := range tests {
		var got []string
		for _, e := range report.DefaultEdges(tc.tiers) {
			got = append(got, e.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("DefaultEdges(%v) = %v, want %s", tc.tiers, got, tc.want)
		}
	}
}

// TestJSONShape: the object of GET /v1/stats, field by field, with money
// as two-decimal strings and null where a figure is undefined.
func TestJSONShape(t *testing.T) {
	acc := accumulate(t, report.Config{AsOf: asOf, Edges: []decimal.Decimal{dec("0"), dec("1000")},
		CAC: map[string]decimal.Decimal{"email": dec("140")}})
	b, err := json.Marshal(acc.Stats(report.Meta{GeneratedAt: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC), Population: 6}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"generated_at":"2026-12-05T09:00:00Z","as_of":"` + asOf.UTC().Format(time.RFC3339Nano) + `","population":6,"sampled":false,"sample_size":6,"sample_error":null,` +
		`"tiers":{"bronze":3,"gold":1,"platinum":1,"silver":1},"tier_order":["bronze","silver","gold","platinum"],` +
		`"segments":{"active":2,"at_risk":1,"churned":2,"lapsed":0,"new":1},` +
		`"ltv_histogram":[{"from":"0.00","to":"1000.00","customers":3},{"from":"1000.00","to":null,"customers":3}],` +
		`"cohorts":[` +
		`{"cohort":"2025-01","channel":"email","customers":3,"share_new":0,"share_active":0.3333,"revenue":"600.00","gross_profit":"240.00","mean_ltv":"560.00","mean_predicted_clv":null,"repeat_rate":0.6667,"arpu_month":"44.76","monthly_churn_rate":0.0746,"subscription_ltv":"240.00"},` +
		`{"cohort":"2025-02","channel":"","customers":1,"share_new":1,"share_active":0,"revenue":"50.00","gross_profit":"50.00","mean_ltv":"5000.00","mean_predicted_clv":null,"repeat_rate":0,"arpu_month":"10.79","monthly_churn_rate":0,"subscription_ltv":null},` +
		`{"cohort":"2025-02","channel":"paid_search","customers":1,"share_new":0,"share_active":1,"revenue":"80.10","gross_profit":"20.05","mean_ltv":"20.05","mean_predicted_clv":"10.00","repeat_rate":1,"arpu_month":"19.82","monthly_churn_rate":0,"subscription_ltv":null}],` +
		`"channels":[{"channel":"","customers":1,"mean_ltv":"5000.00","cac":null,"ltv_cac":null},` +
		`{"channel":"email","customers":3,"mean_ltv":"560.00","cac":"140.00","ltv_cac":4},` +
		`{"channel":"paid_search","customers":1,"mean_ltv":"20.05","cac":null,"ltv_cac":null}],` +
		`"mean_ltv":"1340.01","currency":"SEK",` +
		`"skipped":{"not_hash":0,"no_public_fields":0,"unreadable":0,"first":""}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	// It reads back (for clients of the API).
	var back report.Stats
	if err := json.Unmarshal(b, &back); err != nil || back.Cohorts[0].Revenue.String() != "600.00" || back.Cohorts[1].SubscriptionLTV != nil {
		t.Errorf("read back: %v %+v", err, back.Cohorts)
	}
}

func TestEmpty(t *testing.T) {
	acc, _ := report.NewAccumulator(report.Config{AsOf: asOf})
	b, err := json.Marshal(acc.Stats(report.Meta{GeneratedAt: asOf}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"population":0`, `"cohorts":[]`, `"channels":[]`, `"tiers":{"bronze":0,`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

// TestCustomerMonthsKeepFractionsOfASecond: first_order_at, segment_since
// and the as-of time are RFC 3339 with fractions of a second, and a
// customer is observed exactly from its first order (docs/cohorts.md), not
// from the whole second below it. A cohort whose only customer churned
// 0.8 s after ordering has customer-months and a churn, so a churn rate
// and a subscription LTV.
func TestCustomerMonthsKeepFractionsOfASecond(t *testing.T) {
	tests := []struct {
		name                         string
		asOf                         time.Time
		fields                       map[string]string
		wantARPU, wantRate, wantSubs string
		wantMonths                   float64
	}{
		{
			name: "one month and half a second: 30000 × 2629800 / 2629800.5",
			asOf: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC),
			fields: map[string]string{"orders": "1", "revenue": "30000.00", "gross_profit": "15000.00", "ltv": "45000.00",
				"first_order_at": "2026-05-15T13:29:59.5Z", "last_order_at": "2026-05-15T13:29:59.5Z", "churned": "0", "segment": "new"},
			wantARPU: "29999.99", wantRate: "0", wantSubs: "null", wantMonths: 2629800.5 / 2629800,
		},
		{
			name: "seen for 0.4 s before the as-of time",
			asOf: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC),
			fields: map[string]string{"orders": "1", "revenue": "100.00", "gross_profit": "50.00", "ltv": "150.00",
				"first_order_at": "2026-06-14T23:59:59.6Z", "last_order_at": "2026-06-14T23:59:59.6Z", "churned": "0", "segment": "new"},
			wantARPU: "657450000.00", wantRate: "0", wantSubs: "null", wantMonths: 0.4 / 2629800,
		},
		{
			name: "churned 0.8 s after its order",
			asOf: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC),
			fields: map[string]string{"orders": "1", "revenue": "100.00", "gross_profit": "50.00", "ltv": "50.00",
				"first_order_at": "2026-03-03T00:00:00.1Z", "last_order_at": "2026-03-03T00:00:00.1Z", "churned": "1",
				"segment": "churned", "segment_since": "2026-03-03T00:00:00.9Z"},
			wantARPU: "328725000.00", wantRate: "3287000", wantSubs: "50.00", wantMonths: 0.8 / 2629800,
		},
		{
			name: "an as-of time with a fraction: 100000 × 2629800 / 2629800.25",
			asOf: time.Date(2026, 6, 15, 0, 0, 0, 250_000_000, time.UTC),
			fields: map[string]string{"orders": "1", "revenue": "100000.00", "gross_profit": "100000.00", "ltv": "300000.00",
				"first_order_at": "2026-05-15T13:30:00Z", "last_order_at": "2026-05-15T13:30:00Z", "churned": "0", "segment": "new"},
			wantARPU: "99999.99", wantRate: "0", wantSubs: "null", wantMonths: 2629800.25 / 2629800,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := report.NewAccumulator(report.Config{AsOf: tc.asOf})
			if err != nil {
				t.Fatal(err)
			}
			if err := acc.Add("x", tc.fields); err != nil {
				t.Fatal(err)
			}
			st := acc.Stats(report.Meta{GeneratedAt: tc.asOf})
			if len(st.Cohorts) != 1 {
				t.Fatalf("%d cohorts, want 1", len(st.Cohorts))
			}
			row := cohortRow(st.Cohorts[0])
			got := strings.Join(row[len(row)-3:], " ")
			if want := tc.wantARPU + " " + tc.wantRate + " " + tc.wantSubs; got != want {
				t.Errorf("arpu_month, monthly_churn_rate, subscription_ltv = %s, want %s", got, want)
			}
			if m := st.Cohorts[0].CustomerMonths; m < tc.wantMonths*(1-1e-12) || m > tc.wantMonths*(1+1e-12) {
				t.Errorf("customer-months %v, want %v", m, tc.wantMonths)
			}
		})
	}
}

// TestMeanLTVIsExactOverEveryCustomer: the population's mean historical
// LTV comes from the exact sum, not from the channels' rounded means. Two
// channels of two customers: 0.00 and 0.01 (mean 0.005, shown 0.01), and
// 0.00 and 0.00. Their means weighted by size give 0.005, shown 0.01; the
// four customers' mean is 0.0025, 0.00 to the cent. No cohort: null.
func TestMeanLTVIsExactOverEveryCustomer(t *testing.T) {
	acc, err := report.NewAccumulator(report.Config{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ channel, ltv string }{{"email", "0.00"}, {"email", "0.01"}, {"social", "0.00"}, {"social", "0.00"}} {
		if err := acc.Add(fmt.Sprintf("c-%d", i), map[string]string{"orders": "1", "revenue": "1.00", "gross_profit": "1.00",
			"churned": "0", "ltv": c.ltv, "tier": "bronze", "segment": "new", "first_order_at": "2025-01-01T00:00:00Z",
			"last_order_at": "2025-01-01T00:00:00Z", "channel": c.channel}); err != nil {
			t.Fatal(err)
		}
	}
	st := acc.Stats(report.Meta{Population: 4})
	if len(st.Channels) != 2 || st.Channels[0].MeanLTV.String() != "0.01" || st.Channels[1].MeanLTV.String() != "0.00" {
		t.Fatalf("channels %+v, want email 0.01 and social 0.00", st.Channels)
	}
	if st.MeanLTV == nil || st.MeanLTV.String() != "0.00" {
		t.Errorf("mean_ltv %v, want 0.00 (0.01 / 4 customers, to the cent)", st.MeanLTV)
	}
	empty, err := report.NewAccumulator(report.Config{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if m := empty.Stats(report.Meta{}).MeanLTV; m != nil {
		t.Errorf("no customer: mean_ltv %v, want null", m)
	}
}

// TestStatsNameTheirCurrency: the figures name the base currency their
// amounts are in, SEK (SPEC §7's default) unless configured.
func TestStatsNameTheirCurrency(t *testing.T) {
	for _, tc := range []struct{ configured, want string }{{"", "SEK"}, {"EUR", "EUR"}} {
		acc, err := report.NewAccumulator(report.Config{AsOf: asOf, Currency: tc.configured})
		if err != nil {
			t.Fatal(err)
		}
		if got := acc.Stats(report.Meta{GeneratedAt: asOf}).Currency; got != tc.want {
			t.Errorf("configured %q: currency %q, want %q", tc.configured, got, tc.want)
		}
	}
}
