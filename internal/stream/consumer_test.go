// Tests of the Consumer against an in-process broker (kfake): rebalances,
// commits within a generation, null and empty keys and values,
// co-partitioned inputs, records deleted before they were read.

package stream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestConsumerHandsPartitionsOverInARebalance: a second member joins; the
// first gives up one of the two partitions (and says so through
// OnRevoked), the newcomer reads it from the committed offset, and
// between them every record is handled and committed.
func TestConsumerHandsPartitionsOverInARebalance(t *testing.T) {
	const topic, group, records = "orders", "handover-test", 200
	ctx, brokers := twoPartitionsOfOrders(t, records)

	var mu sync.Mutex
	handledBy := map[string]map[int]int{} // member → partition → records
	var revoked []int
	member := func(name string) *stream.Consumer {
		handledBy[name] = map[int]int{}
		return rebalancingMember(t, brokers, group, func(c *stream.ConsumerConfig) {
			c.Workers = 2
			c.OnRevoked = func(gotTopic string, partition int) {
				if name == "first" && gotTopic == topic {
					mu.Lock()
					revoked = append(revoked, partition)
					mu.Unlock()
				}
			}
		})
	}
	handler := func(name string) stream.Handler {
		return func(_ context.Context, batch []pipeline.Record) error {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range batch {
				handledBy[name][int(r.Partition)]++
			}
			return nil
		}
	}
	mu.Lock()
	first, second := member("first"), member("second")
	mu.Unlock()
	stopFirst := runConsumer(ctx, first, handler("first"))
	if err := testutil.WaitCaughtUp(ctx, brokers, group, topic); err != nil {
		t.Fatalf("first pass: %v", err)
	}
	stopSecond := runConsumer(ctx, second, handler("second"))
	// The second member owns a partition once it has handled records of
	// one; keep producing until it has.
	for sent := records; ; sent += records {
		mu.Lock()
		took := len(handledBy["second"])
		mu.Unlock()
		if took > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the second member never got a partition")
		}
		produce(t, ctx, brokers, topic, records)
		time.Sleep(300 * time.Millisecond)
	}
	if err := testutil.WaitCaughtUp(ctx, brokers, group, topic); err != nil {
		t.Fatalf("after the rebalance: %v", err)
	}
	for name, stop := range map[string]func() error{"first": stopFirst, "second": stopSecond} {
		if err := stop(); err != nil {
			t.Errorf("%s member: %v", name, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handledBy["second"]) != 1 {
		t.Fatalf("second member handled partitions %v, want exactly one", handledBy["second"])
	}
	var took int
	for p := range handledBy["second"] {
		took = p
	}
	if !slices.Contains(revoked, took) {
		t.Errorf("first member revoked %v, want the partition the second took (%d) among them", revoked, took)
	}
}

// TestConsumerCommitsFetchedWorkWithinItsGeneration: a batch is in the
// handler when a rebalance starts. The member finishes it and commits it
// with the ending generation before it rejoins, so the partition's next
// owner starts after it and no record is handled twice.
func TestConsumerCommitsFetchedWorkWithinItsGeneration(t *testing.T) {
	const group, records = "drain-test", 100
	ctx, brokers := twoPartitionsOfOrders(t, records)

	var mu sync.Mutex
	seen := map[[2]int64]int{} // partition, offset → times handled
	inHandler, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	handle := func(_ context.Context, batch []pipeline.Record) error {
		once.Do(func() {
			close(inHandler)
			<-release
		})
		mu.Lock()
		defer mu.Unlock()
		for _, r := range batch {
			seen[[2]int64{int64(r.Partition), r.Offset}]++
		}
		return nil
	}
	newMember := func() *stream.Consumer { return rebalancingMember(t, brokers, group, func(*stream.ConsumerConfig) {}) }
	stopFirst := runConsumer(ctx, newMember(), handle)
	select {
	case <-inHandler:
	case <-ctx.Done():
		t.Fatal("no batch reached the handler")
	}
	stopSecond := runConsumer(ctx, newMember(), handle)
	time.Sleep(time.Second) // the join is under way; the first member's heartbeat learns of it
	close(release)
	if err := testutil.WaitCaughtUp(ctx, brokers, group, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := stopFirst(); err != nil {
		t.Error(err)
	}
	if err := stopSecond(); err != nil {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != records {
		t.Errorf("handled %d distinct records, want %d", len(seen), records)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("partition %d offset %d handled %d times, want once", k[0], k[1], n)
		}
	}
}

// TestConsumerIsHealthyAgainWhenFetchesRecover: while the broker refuses
// every fetch the consumer reports itself unhealthy; once fetches succeed
// again it is healthy, although the topic is idle and no record arrives
// to prove it.
func TestConsumerIsHealthyAgainWhenFetchesRecover(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"orders"}})
	produce(t, ctx, brokers, "orders", 10)
	var refuse atomic.Bool
	cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if refuse.Load() {
			return nil, errors.New("injected fetch fault"), true
		}
		return nil, nil, false
	})
	cons := rebalancingMember(t, brokers, "health-test", func(c *stream.ConsumerConfig) {
		c.RetryMin, c.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	})
	stop := runConsumer(ctx, cons, nothing)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	if err := testutil.WaitCaughtUp(ctx, brokers, "health-test", "orders"); err != nil {
		t.Fatal(err)
	}
	waitHealthy := func(want bool) {
		t.Helper()
		for cons.Healthy() != want {
			if ctx.Err() != nil {
				t.Fatalf("Healthy() never became %v", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	refuse.Store(true)
	waitHealthy(false)
	refuse.Store(false)
	waitHealthy(true)
}

// TestConsumerTellsNullFromEmpty: the handler must see a null and an empty
// key or value apart (kafka-go's own readers give nil for both), so a dead
// letter keeps a null value null and an empty one empty (SPEC §2).
func TestConsumerTellsNullFromEmpty(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	const topic, group = "orders", "nulls-test"
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{topic}})
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	sent := []kafka.Message{
		{Key: []byte("k"), Value: nil},
		{Key: []byte("k"), Value: []byte{}},
		{Key: nil, Value: []byte("v")},
		{Key: []byte{}, Value: []byte("v")},
		{Key: nil, Value: nil},
		{Key: []byte("k"), Value: []byte("v")},
	}
	for i := range sent {
		// One message per write: they must keep their order on the partition.
		if err := w.WriteMessages(ctx, sent[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()

	got := map[int64]pipeline.Record{}
	for _, r := range consumeAll(t, ctx, brokers, group, topic) {
		got[r.Offset] = r
	}
	kind := func(b []byte) string {
		switch {
		case b == nil:
			return "null"
		case len(b) == 0:
			return "empty"
		}
		return string(b)
	}
	for i, m := range sent {
		r, ok := got[int64(i)]
		if !ok {
			t.Fatalf("offset %d not handled", i)
		}
		if kind(r.Key) != kind(m.Key) || kind(r.Value) != kind(m.Value) {
			t.Errorf("offset %d: handler saw key %s value %s, want key %s value %s", i, kind(r.Key), kind(r.Value), kind(m.Key), kind(m.Value))
		}
	}
}

// TestConsumerRefusesInputsOfDifferentPartitionCounts: at start, topics of
// 3 and 2 partitions make Run fail at once with an error that names both
// topics and their counts.
func TestConsumerRefusesInputsOfDifferentPartitionCounts(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 3, Topics: []string{"orders"}})
	if err := testutil.CreateTopic(ctx, brokers, "customer-lifecycle", 2); err != nil {
		t.Fatal(err)
	}
	err := coPartitionedConsumer(t, brokers, "orders", "customer-lifecycle").Run(ctx, nothing)
	var mismatch *stream.PartitionMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("Run returned %v, want a partition mismatch", err)
	}
	if want := "orders has 3 and customer-lifecycle has 2"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// TestConsumerStopsWhenAnInputGrows: both inputs start with 2 partitions;
// when the operator grows one to 4, Run ends with the mismatch.
func TestConsumerStopsWhenAnInputGrows(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"orders", "customer-lifecycle"}})
	cons := coPartitionedConsumer(t, brokers, "orders", "customer-lifecycle")
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx, nothing) }()
	select {
	case err := <-done:
		t.Fatalf("Run ended before any change: %v", err)
	case <-time.After(500 * time.Millisecond): // a few checks pass with equal counts
	}
	if err := testutil.GrowTopic(ctx, brokers, "orders", 4); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !strings.Contains(err.Error(), "orders has 4 and customer-lifecycle has 2") {
			t.Fatalf("Run returned %v, want the mismatch", err)
		}
	case <-ctx.Done():
		t.Fatal("Run went on with inputs of 4 and 2 partitions")
	}
}

