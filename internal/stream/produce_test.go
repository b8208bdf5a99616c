package stream_test

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// The publisher must put every key on the partition kafka-go's Writer
// (and so a Java client's murmur2) puts it on: SPEC §1's co-partitioning
// and every subscriber's per-customer order rest on it. One call mixes two
// topics of different partition counts, so each topic's own count decides.
func TestPublishPlacesKeysAsKafkaGosWriter(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 7, Topics: []string{"by-writer-7", "by-publisher-7"}})
	for _, topic := range []string{"by-writer-3", "by-publisher-3"} {
		if err := testutil.CreateTopic(ctx, brokers, topic, 3); err != nil {
			t.Fatal(err)
		}
	}
	var keys [][]byte
	for i := 0; i < 300; i++ {
		keys = append(keys, []byte(fmt.Sprintf("c-%06d", i*7919)))
	}
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var viaWriter []kafka.Message
	var viaPublisher []pipeline.Message
	for i, k := range keys {
		n := []string{"7", "3"}[i%2]
		viaWriter = append(viaWriter, kafka.Message{Topic: "by-writer-" + n, Key: k, Value: k})
		viaPublisher = append(viaPublisher, pipeline.Message{Topic: "by-publisher-" + n, Key: k, Value: k})
	}
	if err := stream.WriteAll(ctx, w, viaWriter); err != nil {
		t.Fatal(err)
	}
	pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers}})
	if err := pub.Publish(ctx, viaPublisher); err != nil {
		t.Fatal(err)
	}
	placed := func(topic string) map[string]int {
		recs, err := testutil.ReadAll(ctx, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range recs {
			out[string(r.Key)] = r.Partition
		}
		return out
	}
	for _, n := range []int{7, 3} {
		want, got := placed(fmt.Sprintf("by-writer-%d", n)), placed(fmt.Sprintf("by-publisher-%d", n))
		if len(got) != len(keys)/2 || len(want) != len(keys)/2 {
			t.Fatalf("%d partitions: %d keys read back from the publisher's topic, %d from the writer's, want %d each", n, len(got), len(want), len(keys)/2)
		}
		used := map[int]bool{}
		for k, p := range want {
			if got[k] != p {
				t.Fatalf("%d partitions, key %s: publisher chose partition %d, kafka-go's writer %d", n, k, got[k], p)
			}
			used[p] = true
		}
		if len(used) != n {
			t.Fatalf("the keys used %d of %d partitions; the test needs them spread", len(used), n)
		}
	}
}

