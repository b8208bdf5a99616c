package money

import (
	"math"
	"strconv"

	"github.com/shopspring/decimal"
)

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [23]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float64 is the float64 nearest to f when f's coefficient fits 53 bits
// and its exponent is within ±22: both the coefficient and the power of
// ten are exact floats, and one IEEE multiplication or division rounds
// their exact quotient correctly, without the big.Rat shopspring builds.
// ok is false otherwise.
func (f fixed) float64() (float64, bool) {
	if f.mag > 1<<53 || f.exp < -22 || f.exp > 22 {
		return 0, false
	}
	v := float64(f.mag)
	if f.exp < 0 {
		v /= exactPow10[-f.exp]
	} else {
		v *= exactPow10[f.exp]
	}
	if f.neg {
		v = -v
	}
	return v, true
}

// RoundFloat returns decimal.NewFromFloat(v).Round(places): the shortest
// decimal that reads back as v, rounded half away from zero to places
// decimals. v must be finite (NewFromFloat panics otherwise). For places
// in 0..18 and results that fit an int64 it works on the digits strconv
// gives, without allocating, where shopspring allocates several times.
func RoundFloat(v float64, places int32) Exact {
	if places < 0 || places > 18 || v == 0 {
		return FromDecimal(decimal.NewFromFloat(v).Round(places))
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], math.Abs(v), 'e', -1, 64) // d[.ddd]e±XX
	e := len(b) - 1
	for b[e] != 'e' {
		e--
	}
	exp10 := 0
	for _, c := range b[e+2:] { // after "e" and its sign
		exp10 = exp10*10 + int(c-'0')
	}
	if b[e+1] == '-' {
		exp10 = -exp10
	}
	var digits uint64 // the significant digits, at most 17
	n := 0
	for _, c := range b[:e] {
		if c != '.' {
			digits = digits*10 + uint64(c-'0')
			n++
		}
	}
	// |v| × 10^places = digits × 10^shift
	shift := exp10 - (n - 1) + int(places)
	var units uint64
	switch {
	case shift >= 0:
		if n+shift > 18 {
			return FromDecimal(decimal.NewFromFloat(v).Round(places))
		}
		units = digits * pow10[shift]
	case -shift > n:
		units = 0 // below a tenth of a unit
	default:
		div := pow10[-shift]
		units = digits / div
		if 2*(digits%div) >= div {
			units++
		}
	}
	if v < 0 {
		return NewExact(-int64(units), -places)
	}
	return NewExact(int64(units), -places)
}
