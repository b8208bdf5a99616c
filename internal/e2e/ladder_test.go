package e2e

import "math/big"

// ratTier is one rung of a reference ladder: a tier's name and its
// threshold, exact.
type ratTier struct {
	name string
	min  *big.Rat
}

// ratLadder is SPEC §5's tier rule for the e2e references that compute in
// math/big (arith_test.go, predictive_audit_test.go), written from SPEC and
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
