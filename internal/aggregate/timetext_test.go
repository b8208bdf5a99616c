package aggregate_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// The digit-by-digit renderer writes exactly what time's RFC3339Nano
// formatter writes, for any instant and any location.
func FuzzAppendTimeText(f *testing.F) {
	for _, tt := range []time.Time{
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 5, 10, 30, 15, 500_000_000, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 1, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 120_000_000, time.UTC),
	} {
		f.Add(tt.Unix(), int64(tt.Nanosecond()), 0)
	}
	f.Add(int64(1_700_000_000), int64(7), 5*3600+30*60)
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		at := time.Unix(sec, nsec).In(time.FixedZone("z", offset%(24*3600)))
		want := at.UTC().Format(time.RFC3339Nano)
		if got := string(aggregate.AppendTimeText([]byte("x"), at)); got != "x"+want {
			t.Fatalf("%v: %q, time writes %q", at, got[1:], want)
		}
		if got := aggregate.TimeText(at); got != want {
			t.Fatalf("%v: TimeText %q, time writes %q", at, got, want)
		}
	})
}