// Each chunk goes out as one produce request per partition leader, each
// partition's messages as one record batch; nothing is written twice, and
// keys, values (null ones too), headers and order arrive as sent.
func TestPublishSendsOneRequestPerLeader(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Brokers: 3, Partitions: 6, Topics: []string{"changes", "segments"}})
	var mu sync.Mutex
	requests := 0
	batchesOf := map[string]int{} // "topic/partition" → record batches received
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		requests++
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, pp := range tp.Partitions {
				var rb kmsg.RecordBatch
				for raw := pp.Records; len(raw) > 0; raw = raw[12+rb.Length:] {
					if err := rb.ReadFrom(raw); err != nil {
						break
					}
					batchesOf[tp.Topic+"/"+strconv.Itoa(int(pp.Partition))]++
				}
			}
		}
		return nil, nil, false
	})
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"changes", "segments"}})
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int]bool{}
	for _, topic := range meta.Topics {
		for _, p := range topic.Partitions {
			leaders[p.Leader.ID] = true
		}
	}
	if len(leaders) < 2 {
		t.Fatalf("the partitions have %d leader(s); the test needs several", len(leaders))
	}
	pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers}})
	var msgs []pipeline.Message
	for i := 0; i < 120; i++ {
		topic := "segments"
		if i%3 == 0 {
			topic = "changes"
		}
		m := pipeline.Message{Topic: topic, Key: []byte("c-" + strconv.Itoa(i%40)), Value: []byte(strconv.Itoa(i)),
			Headers: []pipeline.Header{{Key: "ce_id", Value: []byte("id-" + strconv.Itoa(i))}}}
		if i%17 == 0 {
			m.Value = nil
		}
		msgs = append(msgs, m)
	}
	if err := pub.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if requests != len(leaders) {
		t.Errorf("one call sent %d produce requests; its partitions have %d leaders", requests, len(leaders))
	}
	for tp, n := range batchesOf {
		if n != 1 {
			t.Errorf("%s got %d record batches, want 1", tp, n)
		}
	}
	if len(batchesOf) != 12 {
		t.Errorf("batches went to %d topic partitions, want all 12", len(batchesOf))
	}
	mu.Unlock()
	for _, topic := range []string{"changes", "segments"} {
		recs, err := testutil.ReadAll(ctx, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		var want []pipeline.Message
		for _, m := range msgs {
			if m.Topic == topic {
				want = append(want, m)
			}
		}
		if len(recs) != len(want) {
			t.Fatalf("%s holds %d records, want %d", topic, len(recs), len(want))
		}
		// Per key, the records must arrive in the order sent.
		sort.SliceStable(recs, func(i, j int) bool { return string(recs[i].Key) < string(recs[j].Key) })
		sort.SliceStable(want, func(i, j int) bool { return string(want[i].Key) < string(want[j].Key) })
		for i, r := range recs {
			w := want[i]
			if string(r.Key) != string(w.Key) || (r.Value == nil) != (w.Value == nil) || string(r.Value) != string(w.Value) ||
				len(r.Headers) != 1 || r.Headers[0].Key != "ce_id" || string(r.Headers[0].Value) != string(w.Headers[0].Value) {
				t.Fatalf("%s record %d: key %q value %q headers %v; want key %q value %q headers %v",
					topic, i, r.Key, r.Value, r.Headers, w.Key, w.Value, w.Headers)
			}
		}
	}
}

// A partition error Kafka calls temporary (here: the leader moved) is
// retried after a backoff; a permanent one (here: not authorised) is
// returned at once, as the error kafka-go names it.
func TestPublishRetriesTemporaryPartitionErrorsOnly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int16
		want      error // nil: the publish succeeds
		wantCalls int
	}{
		{"leader moved", int16(kafka.NotLeaderForPartition), nil, 2},
		{"not authorised", int16(kafka.TopicAuthorizationFailed), kafka.TopicAuthorizationFailed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testutil.Context(t, 30*time.Second)
			cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"changes"}})
			var mu sync.Mutex
			calls := 0
			cluster.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls > 1 {
					return nil, nil, false
				}
				req := r.(*kmsg.ProduceRequest)
				res := req.ResponseKind().(*kmsg.ProduceResponse)
				for _, tp := range req.Topics {
					rt := kmsg.NewProduceResponseTopic()
					rt.Topic = tp.Topic
					for _, pp := range tp.Partitions {
						rp := kmsg.NewProduceResponseTopicPartition()
						rp.Partition = pp.Partition
						rp.ErrorCode = tc.code
						rt.Partitions = append(rt.Partitions, rp)
					}
					res.Topics = append(res.Topics, rt)
				}
				return res, nil, true
			})
			pub := newPublisher(t, stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers}})
			var msgs []pipeline.Message
			for i := 0; i < 10; i++ {
				msgs = append(msgs, pipeline.Message{Topic: "changes", Key: []byte("c-" + strconv.Itoa(i%3)), Value: []byte(strconv.Itoa(i))})
			}
			err := pub.Publish(ctx, msgs)
			if tc.want == nil && err != nil {
				t.Fatalf("publish: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("publish returned %v, want %v", err, tc.want)
			}
			mu.Lock()
			if calls != tc.wantCalls {
				t.Errorf("%d produce requests, want %d", calls, tc.wantCalls)
			}
			mu.Unlock()
			recs, err := testutil.ReadAll(ctx, brokers, "changes")
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil && len(recs) != len(msgs) {
				t.Fatalf("%d records written, want each of %d once", len(recs), len(msgs))
			}
			if tc.want != nil && len(recs) != 0 {
				t.Fatalf("%d records written although the broker refused them", len(recs))
			}
		})
	}
}
