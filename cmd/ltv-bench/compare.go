package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ltv-stream/ltv-stream/internal/bench"
	"github.com/ltv-stream/ltv-stream/internal/benchreport"
)

// side is one of the two things a paired comparison runs: a consumer
// binary and the environment it gets.
type side struct {
	name   string
	binary string
	env    []string
}

// comparison runs the throughput phase of a and b alternately, pairs
// times, both on the same stream within a pair, and returns the runs.
type comparison struct {
	a, b  side
	pairs int
	// run is one throughput run of a side (bench.Run in the command; a
	// stand-in in tests).
	run func(ctx context.Context, s side, seed int64) (benchreport.Run, error)
	log func(format string, args ...any)
}

// bFirst says whether pair number pair (from 1) runs b before a: the
// order alternates (A B, B A, A B, …), so a machine that slows down or
// speeds up during the series favours neither side.
func bFirst(pair int) bool { return pair%2 == 0 }

// collect runs every pair and returns the comparison of their runs.
func (c comparison) collect(ctx context.Context) (benchreport.Comparison, error) {
	out := benchreport.Comparison{NameA: c.a.describe(), NameB: c.b.describe()}
	for pair := 1; pair <= c.pairs; pair++ {
		order := []side{c.a, c.b}
		if bFirst(pair) {
			order = []side{c.b, c.a}
		}
		var got [2]benchreport.Run
		for i, s := range order {
			c.log("pair %d of %d: %s", pair, c.pairs, s.name)
			r, err := c.run(ctx, s, int64(pair))
			if err != nil {
				return out, fmt.Errorf("pair %d, %s: %w", pair, s.name, err)
			}
			got[i] = r
		}
		ra, rb := got[0], got[1]
		if bFirst(pair) {
			ra, rb = rb, ra
		}
		out.A, out.B = append(out.A, ra), append(out.B, rb)
	}
	return out, nil
}

// describe names a side in the comparison's title: its binary, and the
// settings it alone gets.
func (s side) describe() string {
	if len(s.env) == 0 {
		return s.binary
	}
	return s.binary + " with " + strings.Join(s.env, " ")
}

// runComparison is ltv-bench -compare / -compare-env: the paired
// comparison printed, and written to out when that is not empty.
func runComparison(ctx context.Context, c comparison, cfg bench.Config, out string) error {
	c.run = func(ctx context.Context, s side, seed int64) (benchreport.Run, error) {
		rc := cfg
		rc.Seed, rc.ConsumerBinary = seed, s.binary
		rc.ConsumerEnv = append(append([]string(nil), cfg.ConsumerEnv...), s.env...)
		rc.ThroughputOnly, rc.SkipVerify = true, true
		return bench.Run(ctx, rc)
	}
	result, err := c.collect(ctx)
	if err != nil {
		return err
	}
	if len(cfg.ConsumerEnv) > 0 {
		result.Notes = append(result.Notes, "Both consumers' settings: "+strings.Join(cfg.ConsumerEnv, " ")+".")
	}
	if cfg.LatencyToo {
		result.Notes = append(result.Notes, fmt.Sprintf("Each run is the throughput phase (%d input events over %d customers), then the latency phase (%d events/s offered for %s after a %s warm-up).",
			cfg.Events, cfg.Customers, cfg.OfferedRate, cfg.LatencyDuration, cfg.LatencyWarmup))
	} else {
		result.Notes = append(result.Notes, fmt.Sprintf("Each run is the throughput phase alone: %d input events over %d customers.", cfg.Events, cfg.Customers))
	}
	var md bytes.Buffer
	if err := benchreport.WriteComparison(&md, result); err != nil {
		return err
	}
	if out != "" {
		if err := os.WriteFile(out, md.Bytes(), 0o644); err != nil {
			return err
		}
	}
	_, err = os.Stdout.Write(md.Bytes())
	return err
}
