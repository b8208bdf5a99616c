package main

import (
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestScoreMatchesAnIndependentReference pins `ltvctl score` (SPEC §10) to
// SPEC §9's definitions computed outside this code: P(alive) and the
// conditional expected orders of BG/NBD (Fader, Hardie & Lee 2005, eq. 10
// and 11) and MBG/NBD (Batislam et al. 2007), the Gamma-Gamma expected
// spend p(v + x·m)/(px + q − 1), and predicted_clv = Σ_{i=1..12} margin ×
// spend × (E[orders by month i] − E[orders by month i−1]) / 1.01^i with a
// month of 30.4375 days (in weeks), evaluated with mpmath at 40 digits
// (hyp2f1), at SPEC §9's example parameters. A summary has no margins, so
// the margin is the default 1.0. The CSV header, the row order (the
// file's) and the places (4 for p_alive and expected_orders, 2 for money)
// are SPEC's.
func TestScoreMatchesAnIndependentReference(t *testing.T) {
	summary := testutil.WriteFile(t, "summary.csv", "customer_id,frequency,recency,T,monetary_value\n"+
		"c1,1,8.571428571428571,21.083333333333332,50\n"+
		"c2,0,0,30,0\n"+
		"c3,5,40,52,20\n"+
		"c4,2,30.43,38.86,22.35\n")
	for _, tc := range []struct {
		model string
		want  string
	}{
		// mpmath: c1 0.569415 1.074032 45.494994 46.074802; c2 1 0.308546 35.218978 10.224969;
		// c3 0.698119 2.715362 21.226831 54.282627; c4 0.726579 1.563100 24.663714 36.311257.
		{"bgnbd", "id,p_alive,expected_orders,expected_spend,predicted_clv\n" +
			"c1,0.5694,1.0740,45.49,46.07\n" +
			"c2,1.0000,0.3085,35.22,10.22\n" +
			"c3,0.6981,2.7154,21.23,54.28\n" +
			"c4,0.7266,1.5631,24.66,36.31\n"},
		// mpmath: c1 0.651268 1.287043 45.494994 55.169342; c2 0.650021 0.208021 35.218978 6.889266;
		// c3 0.727701 2.888376 21.226831 57.720516; c4 0.774419 1.718962 24.663714 39.909933.
		{"mbgnbd", "id,p_alive,expected_orders,expected_spend,predicted_clv\n" +
			"c1,0.6513,1.2870,45.49,55.17\n" +
			"c2,0.6500,0.2080,35.22,6.89\n" +
			"c3,0.7277,2.8884,21.23,57.72\n" +
			"c4,0.7744,1.7190,24.66,39.91\n"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			cfg := testutil.WriteFile(t, "ltv.yaml", strings.Replace(spectest.Predictive, "model: bgnbd", "model: "+tc.model, 1))
			code, out, errOut := ltvctl(t, map[string]string{"LTV_CONFIG": cfg}, "score", "--summary", summary)
			if code != 0 || out != tc.want {
				t.Fatalf("exit %d (%s):\n%s\nwant\n%s", code, errOut, out, tc.want)
			}
		})
	}
}
