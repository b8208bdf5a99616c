package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"gonum.org/v1/gonum/stat/distuv"
)

// A refit pasted over the configured predictive block must keep what the
// fit does not estimate: the operator's horizon, discount rate and
// re-scoring (they were printed as 12, 0.01 and 0 whatever the YAML said,
// so pasting a monthly refit silently reset them). Without a configured
// block, SPEC §9's example values are printed and said to be examples.
func TestFitKeepsTheConfiguredForecastSettings(t *testing.T) {
	srv := seedRedis(t, aggregate.DefaultModel(), 400, 6000)
	settings := strings.NewReplacer("horizon_months: 12", "horizon_months: 24",
		"discount_rate_monthly: 0.01", "discount_rate_monthly: 0.005", "rescore_every_days: 0", "rescore_every_days: 7.5")
	configured := testutil.WriteFile(t, "ltv.yaml", settings.Replace(spectest.Predictive))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"configured", map[string]string{"LTV_REDIS_URL": srv.URL(), "LTV_CONFIG": configured},
			[]string{"as configured (LTV_CONFIG)", "horizon_months: 24\n", "discount_rate_monthly: 0.005\n", "rescore_every_days: 7.5\n"}},
		{"not configured", map[string]string{"LTV_REDIS_URL": srv.URL()},
			[]string{"example values", "horizon_months: 12\n", "discount_rate_monthly: 0.01\n", "rescore_every_days: 0\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ltvctl(t, tc.env, "fit", "--as-of", "2023-01-01")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the block lacks %q:\n%s", w, out)
				}
			}
			// The block is a configuration the consumer loads, with the
			// settings it printed.
			model, _, err := config.LoadModelFile(testutil.WriteFile(t, "refit.yaml", out))
			if err != nil || model.Predictive == nil {
				t.Fatalf("the printed block does not load: %v\n%s", err, out)
			}
			got := forecastSettings(model.Predictive)
			if got = got[strings.Index(got, "  horizon_months"):]; !strings.HasSuffix(out, got) {
				t.Errorf("loaded back, the block's settings render as\n%s\nnot as printed:\n%s", got, out)
			}
		})
	}
}

