package stats

import (
	"math"
	"strconv"
	"testing"
)

// TestReservoirIsUniform: over many seeds, every item of a stream lands in
// the sample equally often (size/n), whatever its position, and the
// sample holds exactly size distinct items.
func TestReservoirIsUniform(t *testing.T) {
	tests := []struct{ n, size int }{{10, 3}, {50, 10}, {7, 7}, {5, 9}}
	const runs = 20000
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.size)+"of"+strconv.Itoa(tc.n), func(t *testing.T) {
			counts := make([]int, tc.n)
			for seed := uint64(1); seed <= runs; seed++ {
				r := newReservoir(tc.size, seed)
				for i := range tc.n {
					r.offer(strconv.Itoa(i))
				}
				seen := map[string]bool{}
				for _, it := range r.items {
					if seen[it] {
						t.Fatalf("seed %d: %s twice", seed, it)
					}
					seen[it] = true
					i, _ := strconv.Atoi(it)
					counts[i]++
				}
				if len(r.items) != min(tc.size, tc.n) {
					t.Fatalf("seed %d: %d items", seed, len(r.items))
				}
			}
			p := math.Min(1, float64(tc.size)/float64(tc.n))
			sd := math.Sqrt(runs * p * (1 - p))
			for i, c := range counts {
				if d := math.Abs(float64(c) - runs*p); d > 5*sd+1e-9 {
					t.Errorf("item %d sampled %d times, expected %.0f ± %.0f", i, c, runs*p, 5*sd)
				}
			}
		})
	}
}
