package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// poisonOrder is a valid order of customer c-poison, with event id id.
func poisonOrder(id, amount, at string) []byte {
	return fmt.Appendf(nil, `{"schema":"ltv.order.v1","event_id":%q,"type":"order_placed","customer_id":"c-poison",`+
		`"order_id":"o-%s","amount":%q,"currency":"SEK","occurred_at":%q}`, id, id, amount, at)
}

// padded is a syntactically valid order of n bytes that breaks a rule:
// an event_id far longer than 256 bytes.
func padded(n int) []byte {
	head := `{"schema":"ltv.order.v1","type":"order_placed","customer_id":"c-poison","order_id":"o-big","amount":"1.00",` +
		`"currency":"SEK","occurred_at":"2026-01-01T00:00:00Z","event_id":"`
	return []byte(head + strings.Repeat("e", n-len(head)-2) + `"}`)
}

// deadLetter is one expected DLQ record.
type deadLetter struct {
	name   string
	key    []byte
	value  []byte
	reason string
}

// TestNoRecordStallsThePartition writes, to one partition of the orders
// topic (which accepts 4 MiB), records that must each be dead-lettered —
// a 2 MiB value, a 1,000,001-byte value (an event_id of a megabyte), a
// null value, an empty value, a missing key, an empty key, a key that is
// not the customer_id, an occurred_at years ahead — between valid orders of the
// same customer. Every record after them is applied within seconds, every
// rejected one reaches the DLQ whole (its topic accepts 4 MiB) with its
// null or empty value kept as it was, and the far-future record moves no
// state.
func TestNoRecordStallsThePartition(t *testing.T) {
	e := newEnv(t, 1)
	ctx := testutil.Context(t, 2*time.Minute)
	for _, topic := range []string{settings.DefaultOrdersTopic, settings.DefaultDLQTopic} {
		if err := testutil.SetTopicConfig(ctx, e.brokers, topic, "max.message.bytes", strconv.Itoa(4<<20)); err != nil {
			t.Fatal(err)
		}
	}
	key := []byte("c-poison")
	bad := []deadLetter{
		{"2 MiB", key, padded(2 << 20), "exceeds the 1048576-byte limit"},
		{"1,000,001 bytes", key, padded(1_000_001), `field "event_id" is longer than 256 bytes`},
		{"null value", key, nil, "null value (a tombstone)"},
		{"empty value", key, []byte{}, "empty value"},
		{"missing key", nil, poisonOrder("e-nokey", "5.00", "2026-01-02T00:00:00Z"), "record has no key"},
		{"empty key", []byte{}, poisonOrder("e-emptykey", "5.00", "2026-01-02T00:00:00Z"), "record key is empty"},
		{"wrong key", []byte("c-other"), poisonOrder("e-wrongkey", "5.00", "2026-01-02T00:00:00Z"), `record key "c-other" is not the event's customer_id "c-poison"`},
		{"far future", key, poisonOrder("e-future", "5.00", "2126-01-01T00:00:00Z"), "max_future_skew"},
	}
	msgs := []kafka.Message{{Topic: settings.DefaultOrdersTopic, Key: key, Value: poisonOrder("e-0", "10.00", "2026-01-01T00:00:00Z")}}
	for i, b := range bad {
		msgs = append(msgs,
			kafka.Message{Topic: settings.DefaultOrdersTopic, Key: b.key, Value: b.value},
			kafka.Message{Topic: settings.DefaultOrdersTopic, Key: key, Value: poisonOrder(fmt.Sprintf("e-%d", i+1), "10.00", fmt.Sprintf("2026-01-%02dT00:00:00Z", i+2))})
	}
	big := &kafka.Writer{Addr: kafka.TCP(e.brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		BatchBytes: 8 << 20, Balancer: &kafka.Hash{}}
	defer big.Close()
	for _, m := range msgs { // one by one: their order on the partition is the test
		if err := big.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	_, _ = inProcess(t, e)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("draining %d records around the poison took %s", len(msgs), took)
	}
	state, err := e.rc.HGetAll(ctx, "ltv:{c-poison}").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(len(bad) + 1); state["orders"] != want || state["revenue"] != fmt.Sprintf("%d.00", 10*(len(bad)+1)) {
		t.Errorf("orders %q revenue %q: want every valid order applied (%s)", state["orders"], state["revenue"], want)
	}
	if !strings.HasPrefix(state["last_order_at"], "2026-01-") {
		t.Errorf("last_order_at = %q: the far-future record moved state", state["last_order_at"])
	}
	// Nor stream time (SPEC §8): it is the latest valid event's, the last
	// order of January 8th, not 2126.
	if st, err := e.rc.Get(ctx, "ltv:{p0}:stream_time").Result(); err != nil || st != fmt.Sprintf("2026-01-%02dT00:00:00.000000000Z", len(bad)+1) {
		t.Errorf("stream time %q (%v): a rejected record moved it", st, err)
	}

	got, err := testutil.ReadExact(ctx, e.brokers, settings.DefaultDLQTopic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(got), len(bad))
	}
	for i, b := range bad {
		r := got[i]
		if (r.Value == nil) != (b.value == nil) || string(r.Value) != string(b.value) || (r.Key == nil) != (b.key == nil) || string(r.Key) != string(b.key) {
			t.Errorf("%s: DLQ copy key %q value of %d bytes (nil %v), want the original (%d bytes, nil %v)",
				b.name, r.Key, len(r.Value), r.Value == nil, len(b.value), b.value == nil)
		}
		if !strings.Contains(r.Headers["error"], b.reason) || r.Headers["topic"] != settings.DefaultOrdersTopic || r.Headers["partition"] != "0" ||
			r.Headers["offset"] != strconv.Itoa(2*i+1) || r.Headers["truncated"] != "" {
			t.Errorf("%s: headers %v, want error containing %q at %s/0/%d", b.name, r.Headers, b.reason, settings.DefaultOrdersTopic, 2*i+1)
		}
	}
}

