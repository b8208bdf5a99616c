package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// jsonDecoder is a deliberately simple decoder for these tests; the real
// one (internal/decode) has its own tests.
type jsonDecoder struct{}

func (jsonDecoder) DecodeRecord(_, b []byte, _ time.Time) (aggregate.Event, error) {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return aggregate.Event{}, fmt.Errorf("invalid JSON: %w", err)
	}
	kind, ok := aggregate.ParseKind(m["type"])
	if !ok {
		return aggregate.Event{}, fmt.Errorf("unknown type %q", m["type"])
	}
	at, err := time.Parse(time.RFC3339, m["occurred_at"])
	if err != nil {
		return aggregate.Event{}, err
	}
	ev := aggregate.Event{Kind: kind, EventID: m["event_id"], CustomerID: m["customer_id"], OccurredAt: at.UTC()}
	if kind.IsOrder() {
		if ev.Amount, err = money.ParseExact(m["amount"]); err != nil {
			return aggregate.Event{}, err
		}
	}
	return ev, nil
}

// recordingPublisher keeps what was published and can be told to fail.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []pipeline.Message
	fail error
	// attempts holds every call's messages, the failed ones included.
	attempts [][]pipeline.Message
}

func (p *recordingPublisher) Publish(_ context.Context, msgs []pipeline.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts = append(p.attempts, msgs)
	if p.fail != nil {
		return p.fail
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *recordingPublisher) topic(name string) []pipeline.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []pipeline.Message
	for _, m := range p.msgs {
		if m.Topic == name {
			out = append(out, m)
		}
	}
	return out
}

// manualClock is a wall clock that moves only when the test says so.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setup(t *testing.T) (*pipeline.Processor, *recordingPublisher, *redis.Client) {
	t.Helper()
	return setupClock(t, nil)
}

// setupClock is setup with the processor's wall clock injected (nil:
// time.Now).
func setupClock(t *testing.T, now func() time.Time) (*pipeline.Processor, *recordingPublisher, *redis.Client) {
	t.Helper()
	return setupConfig(t, func(c *pipeline.Config) { c.Now = now })
}

// setupConfig is setup with the configuration adjusted by adjust.
func setupConfig(t *testing.T, adjust func(*pipeline.Config)) (*pipeline.Processor, *recordingPublisher, *redis.Client) {
	t.Helper()
	p, pub, rc, err := newProcessor(t, adjust)
	if err != nil {
		t.Fatal(err)
	}
	return p, pub, rc
}

// newProcessor is setupConfig returning pipeline.New's error, for the
// tests of configurations New must refuse. The store on a fresh
// redis-server is both the processor's store and its timer index.
func newProcessor(t *testing.T, adjust func(*pipeline.Config)) (*pipeline.Processor, *recordingPublisher, *redis.Client, error) {
	t.Helper()
	srv := testutil.StartRedis(t)
	st := srv.Store()
	pub := &recordingPublisher{}
	cfg := pipeline.Config{Model: aggregate.DefaultModel(), Decoder: jsonDecoder{}, Store: st, Out: pub, Timers: st}
	adjust(&cfg)
	p, err := pipeline.New(cfg)
	return p, pub, srv.Client(), err
}

func orderRec(offset int64, id, customer, amount, at string) pipeline.Record {
	v := fmt.Sprintf(`{"event_id":%q,"type":"order_placed","customer_id":%q,"amount":%q,"occurred_at":%q}`, id, customer, amount, at)
	return pipeline.Record{Topic: "orders", Partition: 0, Offset: offset, Key: []byte(customer), Value: []byte(v)}
}

func ctxT(t *testing.T) context.Context { return testutil.Context(t, 20*time.Second) }