func produce(t *testing.T, ctx context.Context, brokers []string, topic string, n int) {
	t.Helper()
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(fmt.Sprintf("c-%d", i)), Value: []byte("{}")}
	}
	if err := stream.WriteAll(ctx, w, msgs); err != nil {
		t.Fatal(err)
	}
}

// runConsumer runs cons in the background until the returned stop is
// called, which returns Run's result.
func runConsumer(ctx context.Context, cons *stream.Consumer, handle stream.Handler) (stop func() error) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx, handle) }()
	return func() error {
		cancel()
		return <-done
	}
}

// twoPartitionsOfOrders starts a broker whose "orders" topic has two
// partitions holding records records.
func twoPartitionsOfOrders(t *testing.T, records int) (context.Context, []string) {
	t.Helper()
	ctx := testutil.Context(t, 90*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"orders"}})
	produce(t, ctx, brokers, "orders", records)
	return ctx, brokers
}

// rebalancingMember is a consumer of "orders" in group, one worker, with
// timeouts short enough for a rebalance test; tune adjusts the rest.
func rebalancingMember(t *testing.T, brokers []string, group string, tune func(*stream.ConsumerConfig)) *stream.Consumer {
	t.Helper()
	cfg := stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{"orders"},
		Workers: 1, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 4 * time.Second}
	tune(&cfg)
	cons, err := stream.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

