package stats_test

import (
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// BenchmarkRead: one report over 200,000 customers in a real redis-server
// on this machine, read in full and as a sample of 50,000 (docs/cohorts.md
// quotes the figures).
func BenchmarkRead(b *testing.B) {
	srv := testutil.StartRedis(b)
	customers := population(200_000)
	seed(b, srv.Client(), customers)
	st := srv.Store()
	for _, bc := range []struct {
		name  string
		limit int
	}{{"all", 0}, {"sample50k", 50_000}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := stats.Read(b.Context(), st, stats.ReadConfig{Report: report.Config{AsOf: asOf}, SampleLimit: bc.limit})
				if err != nil || s.Population != 200_000 {
					b.Fatalf("%v, population %d", err, s.Population)
				}
			}
		})
	}
}