// TestDeadLetterCutToTheDLQLimit: the DLQ topic accepts only 64 KiB. A
// 2 MiB rejected record arrives cut to fit, with the truncation headers
// and the source headers saying where the whole record is, and the valid
// record after it is applied.
func TestDeadLetterCutToTheDLQLimit(t *testing.T) {
	e := newEnv(t, 1)
	ctx := testutil.Context(t, 2*time.Minute)
	if err := testutil.SetTopicConfig(ctx, e.brokers, settings.DefaultOrdersTopic, "max.message.bytes", strconv.Itoa(4<<20)); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SetTopicConfig(ctx, e.brokers, settings.DefaultDLQTopic, "max.message.bytes", "65536"); err != nil {
		t.Fatal(err)
	}
	poison := padded(2 << 20)
	writePoisonAndCatchUp(ctx, t, e, poison)
	if n, err := e.rc.HGet(ctx, "ltv:{c-poison}", "orders").Result(); err != nil || n != "1" {
		t.Errorf("orders = %q (%v): the record after the poison was not applied", n, err)
	}
	r := onlyDeadLetter(ctx, t, e)
	sum := sha256.Sum256(poison)
	if len(r.Value) == 0 || len(r.Value) > 65536 || string(poison[:len(r.Value)]) != string(r.Value) || string(r.Key) != "c-poison" {
		t.Errorf("cut copy: key %q, value of %d bytes, want a prefix of the original within 64 KiB", r.Key, len(r.Value))
	}
	want := map[string]string{"truncated": "true", "original_size": strconv.Itoa(len(poison)),
		"original_sha256": hex.EncodeToString(sum[:]), "topic": settings.DefaultOrdersTopic, "partition": "0", "offset": "0"}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, r.Headers[k], v)
		}
	}
	if !strings.Contains(r.Headers["error"], "exceeds the 1048576-byte limit") {
		t.Errorf("error header %q", r.Headers["error"])
	}
}

// TestDeadLetterIsNotCutWhileTheDLQLimitIsUnread: the DLQ topic accepts
// 4 MiB, but the service's first reading of that limit fails (a broker
// still starting, a describe refused once). A 2 MiB rejected record then
// fits the DLQ, so SPEC §2 wants it there unchanged: the limit is read
// again before a dead letter is cut to the assumed 1,000,000 bytes, and the
// copy arrives whole, without truncation headers.
func TestDeadLetterIsNotCutWhileTheDLQLimitIsUnread(t *testing.T) {
	e := newEnv(t, 1)
	ctx := testutil.Context(t, 2*time.Minute)
	for _, topic := range []string{settings.DefaultOrdersTopic, settings.DefaultDLQTopic} {
		if err := testutil.SetTopicConfig(ctx, e.brokers, topic, "max.message.bytes", strconv.Itoa(4<<20)); err != nil {
			t.Fatal(err)
		}
	}
	// The first reading is refused for every topic asked about.
	var describes atomic.Int32
	testutil.RefuseDescribeConfigs(e.kafka, func() bool { return describes.Add(1) == 1 })
	poison := padded(2 << 20)
	writePoisonAndCatchUp(ctx, t, e, poison)
	if describes.Load() == 0 {
		t.Fatal("the service never read the topic limits")
	}
	r := onlyDeadLetter(ctx, t, e)
	if string(r.Value) != string(poison) || string(r.Key) != "c-poison" || r.Headers["truncated"] != "" || r.Headers["original_size"] != "" {
		t.Errorf("dead letter of %d bytes (headers %v), want the whole %d-byte value: the DLQ topic accepts it", len(r.Value), r.Headers, len(poison))
	}
}