// A summary file does not say its time unit, and lifetimes builds them in
// days by default: fitting a day-based file as weeks gives a block that
// forecasts seven times too slowly. Without --time-unit, fit says which
// unit it read the file in; with it, nothing.
func TestFitSaysWhichUnitItReadASummaryIn(t *testing.T) {
	path := testutil.CDNOWSummary(t)
	for _, tc := range []struct {
		args     []string
		note     bool
		timeUnit string
	}{
		{[]string{"fit", "--summary", path}, true, "week"},
		{[]string{"fit", "--summary", path, "--time-unit", "week"}, false, "week"},
		{[]string{"fit", "--summary", path, "--time-unit", "day"}, false, "day"},
	} {
		t.Run(strings.Join(tc.args[3:], " "), func(t *testing.T) {
			code, out, errOut := ltvctl(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := strings.Contains(errOut, "reading "+path+" as weeks"); got != tc.note {
				t.Errorf("note on stderr: %v, want %v:\n%s", got, tc.note, errOut)
			}
			if !strings.Contains(out, "time_unit: "+tc.timeUnit+"\n") {
				t.Errorf("block lacks time_unit: %s:\n%s", tc.timeUnit, out)
			}
		})
	}
}

// syntheticSummary is a small lifetimes-format summary (in weeks) that both
// purchase models fit in a moment: 500 customers drawn from the BG/NBD and
// Gamma-Gamma processes with the CDNOW estimates, with a fixed seed, so the
// file is the same on every run.
func syntheticSummary(t *testing.T) string {
	t.Helper()
	src := rand.NewPCG(11, 12)
	rng := rand.New(src)
	gamma := func(shape, rate float64) float64 { return distuv.Gamma{Alpha: shape, Beta: rate, Src: src}.Rand() }
	var b strings.Builder
	b.WriteString("customer_id,frequency,recency,T,monetary_value\n")
	for i := range 500 {
		T := 27 + 12*rng.Float64()
		rate := gamma(0.243, 4.414)
		drop := distuv.Beta{Alpha: 0.793, Beta: 2.426, Src: src}.Rand()
		nu := gamma(3.74, 15.44)
		var x, tx, sum float64
		for t := rng.ExpFloat64() / rate; t < T; t += rng.ExpFloat64() / rate {
			x, tx = x+1, t
			sum += gamma(6.25, nu)
			if rng.Float64() < drop {
				break
			}
		}
		m := 0.0
		if x > 0 {
			m = sum / x
		}
		fmt.Fprintf(&b, "c-%d,%v,%.4f,%.4f,%.2f\n", i, x, tx, T, m)
	}
	return testutil.WriteFile(t, "summary.csv", b.String())
}

// fitBlockHead is the start of fit's printed block for a model and unit.
func fitBlockHead(model, unit string) string {
	return "predictive:\n  model: " + model + "\n  time_unit: " + unit + "\n  purchases: {"
}

// fit refits the configured model by default: without --model the
// configured predictive block's model (LTV_CONFIG), else bgnbd; an
// explicit --model wins. (It printed a bgnbd block whatever the YAML said,
// so refitting an mbgnbd deployment silently switched its model.) A
// summary file's unit is the file's: without --time-unit it is read in
// weeks whatever the configured unit, and the note says so, and says when
// the configured block's unit differs.
func TestFitDefaultsFromTheConfiguredBlockOnASummary(t *testing.T) {
	summary := syntheticSummary(t)
	mbgnbdDay := testutil.WriteFile(t, "mbgnbd-day.yaml", strings.NewReplacer("model: bgnbd", "model: mbgnbd", "time_unit: week", "time_unit: day").Replace(spectest.Predictive))
	bgnbdWeek := testutil.WriteFile(t, "bgnbd-week.yaml", spectest.Predictive)
	noBlock := testutil.WriteFile(t, "no-block.yaml", "default_gross_margin: 0.4\n")
	const unitNote, configuredNote = "reading " + "%s as weeks", "the configured predictive block (LTV_CONFIG) has time_unit: day"
	for _, tc := range []struct {
		name        string
		config      string // LTV_CONFIG; "" unset
		flags       []string
		model, unit string
		unitNote    bool // the note that the file was read in weeks
		configNote  bool // the note that the configured unit differs
	}{
		{"no config", "", nil, "bgnbd", "week", true, false},
		{"no predictive block", noBlock, nil, "bgnbd", "week", true, false},
		{"configured mbgnbd, day", mbgnbdDay, nil, "mbgnbd", "week", true, true},
		{"configured mbgnbd, --model bgnbd", mbgnbdDay, []string{"--model", "bgnbd"}, "bgnbd", "week", true, true},
		{"configured mbgnbd, --time-unit day", mbgnbdDay, []string{"--time-unit", "day"}, "mbgnbd", "day", false, false},
		{"configured mbgnbd, --time-unit week", mbgnbdDay, []string{"--time-unit", "week"}, "mbgnbd", "week", false, false},
		{"configured bgnbd, --model mbgnbd", bgnbdWeek, []string{"--model", "mbgnbd"}, "mbgnbd", "week", true, false},
		{"configured bgnbd", bgnbdWeek, nil, "bgnbd", "week", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.config != "" {
				env["LTV_CONFIG"] = tc.config
			}
			code, out, errOut := ltvctl(t, env, append([]string{"fit", "--summary", summary}, tc.flags...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if want := fitBlockHead(tc.model, tc.unit); !strings.Contains(out, want) {
				t.Errorf("block does not start %q:\n%s", want, out)
			}
			if got := strings.Contains(errOut, fmt.Sprintf(unitNote, summary)); got != tc.unitNote {
				t.Errorf("note that the file was read as weeks: %v, want %v:\n%s", got, tc.unitNote, errOut)
			}
			if got := strings.Contains(errOut, configuredNote); got != tc.configNote {
				t.Errorf("note on the configured unit: %v, want %v:\n%s", got, tc.configNote, errOut)
			}
		})
	}
}

// From Redis, fit's --time-unit and --model default to the configured
// predictive block's, else week and bgnbd; explicit flags win. A default
// fit gives exactly the block of the same fit with the configured values
// given as flags.
func TestFitDefaultsFromTheConfiguredBlockOnRedis(t *testing.T) {
	srv := seedRedis(t, aggregate.DefaultModel(), 400, 6000)
	mbgnbdDay := testutil.WriteFile(t, "mbgnbd-day.yaml", strings.NewReplacer("model: bgnbd", "model: mbgnbd", "time_unit: week", "time_unit: day").Replace(spectest.Predictive))
	bgnbdDay := testutil.WriteFile(t, "bgnbd-day.yaml", strings.NewReplacer("time_unit: week", "time_unit: day").Replace(spectest.Predictive))
	fit := func(t *testing.T, config string, flags ...string) string {
		t.Helper()
		env := map[string]string{"LTV_REDIS_URL": srv.URL()}
		if config != "" {
			env["LTV_CONFIG"] = config
		}
		code, out, errOut := ltvctl(t, env, append([]string{"fit", "--as-of", "2023-01-01"}, flags...)...)
		if code != 0 {
			t.Fatalf("%s %v: exit %d: %s", config, flags, code, errOut)
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		config      string
		flags       []string
		model, unit string
	}{
		{"no config", "", nil, "bgnbd", "week"},
		{"configured mbgnbd, day", mbgnbdDay, nil, "mbgnbd", "day"},
		{"configured bgnbd, day", bgnbdDay, nil, "bgnbd", "day"},
		{"configured mbgnbd, day, --model bgnbd", mbgnbdDay, []string{"--model", "bgnbd"}, "bgnbd", "day"},
		{"configured mbgnbd, day, --time-unit week", mbgnbdDay, []string{"--time-unit", "week"}, "mbgnbd", "week"},
		{"configured mbgnbd, day, both flags", mbgnbdDay, []string{"--model", "bgnbd", "--time-unit", "week"}, "bgnbd", "week"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := fit(t, tc.config, tc.flags...)
			if want := fitBlockHead(tc.model, tc.unit); !strings.Contains(out, want) {
				t.Fatalf("block does not start %q:\n%s", want, out)
			}
			// The same fit as with the model and unit given: the
			// defaults change which fit is run, nothing else.
			if explicit := fit(t, tc.config, "--model", tc.model, "--time-unit", tc.unit); out != explicit {
				t.Errorf("default fit\n%s\ndiffers from the explicit one\n%s", out, explicit)
			}
		})
	}
}