func TestProcessAppliesPublishesAndDeadLetters(t *testing.T) {
	p, pub, rc := setup(t)
	batch := []pipeline.Record{
		orderRec(0, "e1", "c-1", "300.00", "2026-01-01T00:00:00Z"),
		{Topic: "orders", Partition: 0, Offset: 1, Key: []byte("c-x"), Value: []byte(`{not json`)},
		orderRec(2, "e1", "c-1", "300.00", "2026-01-01T00:00:00Z"), // producer duplicate
		orderRec(3, "e2", "c-1", "100.00", "2026-02-01T00:00:00Z"),
	}
	stats, err := p.Process(ctxT(t), batch)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Applied != 2 || stats.Duplicates != 1 || stats.DeadLetters != 1 || stats.Changes != 2 {
		t.Fatalf("stats = %+v", stats)
	}
	// margin 1, one-year window => ltv = 3 × revenue: 900 (bronze), then
	// 1200 (silver).
	changes := pub.topic("ltv-changes")
	if len(changes) != 2 || !strings.Contains(string(changes[0].Value), `"previous_tier":"","tier":"bronze"`) ||
		!strings.Contains(string(changes[1].Value), `"previous_tier":"bronze","tier":"silver"`) {
		t.Fatalf("changes = %q", changes)
	}
	dlq := pub.topic("ltv-dlq")
	if len(dlq) != 1 || string(dlq[0].Value) != "{not json" || string(dlq[0].Key) != "c-x" {
		t.Fatalf("dlq = %+v", dlq)
	}
	hdr := map[string]string{}
	for _, h := range dlq[0].Headers {
		hdr[h.Key] = string(h.Value)
	}
	if hdr["topic"] != "orders" || hdr["partition"] != "0" || hdr["offset"] != "1" || !strings.Contains(hdr["error"], "invalid JSON") {
		t.Fatalf("dlq headers = %v", hdr)
	}
	if got := rc.HGet(ctxT(t), "ltv:{c-1}", "ltv").Val(); got != "1200.00" {
		t.Fatalf("ltv = %s", got)
	}
	if rc.Exists(ctxT(t), "ltv:{c-1}:pending").Val() != 0 {
		t.Fatal("pending not cleared after a successful publish")
	}
	// Replaying the same batch (a redelivery) changes nothing and publishes
	// only the dead letter again (DLQ is at-least-once too).
	stats, err = p.Process(ctxT(t), batch)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Applied != 0 || stats.Redelivered != 3 || stats.Changes != 0 {
		t.Fatalf("replay stats = %+v", stats)
	}
}

func TestPublishFailureKeepsChangesPendingAndReemitsSameBytes(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	p, pub, rc := setupClock(t, clock.Now)
	batch := []pipeline.Record{orderRec(0, "e1", "c-2", "6000.00", "2026-01-01T00:00:00Z")}
	pub.fail = errors.New("broker down")
	if _, err := p.Process(ctxT(t), batch); err == nil {
		t.Fatal("publish failure not reported")
	}
	// The state was written (with the change pending), as after a crash
	// between the Redis write and the Kafka produce.
	if rc.Exists(ctxT(t), "ltv:{c-2}:pending").Val() != 1 {
		t.Fatal("no pending change stored")
	}
	pending := rc.Get(ctxT(t), "ltv:{c-2}:pending").Val()
	pub.fail = nil
	// A later wall clock (whole seconds, whatever precision the documents
	// use) must not change the re-emitted bytes.
	clock.Advance(time.Hour + time.Second + time.Millisecond)
	stats, err := p.Process(ctxT(t), batch)
	if err != nil {
		t.Fatal(err)
	}
	// Pending: the tier change (→ platinum) and the segment change (→ new).
	if stats.Redelivered != 1 || stats.Reemitted != 2 || stats.Changes != 0 || stats.SegmentChanges != 0 {
		t.Fatalf("stats = %+v", stats)
	}
	tierDoc, segmentDoc, _ := strings.Cut(pending, "\n")
	changes, segments := pub.topic("ltv-changes"), pub.topic("ltv-segments")
	if len(changes) != 1 || string(changes[0].Value) != tierDoc {
		t.Fatalf("re-emitted %q, want the stored bytes %q", changes, tierDoc)
	}
	if len(segments) != 1 || string(segments[0].Value) != segmentDoc || !strings.Contains(segmentDoc, `"segment":"new"`) {
		t.Fatalf("re-emitted segment changes %q, want the stored bytes %q", segments, segmentDoc)
	}
	if rc.Exists(ctxT(t), "ltv:{c-2}:pending").Val() != 0 {
		t.Fatal("pending not cleared after re-emission")
	}
}

