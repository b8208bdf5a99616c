package report_test

import (
	"fmt"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/report"
)

// BenchmarkAdd: the cost of one customer in the accumulator (parsing its
// fields and adding them exactly), which bounds how fast a report can go
// besides reading Redis.
func BenchmarkAdd(b *testing.B) {
	acc, err := report.NewAccumulator(report.Config{AsOf: asOf})
	if err != nil {
		b.Fatal(err)
	}
	customers := make([]map[string]string, 64)
	for i := range customers {
		f := map[string]string{}
		for k, v := range six[i%len(six)].fields {
			f[k] = v
		}
		f["revenue"] = fmt.Sprintf("%d.%02d", 100+i, i)
		customers[i] = f
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := acc.Add("c", customers[i%len(customers)]); err != nil {
			b.Fatal(err)
		}
	}
}
