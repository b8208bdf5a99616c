package config

import (
	"strings"
	"testing"
)

// FuzzParseFile: whatever an operator's LTV_CONFIG holds, loading it gives
// a model or an error, never a panic, and a model it gives passes its own
// validation (the consumer would start with it).
func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"base_currency: SEK\ndefault_gross_margin: 0.4\nlifespan_years: 3\nmin_window_years: 1\nhysteresis: 0.05\n",
		"tiers:\n  - {name: bronze, min: 0}\n  - {name: silver, min: 1000}\n  - {name: gold, min: \"5000.50\"}\n",
		"at_risk_after_days: 90\nlapsed_after_days: 180\nmax_future_skew: 24h\n",
		"predictive:\n  model: bgnbd\n  time_unit: week\n  purchases: {r: 0.243, alpha: 4.414, a: 0.793, b: 2.426}\n" +
			"  spend: {p: 6.25, q: 3.74, v: 15.44}\n  horizon_months: 12\n  discount_rate_monthly: 0.01\n  rescore_every_days: 30\n",
		"predictive:\n  model: mbgnbd\n  time_unit: day\n  purchases: {r: \"0.5\", alpha: 6, a: 0.9, b: 1.6}\n" +
			"  spend: {p: 6, q: 3, v: 15}\n  horizon_months: 1\n  discount_rate_monthly: 0\n",
		"lifespan_years: 1e309\n",
		"hysteresis: -0.1\n",
		"tiers: []\n",
		"tiers:\n  - bronze: 0\n  - {name: silver, min: 1000}\n  - gold: 5000\n",
		"a: &x [*x]\n",
		"---\n---\n",
		"default_gross_margin: 0x10\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var file File
		if err := ParseFile([]byte(data), &file); err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("empty error for %q", data)
			}
			return
		}
		m, err := file.Model()
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("empty error for %q", data)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Model() gave a model its own Validate refuses (%v) for %q", err, data)
		}
	})
}
