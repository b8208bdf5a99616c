package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/report"
)

// TestTiersTableShowsCustomersWithoutATier: the customers below a ladder
// that starts above 0 (tier "") get a row of their own, shown "(none)" in
// the text tables as a customer without a channel is, and kept as stored
// ("") in CSV.
func TestTiersTableShowsCustomersWithoutATier(t *testing.T) {
	s := &report.Stats{
		AsOf: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Population: 5, SampleSize: 5,
		TierOrder: []string{"", "silver", "(none)"}, Tiers: map[string]int64{"": 3, "silver": 1, "(none)": 1},
	}
	var out strings.Builder
	if err := writeTables(&out, s, "tiers"); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, row := range []string{"\n(none)    3", "\nsilver    1", "\n\"(none)\"  1"} {
		if !strings.Contains(text, row) {
			t.Errorf("no row %q in\n%s", strings.TrimPrefix(row, "\n"), text)
		}
	}
	csvRows := reportTable(s, "tiers", false).rows
	if len(csvRows) != 3 || csvRows[0][0] != "" || csvRows[0][1] != "3" {
		t.Errorf("csv rows %q, want the first for tier \"\"", csvRows)
	}
}
