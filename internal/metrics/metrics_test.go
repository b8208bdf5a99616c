package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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

	m.now = func() time.Time { return time.Unix(1_800_000_100, 0) }
	m.BatchProcessed(pipeline.BatchStats{Records: 10, Applied: 7, Duplicates: 1, Redelivered: 1, DeadLetters: 1,
		Duration: time.Millisecond, Latencies: []time.Duration{5 * time.Millisecond},
		StreamTimes: map[int32]time.Time{2: time.Unix(1_800_000_000, 500_000_000)}})
	m.TierChanged("silver", "gold", true)
	m.Lag("orders", 3, 42)
	m.BatchFailed()
	m.BatchFailed()
	h.Set("kafka", errors.New("no leader"))
	_, body := get("/metrics")
	for _, want := range []string{
		`ltv_stream_time_seconds{partition="2"} 1.8000000005e+09`, `ltv_stream_time_lag_seconds{partition="2"} 99.5`,
		"ltv_batch_failures_total 2", `ltv_dependency_up{dependency="redis"} 1`, `ltv_dependency_up{dependency="kafka"} 0`,
		"ltv_events_consumed_total 10", "ltv_events_applied_total 7",
		`ltv_events_duplicate_total{kind="event_id"} 1`, `ltv_events_duplicate_total{kind="redelivery"} 1`,
		"ltv_events_dead_lettered_total 1", `ltv_tier_changes_total{direction="up",tier="gold"} 1`,
		`ltv_consumer_lag{partition="3",topic="orders"} 42`, "ltv_event_latency_seconds_count 1",
		"ltv_batch_duration_seconds_count 1", "ltv_ready 0",
		// The runtime's estimate of the collector's CPU, beside its total.
		"go_cpu_classes_gc_total_cpu_seconds_total ", "go_cpu_classes_total_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Once the partitions move to another member, their figures are not
	// reported from here any more.
	m.Revoked("orders", 3)
	m.Revoked("orders", 2)
	_, body = get("/metrics")
	for _, gone := range []string{`ltv_consumer_lag{partition="3"`, `ltv_stream_time_seconds{partition="2"}`, `ltv_stream_time_lag_seconds{partition="2"}`} {
		if strings.Contains(body, gone) {
			t.Errorf("/metrics still reports %q after the partition was revoked", gone)
		}
	}
}

// probe is a check whose outcome the test sets: ok, an error, or hanging
// until its context ends. It counts its calls.
type probe struct {
	calls atomic.Int32
	mu    sync.Mutex
	err   error
	hang  bool
}

func (p *probe) set(err error, hang bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err, p.hang = err, hang
}

func (p *probe) check(ctx context.Context) error {
	p.calls.Add(1)
	p.mu.Lock()
	err, hang := p.err, p.hang
	p.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// runHealth starts h.Run; cancel ends its context (at the latest when the
// test ends) and returned reports whether Run has returned.
func runHealth(t *testing.T, h *Health) (cancel context.CancelFunc, returned func() bool) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan struct{})
	go func() {
		h.Run(ctx)
		close(done)
	}()
	return cancel, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// TestHealthRun runs Health.Run itself in a synctest bubble: its ticker
