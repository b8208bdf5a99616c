package api_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
)

// oddIDs are valid customer ids that need escaping in a URL or look like
// a Redis Cluster hash tag themselves.
var oddIDs = []string{"a b", "a/b", "100%", "åäö-名前", "{tag}", "x{y}z", "{", "a}", "?q=1&r#f", "+plus", strings.Repeat("é", 128)}

// clusterPopulation is n customers' public fields (and private ones),
// over three tiers, the five segments, eight LTV bands, cohorts of four
// months and three channels (one none), plus the odd ids.
func clusterPopulation(n int) map[string]map[string]string {
	tiers := []string{"bronze", "silver", "gold"}
	segments := []string{"new", "active", "at_risk", "lapsed", "churned"}
	channels := []string{"email", "paid_search", ""}
	ltvs := []string{"0.00", "499.99", "500.00", "1000.00", "2500.00", "9999.99", "20000.00", "40000.00", "123456.78"}
	ids := make([]string, 0, n+len(oddIDs))
	for i := range n {
		ids = append(ids, fmt.Sprintf("c-%05d", i))
	}
	ids = append(ids, oddIDs...)
	out := make(map[string]map[string]string, len(ids))
	for i, id := range ids {
		first := time.Date(2026, time.Month(1+i%4), 1+i%27, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)
		f := map[string]string{
			"orders": fmt.Sprint(1 + i%3), "revenue": fmt.Sprintf("%d.%02d", 10+i%500, i%100), "gross_profit": fmt.Sprintf("%d.50", i%40),
			"refunds": "0.00", "first_order_at": first, "last_order_at": first, "aov": "10.00", "frequency": "1.0000",
			"tenure_days": "0.00", "churned": "0", "ltv": ltvs[i%len(ltvs)], "tier": tiers[i%len(tiers)],
			"updated_at": "2026-11-01T00:00:00Z", "segment": segments[i%len(segments)], "segment_since": first,
		}
		if f["segment"] == "churned" {
			f["churned"] = "1"
		}
		if ch := channels[i%len(channels)]; ch != "" {
			f["channel"] = ch
		}
		out[id] = f
	}
	return out
}