func coPartitionedConsumer(t *testing.T, brokers []string, topics ...string) *stream.Consumer {
	t.Helper()
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: "copart", Topics: topics,
		CoPartitioned: true, PartitionCheckInterval: 100 * time.Millisecond, MaxWait: 200 * time.Millisecond,
		Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

func nothing(context.Context, []pipeline.Record) error { return nil }

// TestConsumerGoesOnFromTheFirstRecordKept: retention deleted records the
// group had not read (its committed offset lies before the log's start
// now). The fetcher is refused the offset and goes on from the first
// record the log still holds, instead of stalling.
func TestConsumerGoesOnFromTheFirstRecordKept(t *testing.T) {
	const topic, group = "orders", "retention-test"
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{topic}})
	produce(t, ctx, brokers, topic, 10)
	commitOffset(t, ctx, brokers, group, topic, 3)
	// Delete the records before offset 6, as retention would.
	del := kmsg.NewPtrDeleteRecordsRequest()
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = topic
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Partition, dp.Offset = 0, 6
	dt.Partitions = append(dt.Partitions, dp)
	del.Topics = append(del.Topics, dt)
	del.TimeoutMillis = 5000
	if err := deleteRecords(ctx, brokers, del); err != nil {
		t.Fatal(err)
	}

	var handled []int64
	for _, r := range consumeAll(t, ctx, brokers, group, topic) {
		handled = append(handled, r.Offset)
	}
	if want := []int64{6, 7, 8, 9}; !slices.Equal(handled, want) {
		t.Fatalf("handled offsets %v, want %v", handled, want)
	}
}

// TestConsumerIsNotReadyPastTheLogEnd: a position past the partition's
// log end (the log truncated by an unclean leader election, or the topic
// deleted and created again) makes the consumer unhealthy with an error
// that says so, instead of waiting unseen; it reads on from that position
// once the log reaches it.
func TestConsumerIsNotReadyPastTheLogEnd(t *testing.T) {
	const topic, group = "orders", "past-end-test"
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{topic}})
	produce(t, ctx, brokers, topic, 3)
	commitOffset(t, ctx, brokers, group, topic, 8)

	var mu sync.Mutex
	var handled []int64
	var unhealthy []error
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 1, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		OnHealth: func(ok bool, err error) {
			if !ok {
				mu.Lock()
				unhealthy = append(unhealthy, err)
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range batch {
			handled = append(handled, r.Offset)
		}
		return nil
	})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		waitLocked(t, ctx, &mu, what, cond, func() string { return fmt.Sprintf("handled %v, unhealthy %v", handled, unhealthy) })
	}
	waitUntil("the consumer unhealthy", func() bool { return len(unhealthy) > 0 })
	if err := unhealthy[0]; !errors.Is(err, stream.ErrPositionPastLogEnd) || !strings.Contains(err.Error(), "orders/0 from 8") {
		t.Fatalf("unhealthy with %v, want ErrPositionPastLogEnd for orders/0 from 8", err)
	}
	if cons.Healthy() {
		t.Fatal("Healthy() while the position is past the log end")
	}
	produce(t, ctx, brokers, topic, 10) // offsets 3..12
	waitUntil("offsets 8..12 handled", func() bool { return len(handled) >= 5 })
	mu.Lock()
	got := slices.Clone(handled)
	mu.Unlock()
	if want := []int64{8, 9, 10, 11, 12}; !slices.Equal(got, want) {
		t.Fatalf("handled offsets %v, want %v", got, want)
	}
	for !cons.Healthy() {
		if ctx.Err() != nil {
			t.Fatal("not healthy again once the log reached the position")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commitOffset commits offset for partition 0 of topic as the group's
// position, as an earlier member would have.
func commitOffset(t *testing.T, ctx context.Context, brokers []string, group, topic string, offset int64) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: offset}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
	}
}

