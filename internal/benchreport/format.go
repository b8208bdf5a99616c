package benchreport

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// notMeasured is how a zero ("not measured") figure is shown.
const notMeasured = "n/a"

// mib is the unit RSS is shown in; the project's "200 MB" target is 200<<20.
const mib = 1 << 20

// groupThousands inserts "," between groups of three digits of the decimal
// integer string s (which may start with "-").
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if len(s) <= 3 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	head := len(s) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(s[:head])
	for i := head; i < len(s); i += 3 {
		b.WriteByte(',')
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// fmtInt formats n with thousands separators.
func fmtInt(n int64) string { return groupThousands(strconv.FormatInt(n, 10)) }

// fmtFloat formats v with dec decimals and thousands separators in the
// integer part; non-finite values come out as "n/a".
func fmtFloat(v float64, dec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return notMeasured
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = groupThousands(intPart)
	if hasFrac {
		return intPart + "." + frac
	}
	return intPart
}

// fmtRate formats an events/s-style rate as a whole number with thousands
// separators ("172,340"), or "n/a" when not measured.
func fmtRate(v float64) string {
	if clean(v) == 0 {
		return notMeasured
	}
	return fmtFloat(math.Round(v), 0)
}

// fmtMs formats a latency in milliseconds with two decimals below 10 ms and
// one above ("3.21 ms", "12.3 ms"), or "n/a" when not measured.
func fmtMs(d time.Duration) string {
	if d <= 0 {
		return notMeasured
	}
	ms := float64(d) / float64(time.Millisecond)
	if math.Abs(ms) < 10 {
		return fmtFloat(ms, 2) + " ms"
	}
	return fmtFloat(ms, 1) + " ms"
}

// fmtMsTarget formats a latency target compactly ("50 ms", "12.5 ms").
func fmtMsTarget(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	return strconv.FormatFloat(ms, 'f', -1, 64) + " ms"
}

// fmtMB formats a byte count in MB (2^20 bytes) with one decimal, or "n/a"
// when not measured.
func fmtMB(b int64) string {
	if b <= 0 {
		return notMeasured
	}
	return fmtFloat(float64(b)/mib, 1) + " MB"
}

// fmtMBTarget formats a byte target in MB without needless decimals.
func fmtMBTarget(b int64) string {
	return strconv.FormatFloat(float64(b)/mib, 'f', -1, 64) + " MB"
}

// fmtGiB formats a machine's memory size.
func fmtGiB(b uint64) string {
	return fmtFloat(float64(b)/(1<<30), 1) + " GiB"
}

// fmtPct formats the ratio num/den as a percentage with one decimal
// ("24.6 %"); ok is false when either side is not measured.
func fmtPct(num, den float64) (string, bool) {
	if clean(num) == 0 || clean(den) == 0 || clean(num/den) == 0 {
		return "", false
	}
	return fmtFloat(100*num/den, 1) + " %", true
}

// fmtCompact formats an axis value with a k/M suffix ("150k", "1.5M"),
// rounded to three decimals so tick arithmetic noise never shows.
func fmtCompact(v float64) string {
	short := func(x float64) string {
		return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
	}
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return short(v/1e6) + "M"
	case a >= 1e3:
		return short(v/1e3) + "k"
	default:
		return short(v)
	}
}

// fmtNsPerOp formats a go test ns/op figure: whole numbers from 100 up,
// otherwise up to two decimals.
func fmtNsPerOp(v float64) string {
	switch {
	case v >= 100:
		return fmtFloat(math.Round(v), 0)
	case v >= 10:
		return fmtFloat(v, 1)
	default:
		return fmtFloat(v, 2)
	}
}

// fmtMetric formats a custom benchmark metric readably whatever its size.
func fmtMetric(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmtFloat(math.Round(v), 0)
	case a >= 10 || a == 0 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
