package main

import (
	"os"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
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
	if _, err := os.Stat(cdnow); err != nil {
		t.Skipf("CDNOW summary not found at %s: %v", cdnow, err)
	}
	path := cdnow
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
