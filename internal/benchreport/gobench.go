package benchreport

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// GoBench is one result line of `go test -bench -benchmem` output, kept so
// the report can show the hot-path micro-benchmarks next to the end-to-end
// figures.
type GoBench struct {
	Package     string             // from the "pkg:" line preceding it
	Name        string             // e.g. "BenchmarkDecode" (the -N GOMAXPROCS suffix removed)
	Procs       int                // the -N suffix; 1 when go test printed none (GOMAXPROCS=1)
	N           int                // iterations
	NsPerOp     float64            // the ns/op column
	BytesPerOp  int64              // -1 when absent (run without -benchmem)
	AllocsPerOp int64              // -1 when absent (run without -benchmem)
	Extra       map[string]float64 // other unit → value pairs such as "events/s" or "MB/s"; nil when none
}

// ParseGoBench reads `go test -bench ... -benchmem` output and returns its
// benchmark result lines in input order, so the harness can pipe the raw
// output of one or several packages straight into a Report.
//
// Header lines (goos, goarch, pkg, cpu), PASS/FAIL/ok lines, "--- FAIL" and
// "--- BENCH" blocks, log output and other noise are skipped. A benchmark
// whose result was pushed to a later line by its own output on stdout is
// still matched with its name. A benchmark that failed produces no result
// and is therefore absent. With -count > 1 each repetition is a separate
// element. The only error is one from reading r.
func ParseGoBench(r io.Reader) ([]GoBench, error) {
	var (
		out     []GoBench
		pkg     string
		pending string // name printed without a result on its line
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "pkg:" {
			pkg = ""
			if len(fields) > 1 {
				pkg = fields[1]
			}
			pending = ""
			continue
		}
		if isBenchName(fields[0]) {
			if b, ok := parseResult(fields[0], fields[1:]); ok {
				b.Package = pkg
				out = append(out, b)
				pending = ""
				continue
			}
			// The name alone, or followed by the benchmark's own output or a
			// "--- FAIL" marker: the result, if any, comes on a later line.
			pending = fields[0]
			if len(fields) > 1 && fields[1] == "---" {
				pending = ""
			}
			continue
		}
		switch fields[0] {
		case "---", "PASS", "FAIL", "ok", "goos:", "goarch:", "cpu:":
			pending = "" // a status or header line ends any pending benchmark
			continue
		}
		if pending != "" {
			if b, ok := parseResult(pending, fields); ok {
				b.Package = pkg
				out = append(out, b)
				pending = ""
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read go test -bench output: %w", err)
	}
	return out, nil
}

// isBenchName reports whether s names a benchmark the way package testing
// does: "Benchmark" followed by nothing or by a non-lower-case rune.
func isBenchName(s string) bool {
	rest, ok := strings.CutPrefix(s, "Benchmark")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}

// parseResult parses "N value unit [value unit]..." for the benchmark name;
// ok is false unless the whole line has that shape.
func parseResult(name string, fields []string) (GoBench, bool) {
	if len(fields) < 3 || len(fields)%2 != 1 {
		return GoBench{}, false
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 0 {
		return GoBench{}, false
	}
	b := GoBench{N: n, BytesPerOp: -1, AllocsPerOp: -1}
	b.Name, b.Procs = splitProcs(name)
	for i := 1; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return GoBench{}, false
		}
		switch unit := fields[i+1]; unit {
		case "ns/op":
			b.NsPerOp = v
		case "B/op":
			b.BytesPerOp = int64(v)
		case "allocs/op":
			b.AllocsPerOp = int64(v)
		default:
			if b.Extra == nil {
				b.Extra = make(map[string]float64)
			}
			b.Extra[unit] = v
		}
	}
	return b, true
}

// splitProcs removes the "-N" GOMAXPROCS suffix package testing appends
// when GOMAXPROCS > 1; without one the run used a single proc.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 1
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil || p <= 0 {
		return name, 1
	}
	return name[:i], p
}
