// Package money holds fast paths for the few exact decimal operations on
// the per-event hot path (dividing and rounding the figures, rounding and
// formatting money for Redis and the change events).
//
// shopspring/decimal keeps every coefficient in a math/big.Int, so each
// DivRound or StringFixed allocates several times; on a stream those
// allocations were about a third of the consumer's CPU. Money here almost
// always fits in an int64 coefficient, so every function first tries the
// same computation on 64- and 128-bit integers and falls back to
// shopspring/decimal when a value does not fit. The results are identical
// in every case (fuzz tests compare both paths): rounding is half away
// from zero, as shopspring's DivRound, Round and StringFixed do.
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

// parts splits d into sign, coefficient magnitude and exponent when the
// coefficient has at most 18 digits (so it fits an int64 without any
// allocation); ok is false otherwise.
func parts(d decimal.Decimal) (neg bool, mag uint64, exp int32, ok bool) {
	if d.NumDigits() > 18 {
		return false, 0, 0, false
	}
	c := d.CoefficientInt64()
	if c < 0 {
		return true, uint64(-c), d.Exponent(), true
	}
	return false, uint64(c), d.Exponent(), true
}

// mulDivRound computes round(a × m / b) to places decimals, half away
// from zero, as a signed count of 10^-places units, when every
// intermediate fits 128 bits and the result fits an int64.
func mulDivRound(a, m, b decimal.Decimal, places int32) (units int64, ok bool) {
	an, am, ae, ok1 := parts(a)
	mn, mm, me, ok2 := parts(m)
	bn, bm, be, ok3 := parts(b)
	if !ok1 || !ok2 || !ok3 || bm == 0 {
		return 0, false
	}
	// a×m/b = am×mm×10^(ae+me) / (bm×10^be); in units of 10^-places that
	// is am×mm×10^k / bm with k = ae + me − be + places.
	k := int64(ae) + int64(me) - int64(be) + int64(places)
	hi, lo := bits.Mul64(am, mm)
	den := bm
	switch {
	case k > 0:
		if k >= int64(len(pow10)) {
			return 0, false
		}
		var carry bool
		if hi, lo, carry = mul128(hi, lo, pow10[k]); carry {
			return 0, false
		}
	case k < 0:
		if -k >= int64(len(pow10)) {
			if hi == 0 && lo == 0 {
				return 0, true
			}
			return 0, false
		}
		var over uint64
		if over, den = bits.Mul64(bm, pow10[-k]); over != 0 {
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
	if an != mn != bn {
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

var one = decimal.NewFromInt(1)

// DivRound returns a.DivRound(b, places).
func DivRound(a, b decimal.Decimal, places int32) decimal.Decimal {
	if u, ok := mulDivRound(a, one, b, places); ok {
		return decimal.New(u, -places)
	}
	return a.DivRound(b, places)
}

// MulDivRound returns a.Mul(m).DivRound(b, places) without the rounding
// or the allocations of the intermediate product.
func MulDivRound(a, m, b decimal.Decimal, places int32) decimal.Decimal {
	if u, ok := mulDivRound(a, m, b, places); ok {
		return decimal.New(u, -places)
	}
	return a.Mul(m).DivRound(b, places)
}

// Round returns d.Round(places) for places ≥ 0.
func Round(d decimal.Decimal, places int32) decimal.Decimal {
	if _, _, exp, ok := parts(d); ok && exp == -places {
		return d
	}
	if u, ok := mulDivRound(d, one, one, places); ok && places >= 0 {
		return decimal.New(u, -places)
	}
	return d.Round(places)
}

// HasAtMostPlaces reports whether d has no non-zero digit beyond places
// decimals, i.e. d.Round(places).Equal(d).
func HasAtMostPlaces(d decimal.Decimal, places int32) bool {
	if _, mag, exp, ok := parts(d); ok {
		drop := -int64(places) - int64(exp) // digits below 10^-places
		if drop <= 0 {
			return true
		}
		if drop < int64(len(pow10)) {
			return mag%pow10[drop] == 0
		}
		return mag == 0
	}
	return d.Round(places).Equal(d)
}

// StringFixed returns d.StringFixed(places) for places ≥ 0.
func StringFixed(d decimal.Decimal, places int32) string {
	var buf [32]byte
	return string(AppendFixed(buf[:0], d, places))
}

// AppendFixed appends d.StringFixed(places) to dst, for places ≥ 0.
func AppendFixed(dst []byte, d decimal.Decimal, places int32) []byte {
	if places < 0 || places >= int32(len(pow10)) {
		return append(dst, d.StringFixed(places)...)
	}
	u, ok := mulDivRound(d, one, one, places)
	if !ok {
		return append(dst, d.StringFixed(places)...)
	}
	mag := uint64(u)
	if u < 0 {
		dst = append(dst, '-')
		mag = uint64(-u)
	}
	if places == 0 {
		return strconv.AppendUint(dst, mag, 10)
	}
	dst = strconv.AppendUint(dst, mag/pow10[places], 10)
	dst = append(dst, '.')
	frac := mag % pow10[places]
	var digits [20]byte
	for i := int(places) - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, digits[:places]...)
}

// Cmp returns a.Cmp(b): -1, 0 or +1.
func Cmp(a, b decimal.Decimal) int {
	an, am, ae, ok1 := parts(a)
	bn, bm, be, ok2 := parts(b)
	if !ok1 || !ok2 {
		return a.Cmp(b)
	}
	if am == 0 {
		an = false
	}
	if bm == 0 {
		bn = false
	}
	switch {
	case an != bn && (am != 0 || bm != 0):
		if an {
			return -1
		}
		return 1
	case am == 0 && bm == 0:
		return 0
	}
	// Same sign: compare magnitudes scaled to the smaller exponent.
	ah, al, bh, bl := uint64(0), am, uint64(0), bm
	var carry bool
	if ae > be {
		if int64(ae)-int64(be) >= int64(len(pow10)) {
			return a.Cmp(b)
		}
		if ah, al, carry = mul128(0, am, pow10[ae-be]); carry {
			return a.Cmp(b)
		}
	} else if be > ae {
		if int64(be)-int64(ae) >= int64(len(pow10)) {
			return a.Cmp(b)
		}
		if bh, bl, carry = mul128(0, bm, pow10[be-ae]); carry {
			return a.Cmp(b)
		}
	}
	c := 0
	switch {
	case ah < bh || (ah == bh && al < bl):
		c = -1
	case ah > bh || (ah == bh && al > bl):
		c = 1
	}
	if an {
		return -c
	}
	return c
}
