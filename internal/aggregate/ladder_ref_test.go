package aggregate_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

// This file checks the tier rule of SPEC §5 against a reference on
// math/big rationals, written from SPEC and docs/configuration.md alone,
// on random ladders: one to nine tiers, a lowest threshold at 0 or above
// it, thresholds and hysteresis with up to 20 decimal places (the most the
// YAML accepts) and up to 10^17, hysteresis 0 and close to 1, and LTVs
// (2 places, as stored) placed a cent around every threshold and every
// leave-below point.

// ladderRef is the reference ladder.
type ladderRef struct {
	names []string
	mins  []*big.Rat
	h     *big.Rat
}

// index is a tier's rung; -1 for "" or a name not in the ladder.
func (l ladderRef) index(name string) int {
	for i, n := range l.names {
		if n == name {
			return i
		}
	}
	return -1
}

// next: promotion as soon as a higher threshold is reached; the held tier
// is left only below its threshold × (1 − h), for the highest tier the
// LTV reaches ("" when none).
func (l ladderRef) next(cur string, ltv *big.Rat) string {
	reached := -1
	for i, m := range l.mins {
		if ltv.Cmp(m) >= 0 {
			reached = i
		}
	}
	if c := l.index(cur); c > reached {
		band := new(big.Rat).Mul(l.mins[c], new(big.Rat).Sub(big.NewRat(1, 1), l.h))
		if ltv.Cmp(band) >= 0 {
			return cur
		}
	}
	if reached < 0 {
		return ""
	}
	return l.names[reached]
}

// randDecimal is a random non-negative decimal below 10^intDigits with
// up to places decimal places, as text.
func randDecimal(rng *rand.Rand, intDigits, places int) string {
	s := fmt.Sprint(rng.Int64N(int64(pow10(intDigits))))
	if places > 0 {
		frac := make([]byte, places)
		for i := range frac {
			frac[i] = byte('0' + rng.IntN(10))
		}
		s += "." + string(frac)
	}
	return s
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// centsAround returns the 2-place values around x: floor(x) in cents,
// one cent below and above that, and the cent above x when x is not whole
// in cents. Negative values are left out (an LTV is never below 0).
func centsAround(x *big.Rat) []*big.Rat {
	c := new(big.Rat).Mul(x, big.NewRat(100, 1))
	fl := new(big.Int).Quo(c.Num(), c.Denom()) // x ≥ 0: truncation is floor
	var out []*big.Rat
	for d := int64(-1); d <= 2; d++ {
		v := new(big.Int).Add(fl, big.NewInt(d))
		if v.Sign() < 0 {
			continue
		}
		out = append(out, new(big.Rat).SetFrac(v, big.NewInt(100)))
	}
	return out
}

func TestNextTierAgainstRationalReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for ladder := 0; ladder < 400; ladder++ {
		n := 1 + rng.IntN(9)
		places := []int{0, 2, 3, 20}[rng.IntN(4)]
		intDigits := 1 + rng.IntN(17)
		hs := []string{"0", "0.05", "0.5", "0.99999999999999999999", randDecimal(rng, 0, 1+rng.IntN(20))}
		h := hs[rng.IntN(len(hs))]
		var texts []string
		seen := map[string]bool{}
		if rng.IntN(2) == 0 {
			texts, seen["0"] = append(texts, "0"), true
		}
		for len(texts) < n {
			v := randDecimal(rng, intDigits, places)
			// Validate refuses two thresholds in one cent (the lower could
			// never be held): one per cent.
			if key := dd(v).RoundCeil(2).String(); !seen[key] {
				seen[key] = true
				texts = append(texts, v)
			}
		}
		ref := ladderRef{h: ratOf(h)}
		var tiers []aggregate.Tier
		for i, v := range texts {
			tiers = append(tiers, aggregate.Tier{Name: fmt.Sprintf("t%d", i), Min: dd(v)})
		}
		// ascending, as the YAML loader sorts them
		for i := range tiers {
			for j := i + 1; j < len(tiers); j++ {
				if tiers[j].Min.LessThan(tiers[i].Min) {
					tiers[i], tiers[j] = tiers[j], tiers[i]
				}
			}
		}
		for i := range tiers {
			tiers[i].Name = fmt.Sprintf("t%d", i)
			ref.names = append(ref.names, tiers[i].Name)
			ref.mins = append(ref.mins, ratOf(tiers[i].Min.String()))
		}
		m := mustModel(t, func(m *aggregate.Model) {
			m.Tiers = tiers
			m.Hysteresis = dd(h)
		})
		var ltvs []*big.Rat
		keep := new(big.Rat).Sub(big.NewRat(1, 1), ref.h)
		for _, min := range ref.mins {
			ltvs = append(ltvs, centsAround(min)...)
			ltvs = append(ltvs, centsAround(new(big.Rat).Mul(min, keep))...)
		}
		ltvs = append(ltvs, new(big.Rat))
		currents := append([]string{"", "gone"}, ref.names...)
		for _, ltv := range ltvs {
			text := ltv.FloatString(2)
			exact := money.FromDecimal(decimal.RequireFromString(text))
			for _, cur := range currents {
				want := ref.next(cur, ltv)
				if got := m.NextTier(cur, exact); got != want {
					t.Fatalf("ladder %v h %s: NextTier(%q, %s) = %q, want %q", texts, h, cur, text, got, want)
				}
			}
		}
	}
}