// writePoisonAndCatchUp writes poison, then a valid order, as records of
// customer c-poison on the orders topic (whose max.message.bytes must take
// poison), runs the service and waits until it has caught up.
func writePoisonAndCatchUp(ctx context.Context, t *testing.T, e *env, poison []byte) {
	t.Helper()
	key := []byte("c-poison")
	big := &kafka.Writer{Addr: kafka.TCP(e.brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		BatchBytes: 8 << 20, Balancer: &kafka.Hash{}}
	defer big.Close()
	for _, m := range []kafka.Message{
		{Topic: settings.DefaultOrdersTopic, Key: key, Value: poison},
		{Topic: settings.DefaultOrdersTopic, Key: key, Value: poisonOrder("e-after", "10.00", "2026-01-02T00:00:00Z")},
	} {
		if err := big.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = inProcess(t, e)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
}

// onlyDeadLetter returns the one record of the DLQ topic's partition 0,
// failing the test when it holds another number.
func onlyDeadLetter(ctx context.Context, t *testing.T, e *env) testutil.ExactRecord {
	t.Helper()
	got, err := testutil.ReadExact(ctx, e.brokers, settings.DefaultDLQTopic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1", len(got))
	}
	return got[0]
}

// TestForeignKeyDoesNotStallThePartition: another program has written a
// string at the state key of customer c-foreign, ltv:{c-foreign}. Every
// load of that customer then fails in Redis (WRONGTYPE), however often it
// is tried, so its records must go to the DLQ, with a reason naming the
// key, like those of a customer whose hash cannot be parsed, and the
// records after them, of another customer on the same partition, must be
// applied: no single record may stall a partition (SPEC §2, §6). The
// foreign value is left as it is.
func TestForeignKeyDoesNotStallThePartition(t *testing.T) {
	e := newEnv(t, 1)
	ctx := testutil.Context(t, 2*time.Minute)
	if err := e.rc.Set(ctx, "ltv:{c-foreign}", "not ours", 0).Err(); err != nil {
		t.Fatal(err)
	}
	order := func(cust, id, amount, at string) kafka.Message {
		v := fmt.Sprintf(`{"schema":"ltv.order.v1","event_id":%q,"type":"order_placed","customer_id":%q,`+
			`"order_id":"o-%s","amount":%q,"currency":"SEK","occurred_at":%q}`, id, cust, id, amount, at)
		return kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte(cust), Value: []byte(v)}
	}
	msgs := []kafka.Message{
		order("c-foreign", "e-f1", "5.00", "2026-01-01T00:00:00Z"),
		order("c-ours", "e-o1", "10.00", "2026-01-01T00:00:00Z"),
		order("c-foreign", "e-f2", "6.00", "2026-01-02T00:00:00Z"),
		order("c-ours", "e-o2", "20.00", "2026-01-02T00:00:00Z"),
	}
	write(t, ctx, e.brokers, msgs)
	_, _ = inProcess(t, e)
	wait, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := testutil.WaitCaughtUp(wait, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("the partition did not move on past c-foreign's records: %v", err)
	}
	if got, err := e.rc.HGet(ctx, "ltv:{c-ours}", "revenue").Result(); err != nil || got != "30.00" {
		t.Errorf("c-ours revenue %q (%v), want 30.00", got, err)
	}
	if got, err := e.rc.Get(ctx, "ltv:{c-foreign}").Result(); err != nil || got != "not ours" {
		t.Errorf("the foreign key now holds %q (%v), want it left as it was", got, err)
	}
	got, err := testutil.ReadExact(ctx, e.brokers, settings.DefaultDLQTopic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d dead letters, want c-foreign's 2", len(got))
	}
	for i, r := range got {
		src := msgs[2*i]
		if string(r.Key) != string(src.Key) || string(r.Value) != string(src.Value) {
			t.Errorf("dead letter %d: key %q value %q, want the original record", i, r.Key, r.Value)
		}
		if !strings.Contains(r.Headers["error"], "key ltv:{c-foreign} is not a hash (WRONGTYPE)") ||
			r.Headers["topic"] != settings.DefaultOrdersTopic || r.Headers["offset"] != strconv.Itoa(2*i) {
			t.Errorf("dead letter %d: headers %v", i, r.Headers)
		}
	}
}