// consumeAll runs a one-worker consumer of topic until the group has
// committed all of it, and returns the records handled, in order.
func consumeAll(t *testing.T, ctx context.Context, brokers []string, group, topic string) []pipeline.Record {
	t.Helper()
	var mu sync.Mutex
	var handled []pipeline.Record
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 1, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, batch...)
		return nil
	})
	if err := testutil.WaitCaughtUp(ctx, brokers, group, topic); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return handled
}

// deleteRecords sends a DeleteRecords request (which kafka-go's client
// lacks) through franz-go, which routes it to the partitions' leaders, and
// reports any partition's error.
func deleteRecords(ctx context.Context, brokers []string, req *kmsg.DeleteRecordsRequest) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("delete records of %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// A batch keeps the time it was read through its retries: the pipeline
// judges max_future_skew against it (SPEC §2, "when the record is read"),
// so a retry after an outage cannot let in what the first attempt
// dead-lettered.
func TestConsumerRetriesABatchWithItsReadTime(t *testing.T) {
	ctx, brokers := twoPartitionsOfOrders(t, 4)
	var mu sync.Mutex
	var calls [][]time.Time
	cons := rebalancingMember(t, brokers, "read-time-test", func(*stream.ConsumerConfig) {})
	before := time.Now()
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		mu.Lock()
		defer mu.Unlock()
		var at []time.Time
		for _, r := range batch {
			at = append(at, r.ReadAt)
		}
		calls = append(calls, at)
		if len(calls) == 1 {
			return errors.New("redis down") // the first attempt fails
		}
		return nil
	})
	if err := testutil.WaitCaughtUp(ctx, brokers, "read-time-test", "orders"); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) < 2 {
		t.Fatalf("%d calls, want the failed one and its retry", len(calls))
	}
	first, retry := calls[0], calls[1]
	if !slices.Equal(first, retry) {
		t.Fatalf("read times %v on the first attempt, %v on the retry", first, retry)
	}
	for _, at := range first {
		if at.Before(before) || at.After(time.Now()) {
			t.Fatalf("read time %v, not when the test ran", at)
		}
	}
}

