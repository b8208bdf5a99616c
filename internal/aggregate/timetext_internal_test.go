package aggregate

import (
	"testing"
	"time"
)

// Every day of the years RFC 3339 can write has the day number the time
// package gives it.
func TestDaysFromCivilAgreesWithTheTimePackage(t *testing.T) {
	start := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		y, m, dd := d.Date()
		if got, want := daysFromCivil(y, int(m), dd), d.Unix()/secondsPerDay; got != want {
			t.Fatalf("daysFromCivil(%v) = %d, want %d", d, got, want)
		}
	}
}
