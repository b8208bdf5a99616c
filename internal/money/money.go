// Package money holds the exact decimal arithmetic of the per-event path.
//
// shopspring/decimal keeps every coefficient in a math/big.Int, so each
// sum, product, division or rendering allocates; on a stream those
// allocations were about a third of the consumer's CPU. Money here almost
// always fits an int64 coefficient, so Exact (the type of every amount,
// sum and figure in the domain) and the functions on shopspring decimals
// first do the same computation on 64- and 128-bit integers, and fall back
// to shopspring/decimal when a value does not fit. The results are
// identical in every case (fuzz tests compare both paths): rounding is
// half away from zero, as shopspring's DivRound, Round and StringFixed do.
package money

import (
	"math"
	"math/bits"
	"strconv"

	"github.com/shopspring/decimal"
)

// pow10 are the powers of ten that fit in a uint64.
var pow10 = func() [20]uint64 {
	var p [20]uint64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// fixed is a decimal split into sign, coefficient magnitude and exponent.
type fixed struct {
	neg bool
	mag uint64
	exp int32
}

// unit is 1, the neutral factor and divisor.
var unit = fixed{mag: 1}

// parts splits d when its coefficient has at most 18 digits (so it fits an
// int64 without any allocation); ok is false otherwise.
func parts(d decimal.Decimal) (f fixed, ok bool) {
	if d.NumDigits() > 18 {
		return fixed{}, false
	}
	c := d.CoefficientInt64()
	if c < 0 {
		return fixed{neg: true, mag: uint64(-c), exp: d.Exponent()}, true
	}
	return fixed{mag: uint64(c), exp: d.Exponent()}, true
}

// scaled returns mag × 10^k as 128 bits; ok is false on overflow.
func scaled(hi, lo uint64, k int64) (uint64, uint64, bool) {
	if k >= int64(len(pow10)) {
		return 0, 0, false
	}
	h, l, carry := mul128(hi, lo, pow10[k])
	return h, l, !carry
}

// mulDivRound computes round(a × m / b) to places decimals, half away
// from zero, as a signed count of 10^-places units, when every
// intermediate fits 128 bits and the result fits an int64.
func mulDivRound(a, m, b fixed, places int32) (units int64, ok bool) {
	if b.mag == 0 {
		return 0, false
	}
	// a×m/b = am×mm×10^(ae+me) / (bm×10^be); in units of 10^-places that
	// is am×mm×10^k / bm with k = ae + me − be + places.
	k := int64(a.exp) + int64(m.exp) - int64(b.exp) + int64(places)
	hi, lo := bits.Mul64(a.mag, m.mag)
	den := b.mag
	switch {
	case k > 0:
		if hi, lo, ok = scaled(hi, lo, k); !ok {
			return 0, false
		}
	case k < 0:
		if -k >= int64(len(pow10)) {
			return 0, hi == 0 && lo == 0
		}
		var over uint64
		if over, den = bits.Mul64(den, pow10[-k]); over != 0 {
			return 0, false
		}
	}
	if hi >= den { // the quotient would not fit 64 bits
		return 0, false
	}
	q, r := bits.Div64(hi, lo, den)
	if r >= den-r { // 2r ≥ den: half or more rounds away from zero
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	if a.neg != m.neg != b.neg {
		return -int64(q), true
	}
	return int64(q), true
}

// mul128 multiplies the 128-bit hi:lo by f; carry reports overflow.
func mul128(hi, lo, f uint64) (uint64, uint64, bool) {
	h1, l1 := bits.Mul64(lo, f)
	h2, l2 := bits.Mul64(hi, f)
	sum, c := bits.Add64(h1, l2, 0)
	return sum, l1, h2 != 0 || c != 0
}

// DivRound returns a.DivRound(b, places); the decimal functions here are
// Exact's, for callers that hold shopspring decimals (reports).
func DivRound(a, b decimal.Decimal, places int32) decimal.Decimal {
	return FromDecimal(a).DivRound(FromDecimal(b), places).Decimal()
}

// MulDivRound returns a.Mul(m).DivRound(b, places) without the rounding
// or the allocations of the intermediate product.
func MulDivRound(a, m, b decimal.Decimal, places int32) decimal.Decimal {
	return FromDecimal(a).MulDivRound(FromDecimal(m), FromDecimal(b), places).Decimal()
}

// hasAtMostPlaces reports whether f has no non-zero digit beyond places
// decimals.
func (f fixed) hasAtMostPlaces(places int32) bool {
	drop := -int64(places) - int64(f.exp) // digits below 10^-places
	if drop <= 0 {
		return true
	}
	if drop < int64(len(pow10)) {
		return f.mag%pow10[drop] == 0
	}
	return f.mag == 0
}

// StringFixed returns d.StringFixed(places) for places ≥ 0.
func StringFixed(d decimal.Decimal, places int32) string {
	return FromDecimal(d).StringFixed(places)
}

// AppendFixed appends d.StringFixed(places) to dst, for places ≥ 0.
func AppendFixed(dst []byte, d decimal.Decimal, places int32) []byte {
	return FromDecimal(d).AppendFixed(dst, places)
}

// appendFixed appends f rounded to places ≥ 0 decimals; ok is false when
// the rounded value does not fit an int64 (nothing is appended then).
func appendFixed(dst []byte, f fixed, places int32) ([]byte, bool) {
	if places < 0 || places >= int32(len(pow10)) {
		return dst, false
	}
	var mag uint64
	if k := int64(f.exp) + int64(places); k >= 0 && k < int64(len(pow10)) {
		// Nothing to round: the value has at most places decimals (the
		// usual case: amounts of two, written with two), so it only
		// scales, without mulDivRound's division.
		hi, lo := bits.Mul64(f.mag, pow10[k])
		if hi != 0 || lo > math.MaxInt64 {
			return dst, false
		}
		mag = lo
		if f.neg && mag != 0 {
			dst = append(dst, '-')
		}
	} else {
		u, ok := mulDivRound(f, unit, unit, places)
		if !ok {
			return dst, false
		}
		mag = uint64(u)
		if u < 0 {
			dst = append(dst, '-')
			mag = uint64(-u)
		}
	}
	if places == 0 {
		return strconv.AppendUint(dst, mag, 10), true
	}
	dst = strconv.AppendUint(dst, mag/pow10[places], 10)
	dst = append(dst, '.')
	frac := mag % pow10[places]
	var digits [20]byte
	for i := int(places) - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, digits[:places]...), true
}

// Cmp returns a.Cmp(b): -1, 0 or +1.
func Cmp(a, b decimal.Decimal) int { return FromDecimal(a).Cmp(FromDecimal(b)) }

// cmpFixed compares two split decimals; slow answers when their
// magnitudes cannot be brought to one exponent in 128 bits.
func cmpFixed(fa, fb fixed, slow func() int) int {
	// Zero is never negative here, so different signs decide.
	if fa.neg != fb.neg {
		if fa.neg {
			return -1
		}
		return 1
	}
	// Same sign: compare magnitudes scaled to the smaller exponent.
	ah, al, bh, bl := uint64(0), fa.mag, uint64(0), fb.mag
	ok := true
	if fa.exp > fb.exp {
		ah, al, ok = scaled(0, fa.mag, int64(fa.exp)-int64(fb.exp))
	} else if fb.exp > fa.exp {
		bh, bl, ok = scaled(0, fb.mag, int64(fb.exp)-int64(fa.exp))
	}
	if !ok {
		return slow()
	}
	c := 0
	switch {
	case ah < bh || (ah == bh && al < bl):
		c = -1
	case ah > bh || (ah == bh && al > bl):
		c = 1
	}
	if fa.neg {
		return -c
	}
	return c
}
