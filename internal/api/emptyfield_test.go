package api_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestAHeldEmptyFieldIsReturned: the read API returns exactly the public
// fields Redis holds, each the string it holds (docs/read-api.md). The
// updater stores `tier` as "" for a customer below the lowest threshold of
// a ladder that starts above 0 (SPEC §5's no-tier value; ltvctl's
// TestGetPrintsEveryPublicFieldRedisHolds has the updater write it), so
// GET and batchGet return "tier":"" for it; a field the hash does not
// hold (channel here) stays absent.
func TestAHeldEmptyFieldIsReturned(t *testing.T) {
	f := newFixture(t)
	hash := map[string]string{"orders": "1", "revenue": "10.00", "ltv": "30.00", "tier": "", "churned": "0",
		"updated_at": "2026-11-01T00:00:00Z", "segment": "new", "segment_since": "2026-03-01T12:00:00Z"}
	if err := f.admin.HSet(context.Background(), store.Key("c-tierless"), hash).Err(); err != nil {
		t.Fatal(err)
	}
	want := asJSON(hash)
	hs := f.server(t, api.Config{})
	code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-tierless", "", "", nil)
	if code != 200 || !reflect.DeepEqual(doc, want) {
		t.Errorf("GET: status %d\n got %v\nwant %v", code, doc, want)
	}
	code, _, doc = testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "application/json", `{"ids":["c-tierless"]}`, nil)
	customers, _ := doc["customers"].(map[string]any)
	if code != 200 || !reflect.DeepEqual(customers["c-tierless"], want) {
		t.Errorf("batchGet: status %d\n got %v\nwant %v", code, customers["c-tierless"], want)
	}
}
