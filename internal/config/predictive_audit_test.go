package config

import (
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/spectest"
)

// TestPredictiveBlockErrorsNameTheSetting: every bad value of the
// `predictive:` block (SPEC §9) fails at start-up with an error that names
// the setting and says what is wrong with it, not something untrue (a
// horizon too large for an int is a whole number, just not a usable one).
func TestPredictiveBlockErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string // every one must be in the error
	}{
		{"r zero", "r: 0.243", "r: 0", []string{"purchases", "r = 0", "> 0"}},
		{"alpha negative", "alpha: 4.414", "alpha: -2", []string{"purchases", "alpha = -2"}},
		{"a not a number", "a: 0.793", "a: .nan", []string{"purchases", "a = NaN"}},
		{"b infinite", "b: 2.426", "b: .inf", []string{"purchases", "b = +Inf"}},
		{"p zero", "p: 6.25", "p: 0", []string{"spend", "p = 0"}},
		{"v negative", "v: 15.44", "v: -1", []string{"spend", "v = -1"}},
		{"q one", "q: 3.74", "q: 1", []string{"spend", "q = 1", "exceed 1"}},
		{"unknown model", "model: bgnbd", "model: pareto", []string{"model", `"pareto"`, "bgnbd, mbgnbd"}},
		{"model in capitals", "model: bgnbd", "model: BGNBD", []string{"model", `"BGNBD"`}},
		{"unknown time unit", "time_unit: week", "time_unit: month", []string{"time_unit", `"month"`, "day, week"}},
		{"horizon 0", "horizon_months: 12", "horizon_months: 0", []string{"horizon_months = 0", "[1, 1200]"}},
		{"horizon negative", "horizon_months: 12", "horizon_months: -3", []string{"horizon_months = -3"}},
		{"horizon beyond the bound", "horizon_months: 12", "horizon_months: 1201", []string{"horizon_months = 1201", "[1, 1200]"}},
		{"horizon beyond an int", "horizon_months: 12", "horizon_months: 99999999999999999999999", []string{"horizon_months", "99999999999999999999999", "too large"}},
		{"horizon a fraction", "horizon_months: 12", "horizon_months: 12.5", []string{"horizon_months", "not a whole number"}},
		{"discount negative", "discount_rate_monthly: 0.01", "discount_rate_monthly: -0.01", []string{"discount_rate_monthly = -0.01", "≥ 0"}},
		{"rescore negative", "rescore_every_days: 0", "rescore_every_days: -1", []string{"rescore_every_days = -1"}},
		{"rescore beyond ten years", "rescore_every_days: 0", "rescore_every_days: 4000", []string{"rescore_every_days = 4000"}},
		{"rescore not a number", "rescore_every_days: 0", "rescore_every_days: .nan", []string{"rescore_every_days = NaN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(spectest.Predictive, tc.from, tc.to, 1)
			if yaml == spectest.Predictive {
				t.Fatalf("%q is not in the block", tc.from)
			}
			var f File
			err := ParseFile([]byte(yaml), &f)
			if err == nil {
				_, err = f.Model()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestPredictiveNumbersMayBeQuoted: a parameter given as a quoted number
// ("0.243", as some tools write YAML) is the same value as unquoted, as the
// decimal settings are; quoted text that is not a decimal number is named.
func TestPredictiveNumbersMayBeQuoted(t *testing.T) {
	model := func(yaml string) (*File, error) {
		var f File
		if err := ParseFile([]byte(yaml), &f); err != nil {
			return nil, err
		}
		_, err := f.Model()
		return &f, err
	}
	plain, err := model(spectest.Predictive)
	if err != nil {
		t.Fatal(err)
	}
	quoted := spectest.Predictive
	for _, kv := range []string{"r: 0.243", "alpha: 4.414", "q: 3.74", "discount_rate_monthly: 0.01", "rescore_every_days: 0"} {
		k, v, _ := strings.Cut(kv, ": ")
		next := strings.Replace(quoted, kv, k+`: "`+v+`"`, 1)
		if next == quoted {
			t.Fatalf("%q is not in the block", kv)
		}
		quoted = next
	}
	quoted = strings.Replace(quoted, "a: 0.793", "a: ' 7.93e-1 '", 1)
	got, err := model(quoted)
	if err != nil {
		t.Fatalf("quoted numbers refused: %v", err)
	}
	if *got.Predictive.Purchases.R != *plain.Predictive.Purchases.R || *got.Predictive.Purchases.A != *plain.Predictive.Purchases.A ||
		*got.Predictive.Spend.Q != *plain.Predictive.Spend.Q || *got.Predictive.DiscountRateMonthly != *plain.Predictive.DiscountRateMonthly {
		t.Fatalf("quoted %+v %+v, unquoted %+v %+v", *got.Predictive.Purchases, *got.Predictive.Spend, *plain.Predictive.Purchases, *plain.Predictive.Spend)
	}
	for _, bad := range []string{`"0x1p-2"`, `"1_000"`, `"Inf"`, `"NaN"`, `"0.2 4"`, `""`, `"1e400"`} {
		_, err := model(strings.Replace(spectest.Predictive, "r: 0.243", "r: "+bad, 1))
		if err == nil || !strings.Contains(err.Error(), "r") || !strings.Contains(err.Error(), "want a number") && !strings.Contains(err.Error(), "out of range") {
			t.Errorf("r: %s: %v", bad, err)
		}
	}
}
