package money

import (
	"math"
	"math/bits"

	"github.com/shopspring/decimal"
)

// Exact is an exact decimal number with shopspring/decimal's semantics
// (the same values, the same results of every operation) that needs no
// heap memory while its coefficient fits an int64. A decimal.Decimal keeps
// its coefficient in a math/big.Int, so every sum, product or rounding
// allocates; on the per-event path those allocations were most of
// Apply's. Money almost always fits: an Exact falls back to a
// decimal.Decimal only for a value whose coefficient does not (a sum of
// amounts with 8 decimal places in the billions, say), and comes back
// once a result fits again.
//
// The zero value is 0.
type Exact struct {
	coef int64
	exp  int32
	// wide is the value when its coefficient does not fit coef; nil
	// otherwise, and then coef × 10^exp is the value.
	wide *decimal.Decimal
}

// NewExact returns coef × 10^exp.
func NewExact(coef int64, exp int32) Exact { return Exact{coef: coef, exp: exp} }

// ExactFromInt returns v.
func ExactFromInt(v int64) Exact { return Exact{coef: v} }

// FromDecimal returns d as an Exact, without heap memory when its
// coefficient fits an int64.
func FromDecimal(d decimal.Decimal) Exact {
	if f, ok := parts(d); ok {
		return f.exact()
	}
	if c := d.Coefficient(); c.IsInt64() { // 19 digits (rare: this allocates)
		return Exact{coef: c.Int64(), exp: d.Exponent()}
	}
	return Exact{wide: &d}
}

// ParseExact reads a decimal as decimal.NewFromString does. Plain
// decimals of at most 18 digits ("-12.50") are read without heap memory.
func ParseExact(s string) (Exact, error) {
	if e, ok := parsePlain(s); ok {
		return e, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Exact{}, err
	}
	return FromDecimal(d), nil
}

// MustParse is ParseExact for constants (tests, defaults): it panics on
// text that is not a decimal, a programming error rather than input.
func MustParse(s string) Exact {
	e, err := ParseExact(s)
	if err != nil {
		panic(err)
	}
	return e
}

// parsePlain reads [-]digits[.digits] with at most 18 digits in all.
func parsePlain(s string) (Exact, bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	var coef int64
	digits, frac := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			coef = coef*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return Exact{}, false
		}
	}
	if digits == 0 || digits > 18 || frac == 0 {
		return Exact{}, false
	}
	if neg {
		coef = -coef
	}
	return Exact{coef: coef, exp: int32(-max(frac, 0))}, true
}

// exact turns f back into an Exact, wide when its magnitude does not fit
// an int64.
func (f fixed) exact() Exact {
	switch {
	case f.mag <= math.MaxInt64 && f.neg:
		return Exact{coef: -int64(f.mag), exp: f.exp}
	case f.mag <= math.MaxInt64:
		return Exact{coef: int64(f.mag), exp: f.exp}
	case f.neg && f.mag == 1<<63:
		return Exact{coef: math.MinInt64, exp: f.exp}
	}
	d := decimal.NewFromUint64(f.mag)
	if f.neg {
		d = d.Neg()
	}
	d = d.Shift(f.exp)
	return Exact{wide: &d}
}

// Decimal returns e as a decimal.Decimal (this allocates).
func (e Exact) Decimal() decimal.Decimal {
	if e.wide != nil {
		return *e.wide
	}
	return decimal.New(e.coef, e.exp)
}

// parts splits e like the package function parts splits a decimal.
func (e Exact) parts() (fixed, bool) {
	if e.wide != nil {
		return parts(*e.wide)
	}
	if e.coef < 0 {
		return fixed{neg: true, mag: uint64(-e.coef), exp: e.exp}, true // -MinInt64 wraps to 1<<63, its magnitude
	}
	return fixed{mag: uint64(e.coef), exp: e.exp}, true
}

// Small returns e's coefficient and exponent; ok is false when the
// coefficient does not fit an int64 (use Decimal).
func (e Exact) Small() (coef int64, exp int32, ok bool) {
	return e.coef, e.exp, e.wide == nil
}

// Exponent returns e's exponent, as decimal.Decimal's Exponent: the value
// is a coefficient × 10^Exponent, and sums keep the smaller exponent, so a
// value read with many decimal places makes every later sum wider.
func (e Exact) Exponent() int32 {
	if e.wide != nil {
		return e.wide.Exponent()
	}
	return e.exp
}

// Sign returns -1, 0 or +1.
func (e Exact) Sign() int {
	if e.wide != nil {
		return e.wide.Sign()
	}
	switch {
	case e.coef < 0:
		return -1
	case e.coef > 0:
		return 1
	}
	return 0
}

// IsZero reports whether e is 0.
func (e Exact) IsZero() bool { return e.Sign() == 0 }

// Neg returns −e.
func (e Exact) Neg() Exact {
	if e.wide == nil && e.coef != math.MinInt64 {
		return Exact{coef: -e.coef, exp: e.exp}
	}
	return FromDecimal(e.Decimal().Neg())
}

// scaleUp returns c × 10^k for k ≥ 0; ok is false on overflow.
func scaleUp(c int64, k int64) (int64, bool) {
	if c == 0 || k == 0 {
		return c, true
	}
	if k >= int64(len(pow10)) {
		return 0, false
	}
	mag := uint64(c)
	if c < 0 {
		mag = uint64(-c)
	}
	hi, lo := bits.Mul64(mag, pow10[k])
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if c < 0 {
		return -int64(lo), true
	}
	return int64(lo), true
}