func TestPendingCarriedIntoNextWrite(t *testing.T) {
	p, pub, _ := setup(t)
	pub.fail = errors.New("broker down")
	_, _ = p.Process(ctxT(t), []pipeline.Record{orderRec(0, "e1", "c-3", "200.00", "2026-01-01T00:00:00Z")})
	pub.fail = nil
	// A different, later record of the same customer: the old pending
	// change must be published before the new one, in chain order.
	if _, err := p.Process(ctxT(t), []pipeline.Record{orderRec(1, "e2", "c-3", "200.00", "2026-01-02T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	changes := pub.topic("ltv-changes")
	if len(changes) != 2 || !strings.Contains(string(changes[0].Value), `"tier":"bronze"`) ||
		!strings.Contains(string(changes[1].Value), `"previous_tier":"bronze","tier":"silver"`) {
		t.Fatalf("changes = %q", changes)
	}
}

// When publishing fails again, the write stores the events found pending
// and the new ones after them: nothing is lost however often it fails.
func TestPendingKeepsReemittedAndNewEventsWhenPublishingFailsAgain(t *testing.T) {
	p, pub, rc := setup(t)
	pub.fail = errors.New("broker down")
	_, _ = p.Process(ctxT(t), []pipeline.Record{orderRec(0, "e1", "c-3", "200.00", "2026-01-01T00:00:00Z")})
	first := rc.Get(ctxT(t), "ltv:{c-3}:pending").Val()
	if !strings.Contains(first, `"tier":"bronze"`) {
		t.Fatalf("pending after the first failure: %q", first)
	}
	_, _ = p.Process(ctxT(t), []pipeline.Record{orderRec(1, "e2", "c-3", "200.00", "2026-01-02T00:00:00Z")})
	second := rc.Get(ctxT(t), "ltv:{c-3}:pending").Val()
	rest, ok := strings.CutPrefix(second, first+"\n")
	if !ok || !strings.Contains(rest, `"previous_tier":"bronze","tier":"silver"`) {
		t.Fatalf("pending after the second failure:\n%s\nwant the first's events, then the silver change", second)
	}
	pub.fail = nil
	if _, err := p.Process(ctxT(t), []pipeline.Record{orderRec(1, "e2", "c-3", "200.00", "2026-01-02T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if changes := pub.topic("ltv-changes"); len(changes) != 2 || !strings.Contains(string(changes[1].Value), `"tier":"silver"`) {
		t.Fatalf("changes = %q", changes)
	}
}

func TestUnreadableStateGoesToDLQ(t *testing.T) {
	p, pub, rc := setup(t)
	rc.HSet(ctxT(t), "ltv:{c-4}", "orders", "NaN")
	if _, err := p.Process(ctxT(t), []pipeline.Record{orderRec(7, "e1", "c-4", "1.00", "2026-01-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	dlq := pub.topic("ltv-dlq")
	if len(dlq) != 1 {
		t.Fatalf("dlq = %v", dlq)
	}
	if got := rc.HGet(ctxT(t), "ltv:{c-4}", "orders").Val(); got != "NaN" {
		t.Fatalf("corrupt state was overwritten: %q", got)
	}
}

// TestForeignKeyTypeGoesToDLQ: a customer whose key holds something other
// than a hash (another program wrote ltv:{<id>}, or its pending key) is as
// unreadable as a hash that cannot be parsed. Its events go to the DLQ
// with a reason naming the key, the key is left as it is, and the other
// customers of the batch are applied: the partition moves on instead of
// retrying the batch for ever (SPEC §2, §6).
func TestForeignKeyTypeGoesToDLQ(t *testing.T) {
	cases := []struct {
		name    string
		plant   func(t *testing.T, p *pipeline.Processor, pub *recordingPublisher, rc *redis.Client) error
		reason  string
		unmoved func(rc *redis.Client) (string, error)
	}{
		{"state key is a string",
			func(t *testing.T, _ *pipeline.Processor, _ *recordingPublisher, rc *redis.Client) error {
				return rc.Set(ctxT(t), "ltv:{c-5}", "foreign", 0).Err()
			},
			"key ltv:{c-5} is not a hash (WRONGTYPE)",
			func(rc *redis.Client) (string, error) { return rc.Get(ctxT(t), "ltv:{c-5}").Result() }},
		{"state key is a list",
			func(t *testing.T, _ *pipeline.Processor, _ *recordingPublisher, rc *redis.Client) error {
				return rc.RPush(ctxT(t), "ltv:{c-5}", "foreign").Err()
			},
			"key ltv:{c-5} is not a hash (WRONGTYPE)",
			func(rc *redis.Client) (string, error) { return rc.LIndex(ctxT(t), "ltv:{c-5}", 0).Result() }},
		{"pending key is a hash",
			// c-5's first events are written but their publication fails,
			// so its hash flags a pending key; then a foreign hash takes
			// that key's name.
			func(t *testing.T, p *pipeline.Processor, pub *recordingPublisher, rc *redis.Client) error {
				pub.fail = errors.New("broker down")
				_, _ = p.Process(ctxT(t), []pipeline.Record{orderRec(0, "e0", "c-5", "1.00", "2025-12-01T00:00:00Z")})
				pub.fail = nil
				pub.msgs = nil
				if rc.HGet(ctxT(t), "ltv:{c-5}", "_p").Val() == "" {
					return errors.New("no pending flag after the failed publication")
				}
				if err := rc.Del(ctxT(t), "ltv:{c-5}:pending").Err(); err != nil {
					return err
				}
				return rc.HSet(ctxT(t), "ltv:{c-5}:pending", "f", "foreign").Err()
			},
			"key ltv:{c-5}:pending is not a string (WRONGTYPE)",
			func(rc *redis.Client) (string, error) { return rc.HGet(ctxT(t), "ltv:{c-5}:pending", "f").Result() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, pub, rc := setup(t)
			if err := tc.plant(t, p, pub, rc); err != nil {
				t.Fatal(err)
			}
			batch := []pipeline.Record{
				orderRec(10, "e1", "c-5", "1.00", "2026-01-01T00:00:00Z"),
				orderRec(11, "e2", "c-6", "2.00", "2026-01-01T00:00:00Z"),
				orderRec(12, "e3", "c-5", "3.00", "2026-01-02T00:00:00Z"),
			}
			stats, err := p.Process(ctxT(t), batch)
			if err != nil {
				t.Fatalf("the batch failed (a retry fails the same way, for ever): %v", err)
			}
			if stats.DeadLetters != 2 || stats.Applied != 1 {
				t.Errorf("stats = %+v, want 2 dead letters and 1 applied", stats)
			}
			dlq := pub.topic("ltv-dlq")
			if len(dlq) != 2 {
				t.Fatalf("dlq = %v, want c-5's two records", dlq)
			}
			for i, m := range dlq {
				if string(m.Key) != "c-5" || string(m.Value) != string(batch[2*i].Value) {
					t.Errorf("dead letter %d: key %q value %q, want the original record", i, m.Key, m.Value)
				}
				if reason := headerOf(m, pipeline.HeaderError); !strings.Contains(reason, tc.reason) {
					t.Errorf("dead letter %d: error %q, want it to contain %q", i, reason, tc.reason)
				}
			}
			if got, err := tc.unmoved(rc); err != nil || got != "foreign" {
				t.Errorf("the foreign key was changed: %q, %v", got, err)
			}
			if got := rc.HGet(ctxT(t), "ltv:{c-6}", "revenue").Val(); got != "2.00" {
				t.Errorf("c-6 revenue %q, want 2.00: the other customer of the batch was not applied", got)
			}
		})
	}
}

// headerOf is the value of a message's header key ("" when absent).
func headerOf(m pipeline.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// A customer's change documents share one buffer; documents longer than
// the room each gets (a long customer id) still come out whole and
// separate, every one a document of its own customer in order.
func TestLongDocumentsOfOneCustomerStaySeparate(t *testing.T) {
	for _, idLen := range []int{4, 300, 2000} {
		p, pub, _ := setup(t)
		id := "c-" + strings.Repeat("x", idLen)
		batch := []pipeline.Record{
			orderRec(0, "e1", id, "300.00", "2026-01-01T00:00:00Z"),
			orderRec(1, "e2", id, "100.00", "2026-02-01T00:00:00Z"),
			orderRec(2, "e3", id, "5000.00", "2026-03-01T00:00:00Z"),
		}
		if _, err := p.Process(ctxT(t), batch); err != nil {
			t.Fatal(err)
		}
		var tiers []string
		for _, m := range append(pub.topic("ltv-changes"), pub.topic("ltv-segments")...) {
			var doc map[string]any
			if err := json.Unmarshal(m.Value, &doc); err != nil {
				t.Fatalf("id of %d bytes: %v in %q", idLen, err, m.Value)
			}
			if doc["customer_id"] != id || string(m.Key) != id {
				t.Fatalf("id of %d bytes: a document of another customer: %q", idLen, m.Value)
			}
			if tier, ok := doc["tier"].(string); ok && m.Topic == "ltv-changes" {
				tiers = append(tiers, tier)
			}
		}
		if strings.Join(tiers, ",") != "bronze,silver,gold" || len(pub.topic("ltv-segments")) == 0 {
			t.Fatalf("id of %d bytes: tiers %v, %d segment changes", idLen, tiers, len(pub.topic("ltv-segments")))
		}
	}
}