// TestConsumerStaysNotReadyWhileOnePartitionFails: partition 0's log ends
// before the group's position (docs/operations.md: not ready, `processing`,
// until the log reaches it) while partition 1 keeps delivering records
// that are handled and committed. One partition's success must not make
// the consumer healthy while another's fetch still fails; only when the
// failing partition reads again is it healthy.
func TestConsumerStaysNotReadyWhileOnePartitionFails(t *testing.T) {
	const topic, group = "orders", "one-failing-test"
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{topic}})
	produceTo(t, ctx, brokers, topic, 0, 3)
	commitOffset(t, ctx, brokers, group, topic, 8)

	var mu sync.Mutex
	handled := map[int][]int64{}
	var events []bool // OnHealth's ok, in order
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 2, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		OnHealth: func(ok bool, _ error) {
			mu.Lock()
			events = append(events, ok)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range batch {
			handled[int(r.Partition)] = append(handled[int(r.Partition)], r.Offset)
		}
		return nil
	})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		waitLocked(t, ctx, &mu, what, cond, func() string { return fmt.Sprintf("handled %v, health %v", handled, events) })
	}
	waitUntil("the consumer unhealthy", func() bool { return len(events) > 0 && !events[len(events)-1] })
	for round := range 3 { // batches of partition 1, handled and committed, one after the other
		produceTo(t, ctx, brokers, topic, 1, 5)
		want := 5 * (round + 1)
		waitUntil(fmt.Sprintf("%d records of partition 1 handled", want), func() bool { return len(handled[1]) >= want })
		time.Sleep(100 * time.Millisecond) // the commit and the health report after the batch
		if cons.Healthy() {
			mu.Lock()
			t.Fatalf("healthy after a batch of partition 1 while partition 0 is past its log end (health reports %v)", events)
		}
	}
	produceTo(t, ctx, brokers, topic, 0, 10) // offsets 3..12: the log reaches the position
	waitUntil("partition 0 read from offset 8", func() bool { return len(handled[0]) >= 5 })
	for !cons.Healthy() {
		if ctx.Err() != nil {
			t.Fatal("not healthy again once the log reached the position")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumerHealthNamesEveryFailingPart: partition 0's fetch fails (its
// log ends before the group's position) and partition 1's batches fail
// (Redis away for them). The health report must name both; once
// partition 1's batches succeed again it must name only partition 0's
// fetch, not keep showing the first failure it saw or one that is over.
func TestConsumerHealthNamesEveryFailingPart(t *testing.T) {
	const topic, group = "orders", "every-part-test"
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{topic}})
	produceTo(t, ctx, brokers, topic, 0, 3)
	commitOffset(t, ctx, brokers, group, topic, 8)
	produceTo(t, ctx, brokers, topic, 1, 5)

	var mu sync.Mutex
	var reports []error // OnHealth's errors, nil for a report of health
	var batchesFail atomic.Bool
	batchesFail.Store(true)
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 2, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		OnHealth: func(ok bool, err error) {
			mu.Lock()
			defer mu.Unlock()
			if ok != (err == nil) {
				t.Errorf("OnHealth(%v, %v)", ok, err)
			}
			reports = append(reports, err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	redisAway := errors.New("redis away")
	stop := runConsumer(ctx, cons, func(_ context.Context, batch []pipeline.Record) error {
		if batchesFail.Load() {
			return fmt.Errorf("save: %w", redisAway)
		}
		return nil
	})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	last := func() string {
		if len(reports) == 0 || reports[len(reports)-1] == nil {
			return ""
		}
		return reports[len(reports)-1].Error()
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		waitLocked(t, ctx, &mu, what, cond, func() string { return fmt.Sprintf("health reports %q", reports) })
	}
	waitUntil("both parts named", func() bool {
		l := last()
		return strings.Contains(l, "2 parts failing") && strings.Contains(l, "fetch "+topic+"/0 from 8") && strings.Contains(l, "worker") &&
			strings.Contains(l, "redis away") && errors.Is(reports[len(reports)-1], redisAway) && errors.Is(reports[len(reports)-1], stream.ErrPositionPastLogEnd)
	})
	batchesFail.Store(false)
	waitUntil("only the fetch named", func() bool {
		l := last()
		return strings.Contains(l, "fetch:") && !strings.Contains(l, "redis away") && !strings.Contains(l, "parts failing")
	})
	if cons.Healthy() {
		t.Fatal("healthy while partition 0 is past its log end")
	}
	produceTo(t, ctx, brokers, topic, 0, 10) // the log reaches the position
	waitUntil("healthy again", func() bool { return len(reports) > 0 && reports[len(reports)-1] == nil })
}

// produceTo writes n records to one partition of topic.
func produceTo(t *testing.T, ctx context.Context, brokers []string, topic string, partition, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition })}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("c-%d", i)), Value: []byte("{}")}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// TestConsumerCommitsADrainLongerThanTheSession: on shutdown a batch in
// flight takes longer to finish than the session timeout (Redis slow or
// briefly away), but less than the drain timeout. SPEC §6: SIGTERM finishes
// and commits in-flight work. The member must stay in the group while it
// drains, so that the broker takes its commit, rather than be evicted for
// want of heartbeats and see the commit refused.
func TestConsumerCommitsADrainLongerThanTheSession(t *testing.T) {
	const topic, group, records = "orders", "long-drain-test", 10
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{topic}})
	produce(t, ctx, brokers, topic, records)
	const session = time.Second
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 1, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond, SessionTimeout: session,
		DrainTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	started := make(chan struct{})
	var once sync.Once
	var handled atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(runCtx, func(_ context.Context, batch []pipeline.Record) error {
			once.Do(func() { close(started) })
			<-runCtx.Done()         // in flight when the shutdown begins...
			time.Sleep(4 * session) // ...and finished well after the session timeout
			handled.Add(int64(len(batch)))
			return nil
		})
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("no batch handled")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if handled.Load() != records {
		t.Fatalf("handled %d records, want %d", handled.Load(), records)
	}
	lag, err := stream.GroupLag(ctx, brokers, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if lag != 0 {
		t.Fatalf("lag %d after a drain that finished every batch within the drain timeout: its commit was refused", lag)
	}
}

