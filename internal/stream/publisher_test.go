package stream_test

import (
	"errors"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPublishKeepsOrderWhenAWriteFailsPartWay: the first produce request
// fails. Nothing published after the failed messages may reach the topic
// before them: a subscriber must see one customer's changes in order.
// (kafka-go's Writer, given all six in one call, would write the
// partition's second batch after the first failed.)
func TestPublishKeepsOrderWhenAWriteFailsPartWay(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{"changes"}})
	var produces atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if produces.Add(1) == 1 {
			return nil, errors.New("injected: first produce fails"), true
		}
		return nil, nil, false
	})
	pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers, BatchSize: 2, MaxAttempts: 1}, Writers: 2})
	var msgs []pipeline.Message
	for i := 1; i <= 6; i++ {
		msgs = append(msgs, pipeline.Message{Topic: "changes", Key: []byte("c-1"), Value: []byte(strconv.Itoa(i))})
	}
	if err := pub.Publish(ctx, msgs); err == nil {
		t.Fatal("publish succeeded although the first produce failed")
	}
	written, err := testutil.ReadAll(ctx, brokers, "changes")
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 0 {
		t.Fatalf("after the failed first chunk, %d later messages were written anyway (first %q)", len(written), written[0].Value)
	}
	// The retry (as the pipeline does it) writes everything, in order.
	if err := pub.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	written, err = testutil.ReadAll(ctx, brokers, "changes")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, m := range written {
		got += string(m.Value)
	}
	if got != "123456" {
		t.Fatalf("topic holds %q, want 123456", got)
	}
}

