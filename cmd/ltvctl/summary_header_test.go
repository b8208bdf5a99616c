package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestSummaryHeaderVariants: a --summary file's columns are found whatever
// the case of their names (a spreadsheet's Frequency, an export's
// RECENCY) and the blanks around them, and its ids are kept: a
// customer_id, CustomerID, ID or id column, or the unnamed first column
// pandas writes for a summary's index. Every variant scores the same
// customers, under their own ids, with the numbers of the canonical file.
func TestSummaryHeaderVariants(t *testing.T) {
	cfgPath := testutil.WriteFile(t, "ltv.yaml", spectest.Predictive)
	model, _, err := config.LoadModelFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	customers := []struct {
		id          string
		x, tx, T, m float64
	}{{"c-17", 2, 30.43, 38.86, 22.35}, {"c-4", 0, 0, 38.86, 0}, {"c-99", 7, 20, 39, 41.5}}
	body := func(cells func(id string, x, tx, T, m float64) string) string {
		var b strings.Builder
		for _, c := range customers {
			b.WriteString(cells(c.id, c.x, c.tx, c.T, c.m) + "\n")
		}
		return b.String()
	}
	plain := func(id string, x, tx, T, m float64) string { return fmt.Sprintf("%s,%v,%v,%v,%v", id, x, tx, T, m) }
	for _, tc := range []struct {
		name, csv string
	}{
		{"lifetimes", "customer_id,frequency,recency,T,monetary_value\n" + body(plain)},
		{"pandas index", ",frequency,recency,T,monetary_value\n" + body(plain)},
		{"capitalised", "CustomerID,Frequency,Recency,T,Monetary_Value\n" + body(plain)},
		{"upper case", "CUSTOMER_ID,FREQUENCY,RECENCY,T,MONETARY_VALUE\n" + body(plain)},
		{"CDNOW names", "ID,x,t_x,T,zbar\n" + body(plain)},
		{"blanks around names", " id , frequency , recency , t , monetary_value \n" + body(plain)},
		{"other order, extra and padding columns", "T,note,monetary_value,,frequency,customer_id,recency\n" +
			body(func(id string, x, tx, T, m float64) string {
				return fmt.Sprintf("%v,\"a, b\",%v,,%v,%s,%v", T, m, x, id, tx)
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, errOut := scoreRows(t, map[string]string{"LTV_CONFIG": cfgPath}, "--summary", testutil.WriteFile(t, "summary.csv", tc.csv))
			if len(rows) != len(customers) {
				t.Errorf("%d rows %v, want %d (%s)", len(rows), rows, len(customers), errOut)
			}
			for _, c := range customers {
				p := model.Predictive.Predictor.Predict(c.x, c.tx, c.T, c.m, 1)
				want := strings.Join([]string{c.id, aggregate.PredictionText(p.PAlive, 4), aggregate.PredictionText(p.ExpectedOrders, 4),
					aggregate.PredictionText(p.ExpectedSpend, 2), aggregate.PredictionText(p.CLV, 2)}, ",")
				if got := strings.Join(rows[c.id], ","); got != want {
					t.Errorf("customer %s: %q, want %q", c.id, got, want)
				}
			}
		})
	}
}

// TestFitSaysWhySpendRowsWereSkipped: Gamma-Gamma needs a positive mean
// order value, so repeat buyers without one are left out of the spend fit
// and counted in the block's comment, with the reason their source gives:
// a summary's monetary_value of 0 or less (it says nothing of refunds).
func TestFitSaysWhySpendRowsWereSkipped(t *testing.T) {
	data, err := os.ReadFile(testutil.CDNOWSummary(t))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"customer_id", "frequency", "recency", "T", "monetary_value"})
	skipped := 0
	for i, r := range recs[1:] {
		if r[1] != "0" && i%40 == 0 {
			r[4] = []string{"0", "-3.5"}[skipped%2]
			skipped++
		}
		_ = w.Write(r)
	}
	w.Flush()
	code, out, errOut := ltvctl(t, nil, "fit", "--summary", testutil.WriteFile(t, "summary.csv", b.String()))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := fmt.Sprintf("(%d with a monetary_value of 0 or less skipped)", skipped); skipped == 0 || !strings.Contains(out, want) {
		t.Errorf("comment does not say %q:\n%s", want, out)
	}
}
