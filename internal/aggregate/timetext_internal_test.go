package aggregate

import (
	"testing"
	"time"
)

// Every day of the years RFC 3339 can write maps to and from its day
// number as the time package counts it.
func TestCivilDaysAgreeWithTheTimePackage(t *testing.T) {
	start := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		days := d.Unix() / secondsPerDay
		y, m, dd := d.Date()
		if got := daysFromCivil(y, int(m), dd); got != days {
			t.Fatalf("daysFromCivil(%v) = %d, want %d", d, got, days)
		}
		if gy, gm, gd := civilFromDays(days); gy != y || gm != int(m) || gd != dd {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %v", days, gy, gm, gd, d)
		}
	}
}
