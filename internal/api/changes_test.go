package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// statsProvider is the stats Provider over a client, closed at cleanup.
func statsProvider(t *testing.T, c redis.UniversalClient) *stats.Provider {
	t.Helper()
	p, err := stats.NewProvider(stats.Config{Source: store.NewRedis(c, store.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// tierChange and segmentChange are events as the updater publishes them.
func tierChange(id, customer, from, to, emitted string) string {
	return fmt.Sprintf(`{"schema":"ltv.change.v1","event_id":%q,"customer_id":%q,"previous_tier":%q,"tier":%q,"direction":"up","ltv":"1200.00","previous_ltv":"900.00","aov":"400.00","frequency":"3.0000","orders":3,"churned":false,"caused_by":"e-%s","occurred_at":"2026-05-01T00:00:00Z","emitted_at":%q}`,
		id, customer, from, to, id, emitted)
}

func segmentChange(id, customer, from, to, emitted string) string {
	return fmt.Sprintf(`{"schema":"ltv.segment.v1","event_id":%q,"customer_id":%q,"previous_segment":%q,"segment":%q,"last_order_at":"2026-01-01T00:00:00Z","orders":3,"ltv":"1200.00","tier":"silver","caused_by":"timer:2026-04-01T00:00:00Z","occurred_at":"2026-04-01T00:00:00Z","emitted_at":%q}`,
		id, customer, from, to, emitted)
}

// produce writes values to a topic, keyed by a customer so they spread
// over the partitions.
func produce(t *testing.T, brokers []string, topic string, values ...string) {
	t.Helper()
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var msgs []kafka.Message
	for i, v := range values {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint("k", i)), Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stream.WriteAll(ctx, w, msgs); err != nil {
		t.Fatal(err)
	}
}

func changeIDs(doc map[string]any) []string {
	var ids []string
	for _, c := range doc["changes"].([]any) {
		ids = append(ids, c.(map[string]any)["event_id"].(string))
	}
	return ids
}

// TestRecentChanges: events of both output topics, merged newest first by
// emitted_at, a re-emitted copy once, records that are not change events
// left out; then the cache, and the limit's bounds.
func TestRecentChanges(t *testing.T) {
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 3, Topics: []string{"ltv-changes", "ltv-segments"}})
	produce(t, brokers, "ltv-changes",
		tierChange("t1", "c-1", "", "bronze", "2026-12-01T10:00:00Z"),
		tierChange("t2", "c-2", "bronze", "silver", "2026-12-01T10:00:02Z"),
		`not json at all`,
		`{"schema":"something.else.v1","event_id":"x"}`,
		tierChange("t3", "c-3", "silver", "gold", "2026-12-01T10:00:04.5Z"),
		tierChange("t2", "c-2", "bronze", "silver", "2026-12-01T10:00:02Z"), // a re-emission
	)
	produce(t, brokers, "ltv-segments",
		segmentChange("s1", "c-4", "active", "at_risk", "2026-12-01T10:00:01Z"),
		segmentChange("s2", "c-5", "at_risk", "lapsed", "2026-12-01T10:00:04Z"),
	)
	feed, err := api.NewFeed(api.FeedConfig{Client: stream.NewAdminClient(brokers, nil),
		Topics: []string{"ltv-changes", "ltv-segments"}, Depth: 10, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hs := newServer(t, api.Config{Changes: feed})
	cases := []struct {
		query  string
		code   int
		want   []string
		errHas string
	}{
		{"", 200, []string{"t3", "s2", "t2", "s1", "t1"}, ""},
		{"?limit=2", 200, []string{"t3", "s2"}, ""},
		{"?limit=10", 200, []string{"t3", "s2", "t2", "s1", "t1"}, ""},
		{"?limit=0", 400, nil, "from 1 to 10"},
		{"?limit=11", 400, nil, "from 1 to 10"},
		{"?limit=two", 400, nil, `limit "two"`},
	}
	for _, tc := range cases {
		code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/changes"+tc.query, "", "", nil)
		if code != tc.code {
			t.Fatalf("%s: status %d: %v", tc.query, code, doc)
		}
		if tc.errHas != "" {
			if !strings.Contains(fmt.Sprint(doc["error"]), tc.errHas) {
				t.Errorf("%s: error %v, want %q", tc.query, doc["error"], tc.errHas)
			}
			continue
		}
		if got := changeIDs(doc); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: changes %v, want %v", tc.query, got, tc.want)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(doc["read_at"])); err != nil {
			t.Errorf("read_at %v", doc["read_at"])
		}
	}
	// The events are passed through as published.
	_, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/changes?limit=1", "", "", nil)
	first := doc["changes"].([]any)[0].(map[string]any)
	if first["previous_tier"] != "silver" || first["tier"] != "gold" || first["orders"] != 3.0 || first["schema"] != "ltv.change.v1" {
		t.Errorf("event changed on the way: %v", first)
	}
	// A newer event is not read while the last read is fresh (MaxAge 1h).
	produce(t, brokers, "ltv-segments", segmentChange("s3", "c-6", "new", "active", "2026-12-01T10:00:09Z"))
	if _, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/changes?limit=1", "", "", nil); changeIDs(doc)[0] != "t3" {
		t.Errorf("the cached read was not served: %v", changeIDs(doc))
	}
	// A feed whose reads expire at once sees it.
	fresh, err := api.NewFeed(api.FeedConfig{Client: stream.NewAdminClient(brokers, nil),
		Topics: []string{"ltv-changes", "ltv-segments"}, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := fresh.Recent(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Events) != 2 || !strings.Contains(string(rc.Events[0]), `"event_id":"s3"`) {
		t.Errorf("fresh feed: %s", rc.Events)
	}
}

// TestRecentChangesWithoutKafka: an unreachable broker is a 503 naming
// the problem, and concurrent requests share the failed read.
func TestRecentChangesWithoutKafka(t *testing.T) {
	feed, err := api.NewFeed(api.FeedConfig{Client: stream.NewAdminClient([]string{"127.0.0.1:1"}, nil),
		Topics: []string{"ltv-changes"}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := newServer(t, api.Config{Changes: feed})
	code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/changes", "", "", nil)
	if code != 503 || !strings.Contains(fmt.Sprint(doc["error"]), "recent changes unavailable") {
		t.Fatalf("%d %v", code, doc)
	}
}

func TestNewFeedChecksItsConfig(t *testing.T) {
	if _, err := api.NewFeed(api.FeedConfig{Topics: []string{"x"}}); err == nil {
		t.Error("no error without a client")
	}
	if _, err := api.NewFeed(api.FeedConfig{Client: stream.NewAdminClient([]string{"x:1"}, nil)}); err == nil {
		t.Error("no error without topics")
	}
	if _, err := api.New(api.Config{}); err == nil {
		t.Error("no error without Redis")
	}
}
