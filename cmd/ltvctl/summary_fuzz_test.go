package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSummaryCSV: a --summary file comes from a spreadsheet, pandas or
// a database export. Any bytes give rows or an error, never a panic; every
// row has an id, no id twice, figures the models accept, and the margin
// asked for.
func FuzzReadSummaryCSV(f *testing.F) {
	for _, seed := range []string{
		"ID,x,t_x,T,zbar\n1,2,30.43,38.86,22.35\n2,1,1.71,38.86,11.77\n",
		"customer_id,frequency,recency,T,monetary_value\na,0,0,10,\nb,3,8,10,12.5\n",
		",frequency,recency,T\n0,1,2,3\n1,0,0,5\n",
		"\ufeffFrequency, Recency ,t\n1,1,2\n",
		"frequency,recency,T\n1,2,1\n",
		"frequency,recency,T\n\"1\n\",2,3\n",
		"id,frequency,recency,T\nx,1,1,2\nx,1,1,2\n",
		"frequency,recency,T\nNaN,1,2\n",
		"",
		"\n\n",
	} {
		f.Add([]byte(seed))
	}
	path := filepath.Join(f.TempDir(), "summary.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rows, _, err := readSummaryCSV(path, 0.4)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", data)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.id == "" || seen[r.id] {
				t.Fatalf("row id %q empty or repeated in %q", r.id, data)
			}
			seen[r.id] = true
			if err := r.customer.Check(); err != nil {
				t.Fatalf("row %q: %v, yet read without error from %q", r.id, err, data)
			}
			if r.margin != 0.4 {
				t.Fatalf("row %q margin %v", r.id, r.margin)
			}
		}
	})
}
