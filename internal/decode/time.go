package decode

import (
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// timeProblem says why a timestamp was refused; "" means it was accepted.
type timeProblem string

const (
	timeOK       timeProblem = ""
	timeSyntax   timeProblem = "is not RFC 3339"
	timeRange    timeProblem = "is not a valid date and time"
	timeLeap     timeProblem = "has second 60 outside 23:59 UTC, where leap seconds are inserted"
	timeTooEarly timeProblem = "is not after 0001-01-01T00:00:00Z"
)

// parseTime parses an RFC 3339 date-time (section 5.6):
//
//	YYYY-MM-DD ("T" / "t") hh:mm:ss [.fraction] ("Z" / "z" / ±hh:mm)
//
// and returns it in UTC. The fraction may have any number of digits, as
// RFC 3339 allows (time-secfrac = "." 1*DIGIT); digits past the ninth are
// below what time.Time holds and are dropped (truncated, as time.Parse
// does), so a producer writing picoseconds is read, not dead-lettered,
// and the instant never moves into the next second, day or month. It is
// written out by hand, without allocating, because time.Parse is lenient
// about forms RFC 3339 does not allow and slower than needed on the hot
// path. The day must exist in its month;
// the UTC result must lie after 0001-01-01T00:00:00Z (the zero time, which
// the domain reads as "never") and within year 9999, so that it can be
// written back as RFC 3339.
//
// A leap second (ss = 60, which RFC 3339 allows) is accepted where leap
// seconds are inserted, at 23:59:60 UTC, and read as 23:59:59.999999999:
// time.Time cannot represent it, and the last instant of that minute keeps
// the event on its UTC day and month (cohorts, tenure) and ordered after
// every other event of that minute. Second 60 in any other UTC minute
// cannot be a leap second and is refused.
func parseTime(b []byte) (time.Time, timeProblem) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, timeSyntax
	}
	year, ok1 := aggregate.Digits(b[0:4])
	month, ok2 := aggregate.Digits(b[5:7])
	day, ok3 := aggregate.Digits(b[8:10])
	hour, ok4 := aggregate.Digits(b[11:13])
	minute, ok5 := aggregate.Digits(b[14:16])
	sec, ok6 := aggregate.Digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, timeSyntax
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		n := skipDigits(rest, 1)
		if n == 1 {
			return time.Time{}, timeSyntax
		}
		for i := 1; i < 10; i++ { // nanoseconds: the first nine digits
			nsec *= 10
			if i < n {
				nsec += int(rest[i] - '0')
			}
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := aggregate.Digits(rest[1:3])
		om, ok2 := aggregate.Digits(rest[4:6])
		if !ok1 || !ok2 {
			return time.Time{}, timeSyntax
		}
		if oh > 23 || om > 59 {
			return time.Time{}, timeRange
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, timeSyntax
	}
	if month < 1 || month > 12 || day < 1 || day > aggregate.DaysInMonth(month, year) || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, timeRange
	}
	leap := sec == 60
	if leap {
		sec, nsec = 59, 999_999_999
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	if leap && (t.Hour() != 23 || t.Minute() != 59) {
		return time.Time{}, timeLeap
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, timeRange
	}
	if !t.After(time.Time{}) {
		// The domain reads Go's zero time as "never" (no first order, no
		// churn), so an event at or before it would be misread.
		return time.Time{}, timeTooEarly
	}
	return t, timeOK
}