// The publisher sends each partition's messages of one call as a single
// record batch, so the ordering argument above keeps holding. Calls of
// every size do, up to the batch size, also when all of a call's messages
// share one partition.
func TestPublishSendsOneBatchPerPartitionPerCall(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	const partitions = 4
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: partitions, Topics: []string{"changes"}})
	var mu sync.Mutex
	batches := map[int32]int{} // partition → record batches received
	records := 0
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, pp := range tp.Partitions {
				var rb kmsg.RecordBatch
				for raw := pp.Records; len(raw) > 0; {
					if err := rb.ReadFrom(raw); err != nil {
						break
					}
					batches[pp.Partition]++
					records += int(rb.NumRecords)
					raw = raw[12+rb.Length:]
				}
			}
		}
		return nil, nil, false
	})
	pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers}})
	spread := func(n int) []pipeline.Message { // over the partitions by key
		var msgs []pipeline.Message
		for i := 0; i < n; i++ {
			msgs = append(msgs, pipeline.Message{Topic: "changes", Key: []byte("c-" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
		}
		return msgs
	}
	oneKey := func(n int) []pipeline.Message { // all in one partition
		var msgs []pipeline.Message
		for i := 0; i < n; i++ {
			msgs = append(msgs, pipeline.Message{Topic: "changes", Key: []byte("c-1"), Value: []byte(strconv.Itoa(i))})
		}
		return msgs
	}
	calls := [][]pipeline.Message{spread(100), spread(100), oneKey(9), oneKey(33), spread(3), oneKey(128), spread(100)}
	want := 0
	for call, msgs := range calls {
		mu.Lock()
		before := maps.Clone(batches)
		mu.Unlock()
		if err := pub.Publish(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		want += len(msgs)
		mu.Lock()
		if records != want {
			t.Fatalf("call %d: %d records produced in all, want %d", call, records, want)
		}
		for p, n := range batches {
			if n-before[p] > 1 {
				t.Fatalf("call %d (%d messages): partition %d got %d record batches, want one per call", call, len(msgs), p, n-before[p])
			}
		}
		if call == 0 && len(batches) != partitions {
			t.Fatalf("call %d: batches went to %d partitions, want %d", call, len(batches), partitions)
		}
		mu.Unlock()
	}
}

func TestPublisherRejectsAFixedTopic(t *testing.T) {
	if _, err := stream.NewPublisher(stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: []string{"127.0.0.1:1"}, Topic: "x"}}); err == nil {
		t.Fatal("fixed topic accepted")
	}
}

// TestPublisherFollowsTheTopicLimit: the DLQ topic accepts 64 KiB; a
// 2 MiB dead letter is written cut to fit with the truncation headers.
// Then the operator lowers the limit: the first write is refused by the
// broker, the limit is read again, and the retry fits.
func TestPublisherFollowsTheTopicLimit(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{"dlq"}})
	if err := testutil.SetTopicConfig(ctx, brokers, "dlq", "max.message.bytes", "65536"); err != nil {
		t.Fatal(err)
	}
	limits, err := stream.NewTopicLimits(stream.LimitsConfig{Brokers: brokers, Topics: []string{"dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := limits.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := limits.Limit("dlq"); got != 65536 {
		t.Fatalf("limit read from the broker = %d", got)
	}
	var cuts atomic.Int32
	pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers, MaxAttempts: 1}, Limits: limits,
		OnCut: func(string, int) { cuts.Add(1) }})
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	msg := pipeline.Message{Topic: "dlq", Key: []byte("c-1"), Value: big, Headers: []pipeline.Header{{Key: "error", Value: []byte("too big")}}}
	first := []pipeline.Message{msg, {Topic: "dlq", Key: []byte("c-2"), Value: []byte("small")}}
	if err := pub.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	if len(first[0].Value) != len(big) || len(first[0].Headers) != 1 {
		t.Fatalf("the caller's message was cut in place (%d bytes, %d headers): a retry would cut the cut copy", len(first[0].Value), len(first[0].Headers))
	}
	if err := testutil.SetTopicConfig(ctx, brokers, "dlq", "max.message.bytes", "16384"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, []pipeline.Message{msg}); err == nil {
		t.Fatal("the broker accepted a batch above the lowered limit")
	}
	if got := limits.Limit("dlq"); got != 16384 {
		t.Fatalf("after the refusal the limit is %d, want the new 16384", got)
	}
	if err := pub.Publish(ctx, []pipeline.Message{msg}); err != nil {
		t.Fatalf("retry after the limit was read again: %v", err)
	}
	recs, err := testutil.ReadExact(ctx, brokers, "dlq", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || cuts.Load() != 3 {
		t.Fatalf("%d records written, %d cut; want 3 and 3 (two cut copies, the small one whole, the refused attempt counted)", len(recs), cuts.Load())
	}
	for i, want := range []int{65536, 0, 16384} {
		r := recs[i]
		if want == 0 {
			if string(r.Value) != "small" || r.Headers["truncated"] != "" {
				t.Fatalf("record %d: %q %v", i, r.Value, r.Headers)
			}
			continue
		}
		if len(r.Value) > want || len(r.Value) < want-512 || string(big[:len(r.Value)]) != string(r.Value) {
			t.Fatalf("record %d: value of %d bytes for a %d-byte limit", i, len(r.Value), want)
		}
		if r.Headers["truncated"] != "true" || r.Headers["original_size"] != strconv.Itoa(len(big)) ||
			len(r.Headers["original_sha256"]) != 64 || r.Headers["error"] != "too big" || string(r.Key) != "c-1" {
			t.Fatalf("record %d headers %v key %q", i, r.Headers, r.Key)
		}
	}
}

// TestRefusalReadsTheLimitsOnce: a chunk to two topics is refused because
// the DLQ's limit was lowered. Reading the limits again explains it, so
// no limit is halved: the DLQ's is the new one (a dead letter is cut to
// what fits, not to half of it), the change topic's is unchanged.
func TestRefusalReadsTheLimitsOnce(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{"changes", "dlq"}})
	limits, err := stream.NewTopicLimits(stream.LimitsConfig{Brokers: brokers, Topics: []string{"changes", "dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := limits.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	changes := limits.Limit("changes")
	pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers, MaxAttempts: 1}, Limits: limits})
	if err := testutil.SetTopicConfig(ctx, brokers, "dlq", "max.message.bytes", "16384"); err != nil {
		t.Fatal(err)
	}
	msgs := []pipeline.Message{
		{Topic: "changes", Key: []byte("c-1"), Value: []byte(`{"tier":"gold"}`)},
		{Topic: "dlq", Key: []byte("c-1"), Value: make([]byte, 100_000)},
	}
	if err := pub.Publish(ctx, msgs); err == nil {
		t.Fatal("the broker accepted a dead letter above the lowered limit")
	}
	if got := limits.Limit("dlq"); got != 16384 {
		t.Errorf("after the refusal the DLQ limit is %d, want the new 16384", got)
	}
	if got := limits.Limit("changes"); got != changes {
		t.Errorf("after the refusal the change topic's limit is %d, want its unchanged %d", got, changes)
	}
	if err := pub.Publish(ctx, msgs); err != nil {
		t.Fatalf("retry: %v", err)
	}
	recs, err := testutil.ReadExact(ctx, brokers, "dlq", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || len(recs[0].Value) < 16384-512 {
		t.Fatalf("%d dead letters; value of %d bytes, want one cut to nearly 16384", len(recs), len(recs[0].Value))
	}
}

