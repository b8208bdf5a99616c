package sim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func newCluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

type readMsg struct {
	topic     string
	partition int
	offset    int64
	key       string
	value     string
	headers   map[string]string
}

// readAll reads every partition of the topics until want messages arrived.
func readAll(t *testing.T, ctx context.Context, brokers []string, topics []string, partitions int, want int) []readMsg {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var got []readMsg
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, topic := range topics {
		for p := range partitions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
				defer r.Close()
				for {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						return
					}
					h := map[string]string{}
					for _, x := range m.Headers {
						h[x.Key] = string(x.Value)
					}
					mu.Lock()
					got = append(got, readMsg{m.Topic, m.Partition, m.Offset, string(m.Key), string(m.Value), h})
					if len(got) == want {
						close(done)
					}
					mu.Unlock()
				}
			}()
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	if len(got) != want {
		t.Fatalf("read %d messages, want %d", len(got), want)
	}
	return got
}

func TestKafkaSink(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const partitions = 4
	brokers := newCluster(t, partitions, "sim-orders", "sim-lifecycle")
	sink, err := NewKafkaSink(KafkaConfig{
		Brokers: brokers, OrdersTopic: "sim-orders", LifecycleTopic: "sim-lifecycle", ChunkSize: 1000, LabelHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	cfg := faultyConfig(111, 4000, 300)
	cfg.ChurnRate = 0.9
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var written []Record
	src := &teeSource{src: FromGenerator(g), out: &written}
	st, err := Replay(ctx, src, sink, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 4000 || sink.Buffered() != 0 {
		t.Fatalf("wrote %d, %d still buffered", st.Records, sink.Buffered())
	}

	got := readAll(t, ctx, brokers, []string{"sim-orders", "sim-lifecycle"}, partitions, len(written))

	// Same multiset of (topic, key, value); labels in the headers.
	want := map[string]int{}
	perTopic := map[string]int{}
	for _, r := range written {
		topic := sink.TopicName(r.Topic)
		perTopic[topic]++
		want[topic+"\x00"+string(r.Key)+"\x00"+string(r.Value)+"\x00"+r.Label.String()]++
	}
	if perTopic["sim-lifecycle"] == 0 {
		t.Fatal("no lifecycle records written")
	}
	for _, m := range got {
		k := m.topic + "\x00" + m.key + "\x00" + m.value + "\x00" + m.headers["sim-label"]
		if want[k] == 0 {
			t.Fatalf("unexpected message %s/%d@%d key %s label %q", m.topic, m.partition, m.offset, m.key, m.headers["sim-label"])
		}
		want[k]--
		if m.headers["sim-label"] == "bad" && m.headers["sim-bad-reason"] == "" {
			t.Fatalf("bad record without sim-bad-reason")
		}
	}

	// One partition per key, the same partition number on both topics
	// (murmur2 over the same partition count), and per-key order kept.
	partOf := map[string]int{}
	perKey := map[string][]readMsg{}
	for _, m := range got {
		if p, ok := partOf[m.key]; ok && p != m.partition {
			t.Fatalf("key %s on partitions %d and %d", m.key, p, m.partition)
		}
		partOf[m.key] = m.partition
		perKey[m.topic+"/"+m.key] = append(perKey[m.topic+"/"+m.key], m)
	}
	wantOrder := map[string][]string{}
	for _, r := range written {
		k := sink.TopicName(r.Topic) + "/" + string(r.Key)
		wantOrder[k] = append(wantOrder[k], string(r.Value))
	}
	for k, msgs := range perKey {
		sortByOffset(msgs)
		for i, m := range msgs {
			if m.value != wantOrder[k][i] {
				t.Fatalf("%s: message %d out of order", k, i)
			}
		}
	}
	if len(partOf) < 50 {
		t.Fatalf("only %d keys", len(partOf))
	}
}

func sortByOffset(ms []readMsg) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].offset < ms[j-1].offset; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// teeSource remembers what it hands out.
type teeSource struct {
	src RecordSource
	out *[]Record
}

func (s *teeSource) Next() (Record, error) {
	r, err := s.src.Next()
	if err == nil {
		*s.out = append(*s.out, r)
	}
	return r, err
}

func TestKafkaSinkCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	brokers := newCluster(t, 1, "orders")
	tests := []struct {
		name string
		cfg  KafkaConfig
		want string
	}{
		{"missing topic", KafkaConfig{Brokers: brokers}, `topic "customer-lifecycle"`},
		{"unreachable", KafkaConfig{Brokers: []string{"127.0.0.1:1"}, WriteTimeout: 2 * time.Second}, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewKafkaSink(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Check(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
	if _, err := NewKafkaSink(KafkaConfig{}); err == nil {
		t.Fatal("no brokers must be an error")
	}
	s, err := NewKafkaSink(KafkaConfig{Brokers: brokers, LifecycleTopic: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if o, l := s.TopicName(TopicOrders), s.TopicName(TopicLifecycle); o != "orders" || l != "orders" {
		t.Fatalf("topic names %q, %q", o, l)
	}
}

// TestKafkaSinkWritesOversizedRecords: a record larger than the writer's
// batch cap goes out alone, in order with the records around it, when the
// topic accepts it; when the broker refuses it, the error says which
// setting to raise.
func TestKafkaSinkWritesOversizedRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := strings.Repeat("x", 2<<20)
	rec := func(value string) Record {
		return Record{Topic: TopicOrders, Key: []byte("c-1"), Value: []byte(value), Label: LabelValid}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "customer-lifecycle"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4194304"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sink, err := NewKafkaSink(KafkaConfig{Brokers: c.ListenAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for _, v := range []string{"first", big, "last"} {
		if err := sink.Write(ctx, rec(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, ctx, c.ListenAddrs(), []string{"orders"}, 1, 3)
	sortByOffset(got)
	if got[0].value != "first" || len(got[1].value) != len(big) || got[2].value != "last" {
		t.Fatalf("records out of order or cut: %q, %d bytes, %q", got[0].value, len(got[1].value), got[2].value)
	}

	// A broker with the default limit refuses it, with a hint.
	small := newCluster(t, 1, "orders", "customer-lifecycle")
	sink2, err := NewKafkaSink(KafkaConfig{Brokers: small})
	if err != nil {
		t.Fatal(err)
	}
	defer sink2.Close()
	if err := sink2.Write(ctx, rec(big)); err == nil || !strings.Contains(err.Error(), "max.message.bytes") {
		t.Fatalf("write of %d bytes to a default broker: %v; want an error naming max.message.bytes", len(big), err)
	}
}

// TestKafkaSinkLargeChunkSize: a chunk size far beyond what a stream holds
// (producer-sim --chunk 2000000000) only means "flush at the end": the sink
// must not reserve memory for it up front, which crashed the program.
func TestKafkaSinkLargeChunkSize(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	brokers := newCluster(t, 2, "orders", "customer-lifecycle")
	for _, size := range []int{2_000_000_000, 1 << 40, 1<<63 - 1} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			s, err := NewKafkaSink(KafkaConfig{Brokers: brokers, ChunkSize: size})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 3 {
				id := fmt.Sprintf("c-%06d", i)
				if err := s.Write(ctx, Record{Topic: TopicOrders, Key: []byte(id), Value: []byte(`{}`), Label: LabelValid}); err != nil {
					t.Fatal(err)
				}
			}
			if n := s.Buffered(); n != 3 {
				t.Fatalf("%d records buffered, want 3", n)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
