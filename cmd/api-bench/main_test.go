package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestRunSmall runs the whole benchmark small and checks the report has
// its three phases with figures, and the maximum.
func TestRunSmall(t *testing.T) {
	testutil.SkipShort(t, "builds ltvctl and runs redis-server")
	ctx := testutil.Context(t, 3*time.Minute)
	out := filepath.Join(t.TempDir(), "report.md")
	err := run(ctx, []string{"-customers", "3000", "-rate", "200", "-batch-rate", "20", "-duration", "1s",
		"-max-clients", "4", "-max-duration", "1s", "-out", out}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	for _, row := range []string{`\| single GET \| 200/s \| 200 \|`, `\| batchGet of 100 \| 20/s \(2000 customers/s\) \| 20 \|`, `\| single GET, maximum \| 4 clients`} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("report lacks a row matching %s:\n%s", row, report)
		}
	}
	if !strings.Contains(report, "**Maximum:**") || !strings.Contains(report, "3000 customers") {
		t.Errorf("report:\n%s", report)
	}
}

func TestBadOptions(t *testing.T) {
	for _, args := range [][]string{{"-rate", "0"}, {"-batch-size", "1001"}, {"-customers", "10"}, {"-nope"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
