package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestGetOnRedisClusterPrintsWhatTheAPIAnswers: with a comma-separated
// LTV_REDIS_URL (Redis Cluster), get reads customers on every master, ids
// that need escaping in a URL included, and prints for each exactly the
// bytes GET /v1/customers/{id} answers over the same cluster; an unknown
// id is null and exit 1.
func TestGetOnRedisClusterPrintsWhatTheAPIAnswers(t *testing.T) {
	testutil.SkipShort(t, "starts a Redis Cluster")
	cluster := testutil.StartRedisCluster(t, 3)
	client, err := store.NewClient(store.Config{URL: cluster.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	ctx := testutil.Context(t, time.Minute)
	ids := []string{"a b", "a/b", "100%", "{tag}", "x{y}z", "åäö", "c-1", "c-2", "c-3", "c-4", "c-5", "c-6", "c-7", "c-8"}
	for i, id := range ids {
		if err := client.HSet(ctx, store.Key(id), "orders", i+1, "revenue", "12.50", "ltv", "37.50", "tier", "bronze",
			"channel", `e"mail <b>`, "churned", "0", "first_order_at", "2026-03-01T12:00:00Z", "_g", "\x00x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	nodes := 0
	for _, n := range cluster.Nodes {
		if n.Client().DBSize(ctx).Val() > 0 {
			nodes++
		}
	}
	if nodes < 2 {
		t.Fatalf("the customers are on %d node(s): the test needs them spread", nodes)
	}
	srv, err := api.New(api.Config{Redis: client})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	env := map[string]string{"LTV_REDIS_URL": cluster.URL()}
	code, out, errOut := ltvctl(t, env, append(append([]string{"get"}, ids...), "nobody")...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 1 || len(lines) != len(ids)+1 || lines[len(ids)] != "null" || !strings.Contains(errOut, `"nobody"`) {
		t.Fatalf("get: exit %d, %d lines, stderr %q\n%s", code, len(lines), errOut, out)
	}
	for i, id := range ids {
		res, err := http.Get(hs.URL + "/v1/customers/" + url.PathEscape(id))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.TrimSuffix(string(body), "\n") != lines[i] {
			t.Errorf("%q: get printed\n %s\nthe API answered %d\n %s", id, lines[i], res.StatusCode, body)
		}
	}
}
