package store

import (
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// The hand-written path reads exactly what time.Parse reads, for the
// forms it takes; everything else goes to time.Parse itself.
func FuzzParseStoredTime(f *testing.F) {
	for _, s := range []string{
		"2025-01-01T00:00:00Z", "2026-02-28T23:59:59.5Z", "2024-02-29T12:00:00.123456789Z",
		"2023-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T00:00:60Z",
		"2025-01-01T00:00:00.Z", "2025-01-01T00:00:00.1234567891Z", "2025-01-01T00:00:00+01:00",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2025-01-01t00:00:00z", "+025-01-01T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseStoredTime(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, time.Parse's %v", s, err, werr)
		}
		if err == nil && (!got.Equal(want) || got.Location() != time.UTC) {
			t.Fatalf("%q: %v, time.Parse read %v", s, got, want)
		}
		if fast, ok := aggregate.ParseTimeText(s); ok && aggregate.TimeText(fast) != s && !canonicalWithZeros(s) {
			t.Fatalf("%q taken by the fast path but written back as %q", s, aggregate.TimeText(fast))
		}
	})
}

// canonicalWithZeros says s differs from its own rewrite only by trailing
// zeros of the fraction, which the fast path accepts like time.Parse.
func canonicalWithZeros(s string) bool {
	for i := len(s) - 2; i > 19; i-- {
		if s[i] != '0' {
			return s[i] == '.' || s[i] >= '1' && s[i] <= '9'
		}
	}
	return true
}

func TestParseStoredTimeTakesTheWrittenForm(t *testing.T) {
	for _, tt := range []time.Time{
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 5, 10, 30, 15, 500_000_000, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 1, time.UTC),
	} {
		text := aggregate.TimeText(tt)
		if _, ok := aggregate.ParseTimeText(text); !ok {
			t.Errorf("%s: not taken by the fast path", text)
		}
		got, err := parseStoredTime(text)
		if err != nil || !got.Equal(tt) {
			t.Errorf("%s: read %v, %v", text, got, err)
		}
	}
}

// updated_at's text comes from the last second rendered when the second
// is the same: it must be what rendering the truncated time gives, for
// seconds seen again, new ones, times before 1970, and with writers on
// several goroutines swapping the remembered second under each other.
func TestSecondTextIsTheTruncatedTimesText(t *testing.T) {
	base := []time.Time{
		time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 10, 0, 0, 999_999_999, time.UTC),
		time.Date(2026, 11, 1, 10, 0, 1, 1, time.FixedZone("x", 3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				now := base[(i+g)%len(base)].Add(time.Duration(i%3) * 400 * time.Millisecond)
				got := string(appendSecondText([]byte("x"), now))
				want := "x" + aggregate.TimeText(now.Truncate(time.Second))
				if got != want {
					t.Errorf("%v: %q, want %q", now, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
