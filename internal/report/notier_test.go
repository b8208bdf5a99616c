package report_test

import (
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/report"
)

// TestCustomersWithoutATierAreCounted: with a ladder whose lowest
// threshold is above 0, a customer below it has tier "" (SPEC §5: the
// first assignment is from ""). The tier counts list those customers under
// "", first in tier_order (below the ladder), so that they add up to the
// population, sampled or not.
func TestCustomersWithoutATierAreCounted(t *testing.T) {
	ladder := []aggregate.Tier{{Name: "silver", Min: dec("100")}, {Name: "gold", Min: dec("1000")}}
	tests := []struct {
		name      string
		tiers     []string // stored tier of each customer; "-" for a hash without the field
		sampled   int64    // population when sampled, 0: not sampled
		wantTiers map[string]int64
		wantOrder string
	}{
		{"below the ladder", []string{"", "", "silver", "gold"}, 0, map[string]int64{"": 2, "silver": 1, "gold": 1}, ",silver,gold"},
		{"field absent counts as no tier", []string{"-", "", "gold"}, 0, map[string]int64{"": 2, "silver": 0, "gold": 1}, ",silver,gold"},
		{"sampled scales the empty tier too", []string{"", "silver"}, 6, map[string]int64{"": 3, "silver": 3, "gold": 0}, ",silver,gold"},
		{"everyone in a tier: no empty row", []string{"silver", "gold"}, 0, map[string]int64{"silver": 1, "gold": 1}, "silver,gold"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := report.NewAccumulator(report.Config{AsOf: asOf, Tiers: ladder})
			if err != nil {
				t.Fatal(err)
			}
			for i, tier := range tc.tiers {
				f := map[string]string{"orders": "1", "ltv": "50.00", "churned": "0", "segment": "new"}
				if tier != "-" {
					f["tier"] = tier
				}
				if err := acc.Add(string(rune('a'+i)), f); err != nil {
					t.Fatal(err)
				}
			}
			meta := report.Meta{GeneratedAt: asOf, Population: int64(len(tc.tiers))}
			if tc.sampled > 0 {
				meta = report.Meta{GeneratedAt: asOf, Population: tc.sampled, Sampled: true}
			}
			st := acc.Stats(meta)
			if len(st.Tiers) != len(tc.wantTiers) {
				t.Errorf("tiers %v, want %v", st.Tiers, tc.wantTiers)
			}
			var sum int64
			for name, n := range st.Tiers {
				sum += n
				if want, ok := tc.wantTiers[name]; !ok || n != want {
					t.Errorf("tier %q: %d, want %d (listed: %v)", name, n, want, ok)
				}
			}
			if sum != st.Population {
				t.Errorf("tier counts add up to %d, population %d", sum, st.Population)
			}
			if got := strings.Join(st.TierOrder, ","); got != tc.wantOrder {
				t.Errorf("tier_order %q, want %q", got, tc.wantOrder)
			}
		})
	}
}

// TestCustomersWithoutASegmentAreCounted: a customer without orders and
// not churned has no segment (SPEC §8: the field is absent), e.g. one whose
// only events were refunds or a reactivation. The segment counts list
// those customers under "", first, so that they add up to the population.
func TestCustomersWithoutASegmentAreCounted(t *testing.T) {
	tests := []struct {
		name     string
		segments []string // stored segment of each customer; "-" for a hash without the field
		want     map[string]int64
		order    string
	}{
		{"no orders, not churned", []string{"-", "-", "new", "lapsed"}, map[string]int64{"": 2, "new": 1, "active": 0, "at_risk": 0, "lapsed": 1, "churned": 0}, ",new,active,at_risk,lapsed,churned"},
		{"everyone with a segment: no empty row", []string{"new", "churned"}, map[string]int64{"new": 1, "active": 0, "at_risk": 0, "lapsed": 0, "churned": 1}, "new,active,at_risk,lapsed,churned"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := report.NewAccumulator(report.Config{AsOf: asOf})
			if err != nil {
				t.Fatal(err)
			}
			for i, seg := range tc.segments {
				f := map[string]string{"orders": "0", "ltv": "0.00", "churned": "0", "tier": "bronze", "refunds": "5.00"}
				if seg != "-" {
					f["orders"], f["segment"] = "1", seg
				}
				if err := acc.Add(string(rune('a'+i)), f); err != nil {
					t.Fatal(err)
				}
			}
			st := acc.Stats(report.Meta{GeneratedAt: asOf, Population: int64(len(tc.segments))})
			var sum int64
			for name, n := range st.Segments {
				sum += n
				if want, ok := tc.want[name]; !ok || n != want {
					t.Errorf("segment %q: %d, want %d (listed: %v)", name, n, want, ok)
				}
			}
			if len(st.Segments) != len(tc.want) || sum != st.Population {
				t.Errorf("segments %v add up to %d, population %d; want %v", st.Segments, sum, st.Population, tc.want)
			}
			if got := strings.Join(st.SegmentNames, ","); got != tc.order {
				t.Errorf("segment order %q, want %q", got, tc.order)
			}
		})
	}
}
