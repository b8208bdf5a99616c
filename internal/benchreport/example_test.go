package benchreport_test

import (
	"fmt"
	"strings"

	"github.com/ltv-stream/ltv-stream/internal/benchreport"
)

func ExampleParseGoBench() {
	out := `goos: linux
pkg: github.com/ltv-stream/ltv-stream/internal/decode
BenchmarkDecode-4   	  987654	      1052 ns/op	  950000 events/s	     256 B/op	       3 allocs/op
PASS
`
	benches, err := benchreport.ParseGoBench(strings.NewReader(out))
	if err != nil {
		panic(err)
	}
	for _, b := range benches {
		fmt.Println(b.Name, b.Procs, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp, b.Extra["events/s"])
	}
	// Output: BenchmarkDecode 4 1052 256 3 950000
}