// TestUnreadLimitIsReadBeforeCutting: the DLQ topic accepts 4 MiB, but
// reading its limit fails at first, so the publisher knows only the
// assumed 1,000,000 bytes. A 2 MiB dead letter fits the topic: the limit
// is read before the copy would be cut, and it is written whole. While the
// limit cannot be read at all, a dead letter is cut to the assumed limit
// (and nothing stalls).
func TestUnreadLimitIsReadBeforeCutting(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{"dlq", "dlq2"}})
	for _, topic := range []string{"dlq", "dlq2"} {
		if err := testutil.SetTopicConfig(ctx, brokers, topic, "max.message.bytes", strconv.Itoa(4<<20)); err != nil {
			t.Fatal(err)
		}
	}
	var refuse atomic.Bool
	testutil.RefuseDescribeConfigs(cluster, refuse.Load)
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	// publish publishes one 2 MiB dead letter to topic with a publisher
	// whose first reading of the topic's limit was refused, and returns
	// what the topic then holds.
	publish := func(topic string, refusedForGood bool) []testutil.ExactRecord {
		t.Helper()
		refuse.Store(true)
		limits, err := stream.NewTopicLimits(stream.LimitsConfig{Brokers: brokers, Topics: []string{topic}})
		if err != nil {
			t.Fatal(err)
		}
		if err := limits.Refresh(ctx); err == nil {
			t.Fatal("reading the limit succeeded although the broker refused it")
		}
		refuse.Store(refusedForGood)
		pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers, MaxAttempts: 1}, Limits: limits})
		if err := pub.Publish(ctx, []pipeline.Message{{Topic: topic, Key: []byte("c-1"), Value: big}}); err != nil {
			t.Fatal(err)
		}
		recs, err := testutil.ReadExact(ctx, brokers, topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("%s holds %d records, want 1", topic, len(recs))
		}
		return recs
	}

	// Refused at first only: the reading before the cut succeeds.
	if r := publish("dlq", false)[0]; string(r.Value) != string(big) || r.Headers["truncated"] != "" {
		t.Errorf("dead letter of %d bytes (headers %v), want the whole %d bytes: the topic accepts them", len(r.Value), r.Headers, len(big))
	}
	// Refused for good: cut to the assumed limit, as documented.
	if r := publish("dlq2", true)[0]; r.Headers["truncated"] != "true" || len(r.Value) > stream.DefaultAssumedMaxMessageBytes ||
		string(big[:len(r.Value)]) != string(r.Value) {
		t.Errorf("dead letter of %d bytes (headers %v), want one cut to the assumed %d bytes", len(r.Value), r.Headers, stream.DefaultAssumedMaxMessageBytes)
	}
}

// BenchmarkPublishLightLoad publishes what a worker's batch at light load
// outputs, a few dozen change events over two topics of eight partitions
// each, through the kfake broker: -benchmem shows what each call
// allocates.
func BenchmarkPublishLightLoad(b *testing.B) {
	ctx := testutil.Context(b, 5*time.Minute)
	_, brokers := testutil.StartKafka(b, testutil.KafkaConfig{Partitions: 8, Topics: []string{"changes", "segments"}})
	pub := newPublisher(b, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers}})
	value := []byte(`{"schema":"ltv.change.v1","event_id":"3b0f6c1e-5a2d-8c4e-9f10-2a7b3c4d5e6f","tier":"gold"}`)
	var msgs []pipeline.Message
	for i := 0; i < 40; i++ {
		topic := "segments"
		if i%3 == 0 {
			topic = "changes"
		}
		msgs = append(msgs, pipeline.Message{Topic: topic, Key: []byte("c-" + strconv.Itoa(i)), Value: value})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Publish(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// newPublisher builds a publisher for a test and closes it at cleanup.
func newPublisher(tb testing.TB, cfg stream.PublisherConfig) *stream.Publisher {
	tb.Helper()
	pub, err := stream.NewPublisher(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pub.Close() })
	return pub
}
