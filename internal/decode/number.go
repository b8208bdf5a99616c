package decode

import (
	"math/big"

	"github.com/shopspring/decimal"

	"github.com/ltv-stream/ltv-stream/internal/money"
)

// Bounds on money values. They are far outside real orders and margins
// (and wide enough for any value a float64 cannot hold exactly, such as
// 9007199254740993 or 0.30000000000000004, which SPEC §2 says are parsed
// exactly) but keep hostile input cheap: the magnitude is judged from the
// text before any arithmetic, and the decoded value always has a small
// exponent, so later sums never rescale to thousands of digits.
const (
	maxAmountIntDigits  = 30 // amounts are below 1e30
	maxAmountFracDigits = 20 // significant decimal places of an amount
	maxMarginFracDigits = 20 // significant decimal places of a margin
	maxExponentDigits   = 8  // exponents beyond ±99999999 are out of range for any value
)

// numParts describes a number text by its significant digits (those from
// the first to the last non-zero digit): the value is ±(those digits as an
// integer) × 10^-fracDigits.
type numParts struct {
	neg  bool
	zero bool
	// intDigits is the count of digits left of the decimal point, counted
	// from the first non-zero digit (≤ 0 for values below 1).
	intDigits int
	// fracDigits is the count of significant digits right of the point (≤ 0
	// for integers with trailing zeros, e.g. 1e3 has -3).
	fracDigits int
	// hugeExp is set when the exponent is too long to matter: any non-zero
	// value with it is out of every range.
	hugeExp bool
	hugeNeg bool
	// lead is the first significant digit (1-9), with trailing tells
	// whether any other significant digit follows it.
	lead     byte
	trailing bool
}

// aboveOne reports whether the value exceeds 1, from the text alone (a
// decimal comparison would allocate).
func (p *numParts) aboveOne() bool {
	switch {
	case p.zero || p.neg:
		return false
	case p.hugeExp:
		return !p.hugeNeg
	case p.intDigits != 1:
		return p.intDigits > 1
	}
	return p.lead != '1' || p.trailing
}

// plainDecimal reports whether t matches -?[0-9]+(\.[0-9]+)?, the form a
// decimal string must have (no exponent, sign, blanks or empty parts).
func plainDecimal(t []byte) bool {
	i := 0
	if len(t) > 0 && t[0] == '-' {
		i++
	}
	end := skipDigits(t, i)
	if end == i {
		return false
	}
	if end < len(t) && t[end] == '.' {
		frac := end + 1
		if end = skipDigits(t, frac); end == frac {
			return false
		}
	}
	return end == len(t)
}

// splitNumber analyses a number text that already matches the JSON number
// grammar or the plain decimal form, without allocating.
func splitNumber(t []byte) numParts {
	var p numParts
	i := 0
	if len(t) > 0 && t[0] == '-' {
		p.neg = true
		i = 1
	}
	n := 0 // digits seen
	point := -1
	first, last := -1, -1
	for ; i < len(t); i++ {
		c := t[i]
		if c == '.' {
			point = n
			continue
		}
		if c == 'e' || c == 'E' {
			break
		}
		if c != '0' {
			if first < 0 {
				first = n
				p.lead = c
			} else {
				p.trailing = true
			}
			last = n
		}
		n++
	}
	if point < 0 {
		point = n
	}
	if first < 0 {
		p.zero = true
		return p
	}
	exp := 0
	if i < len(t) { // exponent
		i++
		expNeg := false
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			expNeg = t[i] == '-'
			i++
		}
		for i < len(t) && t[i] == '0' {
			i++
		}
		if len(t)-i > maxExponentDigits {
			p.hugeExp, p.hugeNeg = true, expNeg
			return p
		}
		for ; i < len(t); i++ {
			exp = exp*10 + int(t[i]-'0')
		}
		if expNeg {
			exp = -exp
		}
	}
	point += exp
	p.intDigits = point - first
	p.fracDigits = last + 1 - point
	return p
}

// tooBig reports whether the value has more than maxInt integer digits.
func (p *numParts) tooBig(maxInt int) bool {
	if p.zero {
		return false
	}
	if p.hugeExp {
		return !p.hugeNeg
	}
	return p.intDigits > maxInt
}

// tooPrecise reports whether the value has more than maxFrac significant
// decimal places.
func (p *numParts) tooPrecise(maxFrac int) bool {
	if p.zero {
		return false
	}
	if p.hugeExp {
		return p.hugeNeg
	}
	return p.fracDigits > maxFrac
}

// toExact builds the exact value of t, which splitNumber described as p
// and which passed tooBig/tooPrecise, so it has at most a few dozen
// significant digits. The result is normalised (no trailing zeros in the
// coefficient, so the exponent is small); zero is the zero value. Up to
// 18 significant digits it takes no heap memory.
func toExact(t []byte, p *numParts) money.Exact {
	if p.zero {
		return money.Exact{}
	}
	need := p.intDigits + p.fracDigits // length of the coefficient
	var wide *big.Int                  // only for coefficients beyond 18 digits
	var acc uint64
	inAcc, taken := 0, 0
	for _, c := range t {
		if taken == need || c == 'e' || c == 'E' {
			break
		}
		if !isDigit(c) || (taken == 0 && c == '0') {
			continue // sign, point, leading zeros
		}
		acc = acc*10 + uint64(c-'0')
		inAcc++
		taken++
		if inAcc == 18 && taken < need {
			wide = fold(wide, acc, inAcc)
			acc, inAcc = 0, 0
		}
	}
	exp := int32(-p.fracDigits)
	if wide == nil {
		v := int64(acc)
		if p.neg {
			v = -v
		}
		return money.NewExact(v, exp)
	}
	wide = fold(wide, acc, inAcc)
	if p.neg {
		wide.Neg(wide)
	}
	return money.FromDecimal(decimal.NewFromBigInt(wide, exp))
}

// fold returns b×10^digits + acc, allocating b when nil.
func fold(b *big.Int, acc uint64, digits int) *big.Int {
	if b == nil {
		b = new(big.Int)
	}
	b.Mul(b, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil))
	return b.Add(b, new(big.Int).SetUint64(acc))
}
