package e2e

import "math/big"

// The exact helpers the e2e references share (arith_test.go,
// predictive_audit_test.go, predictive_ref_test.go, tiers_test.go),
// written from SPEC and the docs rather than from internal/money or
// internal/aggregate.

// rat parses a decimal or fraction literal of a reference's settings and
// cases.
func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("not a number: " + s)
	}
	return r
}

// roundRat renders r with places decimals, rounding half away from zero
// (docs/data-model.md); a value that rounds to zero has no minus sign.
func roundRat(r *big.Rat, places int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil)
	n := new(big.Rat).Mul(r, new(big.Rat).SetInt(scale))
	neg := n.Sign() < 0
	n.Abs(n)
	n.Add(n, big.NewRat(1, 2))
	q := new(big.Int).Quo(n.Num(), n.Denom()) // floor(|r|·10^places + 1/2)
	if neg && q.Sign() != 0 {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, scale).FloatString(places)
}

// ratTier is one rung of a reference ladder: a tier's name and its
// threshold, exact.
type ratTier struct {
	name string
	min  *big.Rat
}

// ratLadder is SPEC §5's tier rule for the e2e references that compute in
// math/big (arith_test.go, predictive_audit_test.go, tiers_test.go), written from SPEC and
// docs/configuration.md rather than from internal/aggregate: up as soon as
// the ltv reaches a higher threshold, possibly past several; out of the
// held tier only below its threshold × (1 − hysteresis), and then into the
// tier the ltv reaches.
type ratLadder struct {
	tiers      []ratTier // ascending
	hysteresis *big.Rat
}

// index is a tier's rung, -1 for "" (no tier) or a name not in the ladder.
func (l ratLadder) index(name string) int {
	for i, t := range l.tiers {
		if t.name == name {
			return i
		}
	}
	return -1
}

// next is the tier held after the ltv becomes ltv while cur is held.
func (l ratLadder) next(cur string, ltv *big.Rat) string {
	natural := -1 // the highest tier whose threshold ltv reaches
	for i, t := range l.tiers {
		if ltv.Cmp(t.min) >= 0 {
			natural = i
		}
	}
	if c := l.index(cur); c > natural {
		keep := new(big.Rat).Mul(l.tiers[c].min, new(big.Rat).Sub(big.NewRat(1, 1), l.hysteresis))
		if ltv.Cmp(keep) >= 0 {
			return cur
		}
	}
	if natural < 0 {
		return ""
	}
	return l.tiers[natural].name
}
