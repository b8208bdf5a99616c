package main

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestScoreNamesTheCustomersItCannotScore: a scoring the model cannot
// compute (here parameters far outside what a fit on real data gives, whose
// expected-orders quadrature does not converge for one history) is a zero
// prediction, as the consumer stores it; score must not pass those zeros
// off as a forecast: it still prints every row, names the customers on
// stderr and exits 1. With parameters that score everyone it exits 0.
func TestScoreNamesTheCustomersItCannotScore(t *testing.T) {
	const extreme = `predictive:
  model: bgnbd
  time_unit: week
  purchases: {r: 1.2858073927219364, alpha: 0.0014446977668972484, a: 1.469845256829271e+06, b: 1.449452672089553e+06}
  spend: {p: 6, q: 3.7, v: 15}
  horizon_months: 12
  discount_rate_monthly: 0.01
`
	summary := testutil.WriteFile(t, "summary.csv", "customer_id,frequency,recency,T,monetary_value\n"+
		"ok,0,0,10,0\nbad,19,15.5322316671995,19.119715197253402,20\n")
	for _, tc := range []struct {
		name, config string
		code         int
		failed       []string // customers stderr must name
	}{
		{"parameters that score everyone", spectest.Predictive, 0, nil},
		{"a history the model cannot score", extreme, 1, []string{"bad"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"LTV_CONFIG": testutil.WriteFile(t, "ltv.yaml", tc.config)}
			code, out, errOut := ltvctl(t, env, "score", "--summary", summary)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(recs) != 3 {
				t.Fatalf("score printed %d rows (%v), want the header and both customers:\n%s", len(recs), err, out)
			}
			if recs[1][0] != "ok" || recs[1][1] == "0.0000" {
				t.Errorf("customer ok: %v, want its forecast", recs[1])
			}
			for _, id := range tc.failed {
				if !strings.Contains(errOut, "could not score 1 of 2 customers ("+id+")") {
					t.Errorf("stderr %q does not name customer %s", errOut, id)
				}
			}
			if tc.failed == nil && errOut != "" {
				t.Errorf("stderr %q, want nothing", errOut)
			}
		})
	}
}
