package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// cdnowAsOf is the end of the CDNOW observation (the data's README).
var cdnowAsOf = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// fittedBlock is the predictive block fit printed, read back as the
// consumer reads it, with the purchase log-likelihood of its comment.
type fittedBlock struct {
	r, alpha, a, b, p, q, v float64
	logLik                  float64
	timeUnit, model         string
}

var fitLogLik = regexp.MustCompile(`# purchases: log-likelihood (-?[0-9.]+);`)

// runFitBlock runs ltvctl fit and parses its block.
func runFitBlock(t *testing.T, env map[string]string, args ...string) fittedBlock {
	t.Helper()
	code, out, errOut := ltvctl(t, env, append([]string{"fit"}, args...)...)
	if code != 0 {
		t.Fatalf("fit %v: exit %d: %s", args, code, errOut)
	}
	var f config.File
	if err := config.ParseFile([]byte(out), &f); err != nil {
		t.Fatalf("fit %v printed a block the consumer cannot read: %v\n%s", args, err, out)
	}
	pr := f.Predictive
	if pr == nil || pr.Purchases == nil || pr.Spend == nil || pr.Purchases.R == nil || pr.Purchases.Alpha == nil ||
		pr.Purchases.A == nil || pr.Purchases.B == nil || pr.Spend.P == nil || pr.Spend.Q == nil || pr.Spend.V == nil {
		t.Fatalf("fit %v: incomplete block:\n%s", args, out)
	}
	m := fitLogLik.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("fit %v: no log-likelihood comment:\n%s", args, out)
	}
	ll, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return fittedBlock{r: float64(*pr.Purchases.R), alpha: float64(*pr.Purchases.Alpha), a: float64(*pr.Purchases.A), b: float64(*pr.Purchases.B),
		p: float64(*pr.Spend.P), q: float64(*pr.Spend.Q), v: float64(*pr.Spend.V), logLik: ll, timeUnit: pr.TimeUnit, model: pr.Model}
}

// seedCDNOW writes the CDNOW customers into a real redis-server through the
// consumer's own pipeline, as order events: customer ID's first order T
// weeks before the end of the observation, its last t_x weeks after the
// first, its other repeat orders evenly between, every repeat order of
// zbar (so the mean of the repeat orders is zbar) and the first order of
// an amount that must not count in m. It returns the server and the
// number of customers.
func seedCDNOW(t *testing.T) (*testutil.RedisServer, int) {
	t.Helper()
	f, err := os.Open(testutil.CDNOWSummary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 2 || fmt.Sprint(recs[0]) != "[ID x t_x T zbar]" {
		t.Fatalf("unexpected CDNOW header %v", recs[0])
	}
	srv, p := seedPipeline(t, aggregate.DefaultModel())
	week := 7 * 24 * time.Hour
	weeks := func(s string) time.Duration {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(math.Round(v * float64(week)))
	}
	var batch []pipeline.Record
	offset := int64(0)
	flush := func() {
		if _, err := p.Process(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for _, rec := range recs[1:] {
		id := "c-" + rec[0]
		x, err := strconv.Atoi(rec[1])
		if err != nil {
			t.Fatal(err)
		}
		first := cdnowAsOf.Add(-weeks(rec[3]))
		tx := weeks(rec[2])
		for k := 0; k <= x; k++ {
			at, amount := first, "1000.00"
			if k > 0 {
				at, amount = first.Add(time.Duration(int64(tx)*int64(k)/int64(x))), rec[4]
			}
			batch = append(batch, pipeline.Record{Topic: "orders", Offset: offset, Key: []byte(id), Value: fmt.Appendf(nil,
				`{"schema":"ltv.order.v1","event_id":"e-%s-%d","type":"order_placed","customer_id":%q,"order_id":"o-%d","amount":%q,"currency":"SEK","occurred_at":%q}`,
				rec[0], k, id, k, amount, at.Format(time.RFC3339Nano))})
			offset++
			if len(batch) == 1000 {
				flush()
			}
		}
	}
	flush()
	return srv, len(recs) - 1
}

// TestFitFromRedisReproducesCDNOW: SPEC §10's fit reads every customer
// from Redis; on the CDNOW customers written by the pipeline, `fit --as-of
// 1997-09-30 --time-unit week` gives what the same fit gives on the
// published summary (so, for BG/NBD, the published estimates to their
// stated precision), for both purchase models; `--time-unit day` gives
// the same r, a, b and spend with alpha 7 times the weekly one (alpha is
// a time scale), and a block saying day.
func TestFitFromRedisReproducesCDNOW(t *testing.T) {
	testutil.SkipShort(t, "seeds the 2,357 CDNOW customers into redis-server")
	srv, customers := seedCDNOW(t)
	env := map[string]string{"LTV_REDIS_URL": srv.URL()}
	asOf := cdnowAsOf.Format(time.RFC3339)
	near := func(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }
	for _, tc := range []struct {
		model, unit string
		scale       float64 // alpha in this unit per alpha in weeks
	}{
		{"bgnbd", "week", 1}, {"mbgnbd", "week", 1}, {"bgnbd", "day", 7}, {"mbgnbd", "day", 7},
	} {
		t.Run(tc.model+"/"+tc.unit, func(t *testing.T) {
			fromSummary := runFitBlock(t, nil, "--summary", testutil.CDNOWSummary(t), "--model", tc.model)
			got := runFitBlock(t, env, "--as-of", asOf, "--model", tc.model, "--time-unit", tc.unit)
			if got.model != tc.model || got.timeUnit != tc.unit {
				t.Errorf("block says model %q, time_unit %q; want %q, %q", got.model, got.timeUnit, tc.model, tc.unit)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"r", got.r, fromSummary.r}, {"alpha", got.alpha, tc.scale * fromSummary.alpha},
				{"a", got.a, fromSummary.a}, {"b", got.b, fromSummary.b},
				{"p", got.p, fromSummary.p}, {"q", got.q, fromSummary.q}, {"v", got.v, fromSummary.v},
			} {
				if !near(c.got, c.want, 1e-4) {
					t.Errorf("%s = %v from Redis, want %v (the summary's fit)", c.name, c.got, c.want)
				}
			}
			if tc.unit == "week" && math.Abs(got.logLik-fromSummary.logLik) > 1e-3 {
				t.Errorf("log-likelihood %v from Redis, %v from the summary", got.logLik, fromSummary.logLik)
			}
			if tc.model != "bgnbd" || tc.unit != "week" {
				return
			}
			// The published BG/NBD estimates (the data's README), to the
			// places they are published with.
			for _, c := range []struct {
				name      string
				got, want float64
				places    int
			}{
				{"r", got.r, 0.243, 3}, {"alpha", got.alpha, 4.414, 3}, {"a", got.a, 0.793, 3}, {"b", got.b, 2.426, 3},
				{"log-likelihood", got.logLik, -9582.4, 1},
				// Gamma-Gamma: p and q as published; v = 15.4477 is the
				// maximum (its likelihood is above that of the published
				// 15.44, which is flat along p·v/(q−1)), so 0.1 %.
				{"p", got.p, 6.25, 2}, {"q", got.q, 3.74, 2},
			} {
				scale := math.Pow(10, float64(c.places))
				if math.Round(c.got*scale) != math.Round(c.want*scale) {
					t.Errorf("%s = %v, published %v (%d places)", c.name, c.got, c.want, c.places)
				}
			}
			if !near(got.v, 15.44, 1e-3) {
				t.Errorf("v = %v, published 15.44", got.v)
			}
		})
	}
	if customers != 2357 {
		t.Errorf("%d CDNOW customers, want 2357", customers)
	}
}