// TestConsumerReportsNoRecoveryWhenADrainGivesUp: the handler fails until
// the end (Redis away), and the shutdown's drain gives up on the batch.
// That is no recovery: the consumer must not report itself healthy on the
// way out (the service would log "processing recovered").
func TestConsumerReportsNoRecoveryWhenADrainGivesUp(t *testing.T) {
	const topic, group = "orders", "failing-drain-test"
	ctx := testutil.Context(t, 60*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{topic}})
	produce(t, ctx, brokers, topic, 10)
	var mu sync.Mutex
	var events []bool
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 2, Linger: time.Millisecond, MaxWait: 200 * time.Millisecond, DrainTimeout: 500 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		OnHealth: func(ok bool, _ error) {
			mu.Lock()
			events = append(events, ok)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(context.Context, []pipeline.Record) error { return errors.New("redis away") })
	for cons.Healthy() {
		if ctx.Err() != nil {
			t.Fatal("never unhealthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) == 0 || slices.Contains(events, true) || cons.Healthy() {
		t.Fatalf("health reports %v (healthy at the end: %v), want only failures and unhealthy: the batch never succeeded", events, cons.Healthy())
	}
}

// TestConsumerBacksOffWhileTheGroupCannotBeJoined: every request to the
// broker fails (Kafka down). SPEC §6: the consumer retries with backoff;
// and its log says what is wrong without flooding. kafka-go retries a
// failed join every second (JoinGroupBackoff), and each failure writes two
// warnings (kafka-go's and the consumer's), for as long as the outage
// lasts; the consumer must back off further, as it does for batches,
// and rejoin by itself once the broker answers again.
func TestConsumerBacksOffWhileTheGroupCannotBeJoined(t *testing.T) {
	const topic, group = "orders", "join-backoff-test"
	ctx := testutil.Context(t, 60*time.Second)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 1, Topics: []string{topic}})
	var down atomic.Bool
	cluster.ControlKey(-1, func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("injected outage"), true
		}
		return nil, nil, false
	})
	core, logs := observer.New(zap.WarnLevel)
	cons, err := stream.NewConsumer(stream.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: []string{topic},
		Workers: 1, MaxWait: 200 * time.Millisecond, SessionTimeout: time.Second,
		RetryMin: 2 * time.Second, RetryMax: 4 * time.Second, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(ctx, cons, func(context.Context, []pipeline.Record) error { return nil })
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	joinFailures := func() int {
		return logs.FilterMessage("joining the consumer group failed; retrying").Len()
	}
	time.Sleep(500 * time.Millisecond) // joined
	down.Store(true)
	for joinFailures() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the join never failed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	const window = 10 * time.Second
	first, all := joinFailures(), logs.Len()
	time.Sleep(window)
	joins, lines := joinFailures()-first, logs.Len()-all
	t.Logf("%d failed joins and %d warnings in %s of outage", joins, lines, window)
	// kafka-go's pace (1 s) makes about 10; with the backoff (1-2 s, then
	// 2-4 s between attempts) about 4.
	if joins > 6 {
		t.Errorf("%d failed joins in %s: retried at a constant pace, not with backoff", joins, window)
	}
	down.Store(false)
	for !cons.Healthy() {
		if ctx.Err() != nil {
			t.Fatal("did not rejoin once the broker answered again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLocked polls cond, under mu, every 20 ms until it holds; when ctx
// ends first it fails the test with what was awaited and state() (read
// under mu too).
func waitLocked(t *testing.T, ctx context.Context, mu *sync.Mutex, what string, cond func() bool, state func() string) {
	t.Helper()
	for {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		if ctx.Err() != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("timed out waiting for %s (%s)", what, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
