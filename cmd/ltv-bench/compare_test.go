package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/benchreport"
)

// The sides alternate which runs first, both runs of a pair get the same
// stream (seed), and each run lands on its own side whatever the order.
func TestComparisonAlternatesAndKeepsTheSidesApart(t *testing.T) {
	var calls []string
	c := comparison{
		a:     side{name: "A", binary: "/bin/old"},
		b:     side{name: "B", binary: "/bin/new", env: []string{"LTV_WORKERS=6"}},
		pairs: 4,
		run: func(_ context.Context, s side, seed int64) (benchreport.Run, error) {
			calls = append(calls, fmt.Sprintf("%s%d", s.name, seed))
			// The run says which side and pair made it.
			r := benchreport.Run{Throughput: float64(seed)}
			if s.name == "B" {
				r.Throughput += 0.5
			}
			return r, nil
		},
		log: func(string, ...any) {},
	}
	got, err := c.collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A1", "B1", "B2", "A2", "A3", "B3", "B4", "A4"}; !slices.Equal(calls, want) {
		t.Errorf("run order %v, want %v", calls, want)
	}
	for i := range 4 {
		if got.A[i].Throughput != float64(i+1) || got.B[i].Throughput != float64(i+1)+0.5 {
			t.Errorf("pair %d: A %v, B %v: runs on the wrong side", i+1, got.A[i].Throughput, got.B[i].Throughput)
		}
	}
	if got.NameA != "/bin/old" || got.NameB != "/bin/new with LTV_WORKERS=6" {
		t.Errorf("names %q, %q", got.NameA, got.NameB)
	}
}

func TestComparisonStopsAtAFailedRun(t *testing.T) {
	boom := errors.New("consumer exited")
	runs := 0
	c := comparison{
		a: side{name: "A"}, b: side{name: "B"}, pairs: 3,
		run: func(_ context.Context, s side, seed int64) (benchreport.Run, error) {
			runs++
			if seed == 2 && s.name == "A" {
				return benchreport.Run{}, boom
			}
			return benchreport.Run{Throughput: 1}, nil
		},
		log: func(string, ...any) {},
	}
	_, err := c.collect(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "pair 2, A") {
		t.Fatalf("err = %v, want pair 2's failure of A", err)
	}
	if runs != 4 {
		t.Errorf("%d runs, want 4 (pair 1, then B and A of pair 2)", runs)
	}
}