// and probe timeouts run on the bubble's fake clock, which moves only
// when every goroutine of the bubble waits, so each step below sees
// exactly the probes due by then. The checks run at once and then once
// per interval; a failing check makes /readyz answer 503 with its error
// until a later probe passes; a hanging check fails with a timeout after
// one interval; Run returns when its context ends, also in the middle of
// a probe, without recording the cancellation as a failure.
func TestHealthRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 5 * time.Second
		var redisP, kafkaP probe
		m := New()
		h := NewHealth(m, every, Check{Name: "redis", Fn: redisP.check}, Check{Name: "kafka", Fn: kafkaP.check})
		mux := h.Mux(m)
		get := func(path string) (int, string) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			return rec.Code, rec.Body.String()
		}
		readyz := func() (int, map[string]string) {
			code, body := get("/readyz")
			var doc struct {
				Ready  bool              `json:"ready"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("/readyz body %q: %v", body, err)
			}
			if doc.Ready != (code == 200) {
				t.Fatalf("/readyz = %d with ready %v", code, doc.Ready)
			}
			return code, doc.Checks
		}
		wantCalls := func(when string, n int32) {
			t.Helper()
			if r, k := redisP.calls.Load(), kafkaP.calls.Load(); r != n || k != n {
				t.Fatalf("%s: checks ran %d (redis) and %d (kafka) times, want %d each", when, r, k, n)
			}
		}
		wantReady := func(when string, wantCode int, wantKafka string) {
			t.Helper()
			code, checks := readyz()
			if code != wantCode || checks["redis"] != "ok" || checks["kafka"] != wantKafka {
				t.Fatalf("%s: /readyz = %d %v, want %d with redis ok and kafka %q", when, code, checks, wantCode, wantKafka)
			}
			gauge := "ltv_ready 0"
			if wantCode == 200 {
				gauge = "ltv_ready 1"
			}
			if _, body := get("/metrics"); !strings.Contains(body, gauge+"\n") {
				t.Fatalf("%s: /metrics lacks %q", when, gauge)
			}
		}
		// advance moves the fake clock by d and lets every goroutine of the
		// bubble run until it waits again.
		advance := func(d time.Duration) {
			time.Sleep(d)
			synctest.Wait()
		}

		if code, checks := readyz(); code != 503 || checks["kafka"] != "not checked yet" {
			t.Fatalf("before Run: /readyz = %d %v", code, checks)
		}
		cancel, returned := runHealth(t, h)
		synctest.Wait()
		wantCalls("at start", 1)
		wantReady("at start", 200, "ok")

		advance(every - time.Millisecond)
		wantCalls("just before the interval", 1)
		advance(time.Millisecond)
		wantCalls("after one interval", 2)
		advance(3 * every)
		wantCalls("after four intervals", 5)

		kafkaP.set(errors.New("kafka: dial tcp 127.0.0.1:9092: connection refused"), false)
		advance(every - time.Millisecond)
		wantReady("failing, not probed yet", 200, "ok")
		advance(time.Millisecond)
		wantCalls("after five intervals", 6)
		wantReady("failing", 503, "kafka: dial tcp 127.0.0.1:9092: connection refused")
		advance(every)
		wantReady("still failing", 503, "kafka: dial tcp 127.0.0.1:9092: connection refused")

		kafkaP.set(nil, false)
		advance(every)
		wantCalls("after seven intervals", 8)
		wantReady("recovered", 200, "ok")

		// A probe that hangs is cut off after one interval and counts as
		// failed; the next round starts at once (its tick is due).
		kafkaP.set(nil, true)
		advance(every)
		wantCalls("hanging probe started", 9)
		wantReady("while the probe hangs", 200, "ok")
		advance(every)
		wantReady("after the probe timed out", 503, context.DeadlineExceeded.Error())
		wantCalls("next round's probe hangs", 10)

		// The context ends while a probe is in flight: Run returns at once
		// and does not report the cancellation as the check's result.
		cancel()
		synctest.Wait()
		if !returned() {
			t.Fatal("Run still running after its context ended")
		}
		wantReady("after Run returned", 503, context.DeadlineExceeded.Error())
		advance(10 * every)
		wantCalls("long after Run returned", 10)
	})
}

// Run returns when its context ends between two rounds, too.
func TestHealthRunStopsBetweenRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p probe
		h := NewHealth(nil, time.Minute, Check{Name: "redis", Fn: p.check})
		cancel, returned := runHealth(t, h)
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if n := p.calls.Load(); n != 2 {
			t.Fatalf("checks ran %d times in 90 s at a 1 min interval, want 2", n)
		}
		cancel()
		synctest.Wait()
		if !returned() {
			t.Fatal("Run still waiting for its ticker after its context ended")
		}
		if ok, _ := h.Ready(); !ok {
			t.Fatal("not ready although every probe passed")
		}
	})
}
