package aggregate

import "time"

// TimeText renders a timestamp the way every public field does: RFC 3339
// in UTC, with fractional seconds only when the source had them.
func TimeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// AppendTimeText appends TimeText(t) to dst without allocating.
func AppendTimeText(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// ParseTimeText reads what TimeText writes, "YYYY-MM-DDThh:mm:ss[.f]Z"
// with a fraction of 1 to 9 digits and every part in range, without
// time.Parse's generality (a stored customer has several such fields).
// False for any other text, which the caller hands to time.Parse: the
// result is then the same as time.Parse's, in UTC.
func ParseTimeText(v string) (time.Time, bool) {
	n := len(v)
	if n < 20 || v[n-1] != 'Z' || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := Digits(v[0:4])
	month, ok2 := Digits(v[5:7])
	day, ok3 := Digits(v[8:10])
	hour, ok4 := Digits(v[11:13])
	minute, ok5 := Digits(v[14:16])
	sec, ok6 := Digits(v[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := v[19 : n-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		f, ok := Digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			f *= 10
		}
		nsec = f
	}
	if month < 1 || month > 12 || day < 1 || day > DaysInMonth(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	unix := (daysFromCivil(year, month, day)*24+int64(hour))*3600 + int64(minute)*60 + int64(sec)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

const secondsPerDay = 24 * 3600

// daysFromCivil is the number of days from 1970-01-01 to the given date of
// the proleptic Gregorian calendar (negative before), counting in 400-year
// eras of 146,097 days that start on 1 March, so that the leap day ends a
// year. time.Date does the same with more generality (normalising
// out-of-range parts) than a checked date needs.
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yearOfEra := y - era*400
	shifted := int64(month) - 3 // March is 0
	if month <= 2 {
		shifted += 12
	}
	dayOfYear := (153*shifted+2)/5 + int64(day) - 1
	dayOfEra := yearOfEra*365 + yearOfEra/4 - yearOfEra/100 + dayOfYear
	return era*146097 + dayOfEra - 719468 // 719,468 days from 0000-03-01 to 1970-01-01
}

// Digits parses a fixed-width run of ASCII digits (at most 18, so it
// cannot overflow); false when any byte is not a digit.
func Digits[T ~string | ~[]byte](b T) (int, bool) {
	n := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// DaysInMonth is the number of days of a month (1-12) in the proleptic
// Gregorian calendar that RFC 3339 uses.
func DaysInMonth(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