// TestAPIOnRedisCluster serves the API over a three-master Redis Cluster
// (a comma-separated LTV_REDIS_URL, as store.NewClient reads it): every
// customer, on whichever master, odd ids included, is read by a GET and by
// batchGet; /v1/stats counts every customer of every master, with tier,
// segment, histogram and cohort figures that the test counts itself from
// the customers it wrote.
func TestAPIOnRedisCluster(t *testing.T) {
	testutil.SkipShort(t, "starts a Redis Cluster")
	cluster := testutil.StartRedisCluster(t, 3)
	client, err := store.NewClient(store.Config{URL: cluster.URL(), ContextDeadlines: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if _, ok := client.(*redis.ClusterClient); !ok {
		t.Fatalf("store.NewClient(%q) made a %T, want a cluster client", cluster.URL(), client)
	}
	ctx := testutil.Context(t, 2*time.Minute)
	customers := clusterPopulation(600)
	for id, f := range customers {
		args := []any{"_g", "\x00private", "_p", "1"}
		for k, v := range f {
			args = append(args, k, v)
		}
		if err := client.HSet(ctx, store.Key(id), args...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := client.Set(ctx, store.PendingKey(id), "{}", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Set(ctx, "ltv:{p0}:stream_time", "2026-11-01T00:00:00Z", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Every master holds some of them, so a reader of one node would miss some.
	for _, n := range cluster.Nodes {
		if size := n.Client().DBSize(ctx).Val(); size < 100 {
			t.Fatalf("node %s holds %d keys: the customers are not spread", n.Addr(), size)
		}
	}
	hs := newClusterServer(t, client)

	t.Run("get", func(t *testing.T) {
		for id, f := range customers {
			code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/"+url.PathEscape(id), "", "", nil)
			if code != 200 || !reflect.DeepEqual(doc, asJSON(f)) {
				t.Fatalf("GET %q: %d\n got %v\nwant %v", id, code, doc, f)
			}
		}
		if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/nobody", "", "", nil); code != 404 {
			t.Errorf("unknown: %d %v", code, doc)
		}
	})

	t.Run("batchGet", func(t *testing.T) {
		ids := make([]string, 0, len(customers)+2)
		for id := range customers {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		body, _ := json.Marshal(map[string]any{"ids": append(ids, "nobody", "{nobody}")})
		code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "application/json", string(body), nil)
		if code != 200 {
			t.Fatalf("%d %v", code, doc)
		}
		got := doc["customers"].(map[string]any)
		if len(got) != len(customers) {
			t.Errorf("%d customers returned, want %d", len(got), len(customers))
		}
		for id, f := range customers {
			if !reflect.DeepEqual(got[id], asJSON(f)) {
				t.Fatalf("%q in the batch: %v, want %v", id, got[id], f)
			}
		}
		if fmt.Sprint(doc["missing"]) != "[nobody {nobody}]" {
			t.Errorf("missing %v", doc["missing"])
		}
	})

	t.Run("stats", func(t *testing.T) {
		code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/stats", "", "", nil)
		if code != 200 {
			t.Fatalf("%d %v", code, doc)
		}
		want := countByHand(customers)
		if doc["population"] != float64(len(customers)) {
			t.Errorf("population %v, want %d (every master's customers)", doc["population"], len(customers))
		}
		for _, part := range []string{"tiers", "segments"} {
			got := map[string]int{}
			for k, v := range doc[part].(map[string]any) {
				if v.(float64) != 0 {
					got[k] = int(v.(float64))
				}
			}
			if !reflect.DeepEqual(got, want[part]) {
				t.Errorf("%s %v, want %v", part, got, want[part])
			}
		}
		got := map[string]int{}
		for _, b := range doc["ltv_histogram"].([]any) {
			b := b.(map[string]any)
			got[fmt.Sprint(b["from"])] = int(b["customers"].(float64))
		}
		for from, n := range want["bands"] {
			if got[from] != n {
				t.Errorf("band from %s: %d customers, want %d (histogram %v)", from, got[from], n, got)
			}
		}
		gotCohorts := map[string]string{}
		for _, c := range doc["cohorts"].([]any) {
			c := c.(map[string]any)
			gotCohorts[fmt.Sprint(c["cohort"], "/", c["channel"])] = fmt.Sprint(c["customers"], " ", c["revenue"])
		}
		if wantCohorts := cohortsByHand(customers); !reflect.DeepEqual(gotCohorts, wantCohorts) {
			t.Errorf("cohorts (customers, revenue)\n got %v\nwant %v", gotCohorts, wantCohorts)
		}
	})

	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/healthz", "", "", nil); code != 200 {
		t.Errorf("healthz: %d %v", code, doc)
	}
}

// newClusterServer serves the API, with statistics, over client.
func newClusterServer(t *testing.T, client redis.UniversalClient) *httptest.Server {
	t.Helper()
	s, err := api.New(api.Config{Redis: client, Stats: statsProvider(t, client)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs
}

// countByHand counts customers per tier, per segment and per default LTV
// band (lower edge as /v1/stats writes it), from the fields written.
func countByHand(customers map[string]map[string]string) map[string]map[string]int {
	edges := []string{"0.00", "500.00", "1000.00", "2500.00", "5000.00", "10000.00", "20000.00", "40000.00"}
	out := map[string]map[string]int{"tiers": {}, "segments": {}, "bands": {}}
	for _, f := range customers {
		out["tiers"][f["tier"]]++
		out["segments"][f["segment"]]++
		ltv := decimal.RequireFromString(f["ltv"])
		band := edges[0]
		for _, e := range edges {
			if ltv.GreaterThanOrEqual(decimal.RequireFromString(e)) {
				band = e
			}
		}
		out["bands"][band]++
	}
	return out
}

// cohortsByHand is "YYYY-MM/channel" → "customers revenue" from the
// fields written.
func cohortsByHand(customers map[string]map[string]string) map[string]string {
	n := map[string]int{}
	revenue := map[string]decimal.Decimal{}
	for _, f := range customers {
		k := f["first_order_at"][:7] + "/" + f["channel"]
		n[k]++
		revenue[k] = revenue[k].Add(decimal.RequireFromString(f["revenue"]))
	}
	out := map[string]string{}
	for k := range n {
		out[k] = fmt.Sprint(n[k], " ", revenue[k].StringFixed(2))
	}
	return out
}

// TestReadOnlyACLUserOnCluster runs the API on a Redis Cluster as the
// read-only user docs/read-api.md gives, with the cluster permissions it
// says to add, set on every node: every endpoint that reads Redis works.
func TestReadOnlyACLUserOnCluster(t *testing.T) {
	testutil.SkipShort(t, "starts a Redis Cluster")
	cluster := testutil.StartRedisCluster(t, 3)
	ctx := testutil.Context(t, time.Minute)
	customers := clusterPopulation(60)
	admin := cluster.Client()
	for id, f := range customers {
		args := []any{}
		for k, v := range f {
			args = append(args, k, v)
		}
		if err := admin.HSet(ctx, store.Key(id), args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var urls []string
	for _, n := range cluster.Nodes {
		if err := n.Client().Do(ctx, "ACL", "SETUSER", "ltv-api", "reset", "on", ">api-pw", "~ltv:*", "resetchannels",
			"+@read", "+@connection", "-@dangerous", "+cluster|slots", "+cluster|shards", "+cluster|nodes").Err(); err != nil {
			t.Fatal(err)
		}
		urls = append(urls, "redis://"+n.Addr())
	}
	client, err := store.NewClient(store.Config{URL: strings.Join(urls, ","), Username: "ltv-api", Password: "api-pw", ContextDeadlines: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if err := client.HSet(ctx, store.Key("c-00001"), "tier", "platinum").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the ACL user could write: %v", err)
	}
	hs := newClusterServer(t, client)
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/"+url.PathEscape("a/b"), "", "", nil); code != 200 || !reflect.DeepEqual(doc, asJSON(customers["a/b"])) {
		t.Errorf("get: %d %v", code, doc)
	}
	if code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "", `{"ids":["c-00001","{tag}","nobody"]}`, nil); code != 200 || len(doc["customers"].(map[string]any)) != 2 {
		t.Errorf("batchGet: %d %v", code, doc)
	}
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/stats", "", "", nil); code != 200 || doc["population"] != float64(len(customers)) {
		t.Errorf("stats: %d %v, want population %d", code, doc, len(customers))
	}
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/healthz", "", "", nil); code != 200 {
		t.Errorf("healthz: %d %v", code, doc)
	}
}
