package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
)

func TestReadinessAndMetrics(t *testing.T) {
	m := New()
	redisErr := errors.New("connection refused")
	h := NewHealth(m, 10*time.Millisecond, Check{Name: "redis", Fn: func(context.Context) error { return redisErr }})
	srv := httptest.NewServer(h.Mux(m))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "not checked yet") {
		t.Fatalf("/readyz before probes = %d %s", code, body)
	}
	h.Set("redis", redisErr)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Fatalf("/readyz with redis down = %d %s", code, body)
	}
	h.Set("redis", nil)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz when all ok = %d", code)
	}

	m.BatchProcessed(pipeline.BatchStats{Records: 10, Applied: 7, Duplicates: 1, Redelivered: 1, DeadLetters: 1,
		Duration: time.Millisecond, Latencies: []time.Duration{5 * time.Millisecond}})
	m.TierChanged("silver", "gold", true)
	m.Lag("orders", 3, 42)
	_, body := get("/metrics")
	for _, want := range []string{
		"ltv_events_consumed_total 10", "ltv_events_applied_total 7",
		`ltv_events_duplicate_total{kind="event_id"} 1`, `ltv_events_duplicate_total{kind="redelivery"} 1`,
		"ltv_events_dead_lettered_total 1", `ltv_tier_changes_total{direction="up",tier="gold"} 1`,
		`ltv_consumer_lag{partition="3",topic="orders"} 42`, "ltv_event_latency_seconds_count 1",
		"ltv_batch_duration_seconds_count 1", "ltv_ready 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
