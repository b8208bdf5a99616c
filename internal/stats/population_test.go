package stats_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestPopulationCountsOnlyCustomers: a customer, for the figures, is a
// hash ltv:{<id>} holding at least one public field (SPEC §3), as for GET
// /v1/customers/{id}, which answers 404 otherwise. A key of another type
// (another program wrote it) and a hash of private fields only are keys,
// not customers: they are not in the population, nor do they scale a
// sample up; they are counted in Skipped, by reason, as a customer whose
// field cannot be parsed is.
func TestPopulationCountsOnlyCustomers(t *testing.T) {
	srv := testutil.StartRedis(t)
	client := srv.StoreClient()
	customers := population(300)
	seed(t, client, customers)
	ctx := ctxT(t)
	const strays = 150
	for i := range strays {
		if err := client.Set(ctx, store.Key(fmt.Sprintf("s-%d", i)), "a string another program wrote", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := client.HSet(ctx, store.Key(fmt.Sprintf("g-%d", i)), "_g", "x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A customer all the same: it holds a public field, if none the
	// figures read (no tier: it counts under "").
	if err := client.HSet(ctx, store.Key("only-updated"), "updated_at", "2025-06-01T00:00:00Z", "_g", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.HSet(ctx, store.Key("broken"), "orders", "two", "tier", "bronze").Err(); err != nil {
		t.Fatal(err)
	}
	const readable = 301 // population(300) and only-updated
	tests := []struct {
		name    string
		limit   int
		sampled bool
	}{
		{"every key read", 0, false},
		{"sampling path, every key in the sample", 1000, false},
		{"sampled", 300, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stats.Read(ctxT(t), store.NewRedis(client, store.Config{}), stats.ReadConfig{
				Report: report.Config{AsOf: asOf}, SampleLimit: tc.limit, Seed: 11, Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			var tiers int64
			for _, n := range got.Tiers {
				tiers += n
			}
			sk := got.Skipped
			if !tc.sampled {
				if got.Population != readable || got.SampleSize != readable || got.Sampled {
					t.Errorf("population %d, sample %d, sampled %v; want %d customers, every one read", got.Population, got.SampleSize, got.Sampled, readable)
				}
				if want := (report.Skipped{NotHash: strays, NoPublicFields: strays, Unreadable: 1}); sk.NotHash != want.NotHash ||
					sk.NoPublicFields != want.NoPublicFields || sk.Unreadable != want.Unreadable || sk.First == "" {
					t.Errorf("skipped %+v, want %+v and the first reason", sk, want)
				}
				if tiers != readable {
					t.Errorf("tier counts add up to %d, want %d", tiers, readable)
				}
				return
			}
			// 300 of 602 keys sampled, about half of them customers: the
			// population is estimated as keys × the sample's share of
			// customers, 301 ± 12 (one standard error); counting every key
			// gave 602.
			if !got.Sampled || got.Population < readable-60 || got.Population > readable+60 {
				t.Errorf("population %d (sampled %v), want about %d", got.Population, got.Sampled, readable)
			}
			if n := got.SampleSize + sk.Total(); n != int64(tc.limit) {
				t.Errorf("%d customers and %+v skipped in a sample of %d keys", got.SampleSize, sk, tc.limit)
			}
			if d := tiers - got.Population; d < -5 || d > 5 {
				t.Errorf("scaled tier counts add up to %d, population %d", tiers, got.Population)
			}
			if got.SampleError == nil || !strings.Contains(*got.SampleError, fmt.Sprintf("of %d customers", got.Population)) {
				t.Errorf("sample error %v", got.SampleError)
			}
		})
	}
}
