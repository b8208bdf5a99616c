package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// seedShuffled writes n customers with two orders each through the
// consumer's pipeline, their ids in an order that is not the ids' own.
func seedShuffled(t *testing.T, n int) (*testutil.RedisServer, []string, string) {
	t.Helper()
	cfgPath := testutil.WriteFile(t, "ltv.yaml", spectest.Predictive)
	model, _, err := config.LoadModelFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var events []pipeline.Record
	for i := range n {
		id := fmt.Sprintf("c-%03d", (i*7)%n)
		ids = append(ids, id)
		for k, at := range []string{"2024-01-05T10:00:00Z", "2024-03-05T10:00:00Z"} {
			events = append(events, pipeline.Record{Topic: "orders", Key: []byte(id), Value: fmt.Appendf(nil,
				`{"schema":"ltv.order.v1","event_id":"e-%s-%d","type":"order_placed","customer_id":%q,"order_id":"o-%d","amount":"%d.00","currency":"SEK","occurred_at":%q}`,
				id, k, id, k, 10+i, at)})
		}
	}
	return seedEvents(t, model, events), ids, cfgPath
}

// TestRedisPopulationCountsACustomerOnce: SCAN may list a key twice (while
// Redis resizes its table under a live consumer's writes); fit and score
// must still see each customer once, or a fit weighs it twice and score
// prints it twice.
func TestRedisPopulationCountsACustomerOnce(t *testing.T) {
	srv, ids, _ := seedShuffled(t, 12)
	snaps, errs, err := srv.Store().Load(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		batches [][2]int // ranges of ids, as SCAN might list them
	}{
		{"each once", [][2]int{{0, 12}}},
		{"a batch listed again", [][2]int{{0, 6}, {6, 12}, {0, 6}}},
		{"overlapping batches", [][2]int{{0, 8}, {4, 12}}},
		{"one key twice in a batch", [][2]int{{0, 12}, {11, 12}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pop := redisPopulation{asOf: asOf, unit: 7 * 24 * time.Hour, seen: stats.NewIDSet()}
			for _, b := range tc.batches {
				pop.add(snaps[b[0]:b[1]], errs[b[0]:b[1]])
			}
			got := map[string]int{}
			for _, r := range pop.rows {
				got[r.id]++
			}
			if len(pop.rows) != len(ids) || len(got) != len(ids) {
				t.Errorf("%d rows of %d customers, want each of the %d once: %v", len(pop.rows), len(got), len(ids), got)
			}
		})
	}
}

// TestScoreFromRedisPrintsCustomersInIDOrder: SCAN's order changes from
// run to run; score prints the customers in id order, each once, so two
// days' outputs can be compared line by line.
func TestScoreFromRedisPrintsCustomersInIDOrder(t *testing.T) {
	srv, ids, cfgPath := seedShuffled(t, 40)
	env := map[string]string{"LTV_REDIS_URL": srv.URL(), "LTV_CONFIG": cfgPath}
	code, out, errOut := ltvctl(t, env, "score", "--as-of", "2024-06-01")
	if code != 0 {
		t.Fatalf("score: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var got []string
	for _, l := range lines[1:] {
		id, _, _ := strings.Cut(l, ",")
		got = append(got, id)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("score printed ids %v, want %v", got, want)
	}
}
