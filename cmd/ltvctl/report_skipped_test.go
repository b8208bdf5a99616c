package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestReportLeavesStrayKeysOutOfThePopulation: a key ltv:{…} of another
// type and a hash of private fields only are not customers: the report's
// population and tier counts leave them out, its JSON counts them under
// skipped, and stderr warns about them.
func TestReportLeavesStrayKeysOutOfThePopulation(t *testing.T) {
	srv := testutil.StartRedis(t)
	c := srv.Client()
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := c.HSet(ctx, store.Key(id), "orders", "1", "ltv", "10.00", "tier", "bronze", "segment", "new", "_g", "x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, store.Key("stray"), "written by another program", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, store.Key("ghost"), "_g", "x").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ltvctl(t, map[string]string{"LTV_REDIS_URL": srv.URL()}, "report", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got report.Stats
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Population != 2 || got.Tiers["bronze"] != 2 || got.Skipped.NotHash != 1 || got.Skipped.NoPublicFields != 1 {
		t.Errorf("population %d, tiers %v, skipped %+v; want 2 customers, 1 key not a hash, 1 without public fields", got.Population, got.Tiers, got.Skipped)
	}
	if !strings.Contains(errOut, "read 2 of 2 customers") || !strings.Contains(errOut, "warning: 2 keys under ltv:{…} left out") ||
		!strings.Contains(errOut, "1 not hashes, 1 hashes without public fields") {
		t.Errorf("stderr: %s", errOut)
	}
}
