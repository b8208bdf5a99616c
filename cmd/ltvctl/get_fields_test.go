package main

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestGetPrintsEveryPublicFieldRedisHolds: SPEC §10's get prints the
// public fields, and docs/read-api.md says exactly the public fields
// Redis holds, each the string Redis holds. A ladder whose lowest
// threshold is above 0 leaves a customer below it without a tier: the
// updater stores `tier` as "" (SPEC §5's no-tier value), and get must print
// it ("tier":""), not leave it out as if the hash did not hold it.
func TestGetPrintsEveryPublicFieldRedisHolds(t *testing.T) {
	cfgPath := testutil.WriteFile(t, "ltv.yaml", "tiers: [{name: silver, min: 1000}, {name: gold, min: 5000}]\n")
	model, _, err := config.LoadModelFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	order := func(id, amount string) pipeline.Record {
		return pipeline.Record{Topic: "orders", Key: []byte(id), Value: []byte(`{"schema":"ltv.order.v1","event_id":"e-` + id +
			`","type":"order_placed","customer_id":"` + id + `","order_id":"o-1","amount":"` + amount +
			`","currency":"SEK","occurred_at":"2026-03-01T12:00:00Z"}`)}
	}
	srv := seedEvents(t, model, []pipeline.Record{order("c-small", "10.00"), order("c-big", "2000.00")})
	env := map[string]string{"LTV_REDIS_URL": srv.URL(), "LTV_CONFIG": cfgPath}
	for _, tc := range []struct {
		id, tier string
	}{{"c-small", ""}, {"c-big", "gold"}} {
		stored := srv.Client().HGetAll(context.Background(), "ltv:{"+tc.id+"}").Val()
		if tier, held := stored["tier"]; !held || tier != tc.tier {
			t.Fatalf("%s: the updater stored tier %q (held %v), want %q", tc.id, tier, held, tc.tier)
		}
		public := map[string]string{}
		for name, v := range stored {
			if !strings.HasPrefix(name, "_") {
				public[name] = v
			}
		}
		code, out, errOut := ltvctl(t, env, "get", tc.id)
		if code != 0 {
			t.Fatalf("get %s: exit %d: %s", tc.id, code, errOut)
		}
		var doc map[string]string
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("get %s: %v in %q", tc.id, err, out)
		}
		if !maps.Equal(doc, public) {
			t.Errorf("get %s printed\n %v\nRedis holds the public fields\n %v", tc.id, doc, public)
		}
	}
}
