package benchreport

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// multiPackageOutput is what `go test -bench . -benchmem ./...` prints for
// two packages, including a failing benchmark, a benchmark that writes to
// stdout, -count=2 repetitions, a GOMAXPROCS=1 name, a run without
// -benchmem and assorted noise.
const multiPackageOutput = `goos: linux
goarch: amd64
pkg: github.com/ltv-stream/ltv-stream/internal/decode
cpu: AMD EPYC 7763 64-Core Processor                
BenchmarkDecode-4              	  987654	      1052 ns/op	 123.45 MB/s	     256 B/op	       3 allocs/op
BenchmarkDecode/small-size-4   	 2000000	       612.5 ns/op	     128 B/op	       2 allocs/op
BenchmarkDecodeFail-4          	--- FAIL: BenchmarkDecodeFail-4
    decode_test.go:88: boom
BenchmarkNoisy-4               	hello from inside the benchmark
   50000	     23456 ns/op	       0 B/op	       0 allocs/op
Benchmarks are fun 1 2 3
PASS
ok  	github.com/ltv-stream/ltv-stream/internal/decode	5.123s
goos: linux
goarch: amd64
pkg: github.com/ltv-stream/ltv-stream/internal/aggregate
cpu: AMD EPYC 7763 64-Core Processor                
BenchmarkApply-4   	 1000000	      1100 ns/op	    123456 events/s	      48 B/op	       1 allocs/op
BenchmarkApply-4   	 1000000	      1090 ns/op	    124000 events/s	      48 B/op	       1 allocs/op
BenchmarkSingle    	     100	  10000000 ns/op
--- BENCH: BenchmarkSingle
    aggregate_test.go:10: ran 100 times
BenchmarkParallel/workers=8-16 	    5000	    250000 ns/op	         4.5 p99-ms
FAIL
exit status 1
FAIL	github.com/ltv-stream/ltv-stream/internal/aggregate	3.2s
`

func TestParseGoBench(t *testing.T) {
	const (
		decode    = "github.com/ltv-stream/ltv-stream/internal/decode"
		aggregate = "github.com/ltv-stream/ltv-stream/internal/aggregate"
	)
	tests := []struct {
		name  string
		input string
		want  []GoBench
	}{
		{
			name:  "multi-package with noise",
			input: multiPackageOutput,
			want: []GoBench{
				{Package: decode, Name: "BenchmarkDecode", Procs: 4, N: 987654, NsPerOp: 1052,
					BytesPerOp: 256, AllocsPerOp: 3, Extra: map[string]float64{"MB/s": 123.45}},
				{Package: decode, Name: "BenchmarkDecode/small-size", Procs: 4, N: 2000000, NsPerOp: 612.5,
					BytesPerOp: 128, AllocsPerOp: 2},
				{Package: decode, Name: "BenchmarkNoisy", Procs: 4, N: 50000, NsPerOp: 23456,
					BytesPerOp: 0, AllocsPerOp: 0},
				{Package: aggregate, Name: "BenchmarkApply", Procs: 4, N: 1000000, NsPerOp: 1100,
					BytesPerOp: 48, AllocsPerOp: 1, Extra: map[string]float64{"events/s": 123456}},
				{Package: aggregate, Name: "BenchmarkApply", Procs: 4, N: 1000000, NsPerOp: 1090,
					BytesPerOp: 48, AllocsPerOp: 1, Extra: map[string]float64{"events/s": 124000}},
				{Package: aggregate, Name: "BenchmarkSingle", Procs: 1, N: 100, NsPerOp: 1e7,
					BytesPerOp: -1, AllocsPerOp: -1},
				{Package: aggregate, Name: "BenchmarkParallel/workers=8", Procs: 16, N: 5000, NsPerOp: 250000,
					BytesPerOp: -1, AllocsPerOp: -1, Extra: map[string]float64{"p99-ms": 4.5}},
			},
		},
		{
			name:  "without pkg line",
			input: "BenchmarkX-2 10 5 ns/op\n",
			want:  []GoBench{{Name: "BenchmarkX", Procs: 2, N: 10, NsPerOp: 5, BytesPerOp: -1, AllocsPerOp: -1}},
		},
		{
			name:  "failed benchmark leaves nothing behind",
			input: "pkg: p\nBenchmarkA-2 \t--- FAIL: BenchmarkA-2\n    a_test.go:1: 10 5 ns/op\nFAIL\n",
		},
		{
			name:  "name without result followed by a status line",
			input: "pkg: p\nBenchmarkA-2 \tsome output\nPASS\n10 5 ns/op\n",
		},
		{
			name:  "malformed result lines are skipped",
			input: "pkg: p\nBenchmarkA-2 10 five ns/op\nBenchmarkB-2 10 5\nBenchmarkC-2 x 5 ns/op\n",
		},
		{
			name:  "only noise",
			input: "hello\n\nPASS\nok  \tp\t0.1s\n",
		},
		{
			name: "empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGoBench(strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("ParseGoBench: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d benchmarks, want %d:\n%+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("benchmark %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseGoBenchReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("pkg: p\nBenchmarkA-2 10 5 ns/op\n"), iotest.ErrReader(boom))
	got, err := ParseGoBench(r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
	if len(got) != 1 {
		t.Errorf("got %d benchmarks before the error, want 1", len(got))
	}
}

func TestSplitProcs(t *testing.T) {
	tests := []struct {
		in    string
		name  string
		procs int
	}{
		{"BenchmarkA-8", "BenchmarkA", 8},
		{"BenchmarkA", "BenchmarkA", 1},
		{"BenchmarkA/x-y-2", "BenchmarkA/x-y", 2},
		{"BenchmarkA/x-y", "BenchmarkA/x-y", 1},
		{"BenchmarkA-0", "BenchmarkA-0", 1},
	}
	for _, tt := range tests {
		name, procs := splitProcs(tt.in)
		if name != tt.name || procs != tt.procs {
			t.Errorf("splitProcs(%q) = %q, %d; want %q, %d", tt.in, name, procs, tt.name, tt.procs)
		}
	}
}