// aligned returns the coefficients of a and b at their smaller exponent,
// as decimal.Decimal's Add does; ok is false when one does not fit.
func aligned(a, b Exact) (ac, bc int64, exp int32, ok bool) {
	if a.wide != nil || b.wide != nil {
		return 0, 0, 0, false
	}
	exp = min(a.exp, b.exp)
	if ac, ok = scaleUp(a.coef, int64(a.exp)-int64(exp)); !ok {
		return 0, 0, 0, false
	}
	if bc, ok = scaleUp(b.coef, int64(b.exp)-int64(exp)); !ok {
		return 0, 0, 0, false
	}
	return ac, bc, exp, true
}

// Add returns e + o.
func (e Exact) Add(o Exact) Exact {
	if a, b, exp, ok := aligned(e, o); ok {
		if s, ok := addInt(a, b); ok {
			return Exact{coef: s, exp: exp}
		}
	}
	return FromDecimal(e.Decimal().Add(o.Decimal()))
}

// Sub returns e − o.
func (e Exact) Sub(o Exact) Exact {
	if a, b, exp, ok := aligned(e, o); ok && b != math.MinInt64 {
		if s, ok := addInt(a, -b); ok {
			return Exact{coef: s, exp: exp}
		}
	}
	return FromDecimal(e.Decimal().Sub(o.Decimal()))
}

// addInt returns a + b; ok is false on overflow.
func addInt(a, b int64) (int64, bool) {
	s := a + b
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, false
	}
	return s, true
}

// Mul returns e × o.
func (e Exact) Mul(o Exact) Exact {
	if e.wide == nil && o.wide == nil {
		fa, _ := e.parts()
		fb, _ := o.parts()
		exp := int64(e.exp) + int64(o.exp)
		hi, lo := bits.Mul64(fa.mag, fb.mag)
		if hi == 0 && exp >= math.MinInt32 && exp <= math.MaxInt32 {
			return fixed{neg: (fa.neg != fb.neg) && lo != 0, mag: lo, exp: int32(exp)}.exact()
		}
	}
	return FromDecimal(e.Decimal().Mul(o.Decimal()))
}

// Cmp returns -1, 0 or +1 as e is below, equal to or above o.
func (e Exact) Cmp(o Exact) int {
	if a, b, _, ok := aligned(e, o); ok {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	fa, ok1 := e.parts()
	fb, ok2 := o.parts()
	if ok1 && ok2 {
		return cmpFixed(fa, fb, func() int { return e.Decimal().Cmp(o.Decimal()) })
	}
	return e.Decimal().Cmp(o.Decimal())
}

// Equal reports whether e and o are the same number (1.5 equals 1.50).
func (e Exact) Equal(o Exact) bool { return e.Cmp(o) == 0 }

// GreaterThan reports e > o.
func (e Exact) GreaterThan(o Exact) bool { return e.Cmp(o) > 0 }

// LessThan reports e < o.
func (e Exact) LessThan(o Exact) bool { return e.Cmp(o) < 0 }

// DivRound returns e / d rounded half away from zero to places decimals,
// as decimal.Decimal's DivRound. d must not be zero.
func (e Exact) DivRound(d Exact, places int32) Exact {
	return e.MulDivRound(ExactFromInt(1), d, places)
}

// MulDivRound returns e × m / d rounded once, half away from zero, to
// places decimals: no intermediate rounding. d must not be zero.
func (e Exact) MulDivRound(m, d Exact, places int32) Exact {
	if fa, ok := e.parts(); ok {
		if fm, ok := m.parts(); ok {
			if fd, ok := d.parts(); ok {
				if u, ok := mulDivRound(fa, fm, fd, places); ok {
					return Exact{coef: u, exp: -places}
				}
			}
		}
	}
	return FromDecimal(e.Decimal().Mul(m.Decimal()).DivRound(d.Decimal(), places))
}

// Round returns e rounded half away from zero to places ≥ 0 decimals.
func (e Exact) Round(places int32) Exact {
	if e.wide == nil && e.exp == -places {
		return e
	}
	if f, ok := e.parts(); ok && places >= 0 {
		if u, ok := mulDivRound(f, unit, unit, places); ok {
			return Exact{coef: u, exp: -places}
		}
	}
	return FromDecimal(e.Decimal().Round(places))
}

// HasAtMostPlaces reports whether e has no non-zero digit beyond places
// decimals (e.Round(places) equals e).
func (e Exact) HasAtMostPlaces(places int32) bool {
	if f, ok := e.parts(); ok {
		return f.hasAtMostPlaces(places)
	}
	return e.Round(places).Equal(e)
}

// AppendFixed appends e with exactly places ≥ 0 decimals (rounded half
// away from zero), as decimal.Decimal's StringFixed writes it.
func (e Exact) AppendFixed(dst []byte, places int32) []byte {
	if f, ok := e.parts(); ok {
		if b, ok := appendFixed(dst, f, places); ok {
			return b
		}
	}
	return append(dst, e.Decimal().StringFixed(places)...)
}

// StringFixed returns e with exactly places ≥ 0 decimals.
func (e Exact) StringFixed(places int32) string {
	var buf [32]byte
	return string(e.AppendFixed(buf[:0], places))
}

// String returns e as decimal.Decimal's String does (no trailing zeros).
func (e Exact) String() string { return e.Decimal().String() }

// Float64 returns the float64 nearest to e.
func (e Exact) Float64() float64 {
	if f, ok := e.parts(); ok {
		if v, ok := f.float64(); ok {
			return v
		}
	}
	v, _ := e.Decimal().Float64()
	return v
}
