package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// scriptedTransport answers metadata for one topic of four partitions, led
// by brokers 1 and 2 in turn, and answers each produce request with the
// next of its scripted outcomes (the last one repeats), recording the
// requests and every record it acknowledged.
type scriptedTransport struct {
	mu       sync.Mutex
	outcomes []func(partition int32) (code int16, err error)
	requests int
	acked    map[string]int // "partition:value" → times acknowledged
}

func (s *scriptedTransport) RoundTrip(_ context.Context, _ net.Addr, req protocol.Message) (protocol.Message, error) {
	switch r := req.(type) {
	case *metadataAPI.Request:
		res := &metadataAPI.Response{Topics: []metadataAPI.ResponseTopic{{Name: "t"}}}
		for p := int32(0); p < 4; p++ {
			res.Topics[0].Partitions = append(res.Topics[0].Partitions, metadataAPI.ResponsePartition{PartitionIndex: p, LeaderID: 1 + p%2})
		}
		return res, nil
	case *produceAPI.Request:
		s.mu.Lock()
		defer s.mu.Unlock()
		outcome := s.outcomes[0]
		if len(s.outcomes) > 1 {
			s.outcomes = s.outcomes[1:]
		}
		s.requests++
		var acked []string
		res := &produceAPI.Response{}
		for _, tp := range r.Topics {
			rt := produceAPI.ResponseTopic{Topic: tp.Topic}
			for _, pp := range tp.Partitions {
				code, err := outcome(pp.Partition)
				if err != nil {
					return nil, err
				}
				for {
					rec, err := pp.RecordSet.Records.ReadRecord()
					if err != nil {
						break
					}
					v, _ := io.ReadAll(rec.Value)
					if code == 0 {
						acked = append(acked, strconv.Itoa(int(pp.Partition))+":"+string(v))
					}
				}
				rt.Partitions = append(rt.Partitions, produceAPI.ResponsePartition{Partition: pp.Partition, ErrorCode: code})
			}
			res.Topics = append(res.Topics, rt)
		}
		for _, a := range acked {
			s.acked[a]++
		}
		return res, nil
	}
	return nil, errors.New("unexpected request")
}

func scriptedProducer(tr *scriptedTransport, attempts int) *producer {
	p := newProducer(WriterConfig{Brokers: []string{"unused:9092"}, WriteTimeout: time.Second, MaxAttempts: attempts})
	p.transport = tr
	p.backoffMin, p.backoffMax = time.Millisecond, 2*time.Millisecond
	return p
}

func ok(int32) (int16, error) { return 0, nil }

// After a partial failure only the failed partitions are sent again, so
// the partitions that were acknowledged get no copies; a connection lost
// mid-request is retried; a permanent error or the last attempt ends it.
func TestProducerRetriesOnlyWhatFailed(t *testing.T) {
	failPartition2 := func(p int32) (int16, error) {
		if p == 2 {
			return int16(kafka.NotLeaderForPartition), nil
		}
		return 0, nil
	}
	lost := func(int32) (int16, error) { return 0, io.ErrUnexpectedEOF }
	tooLarge := func(int32) (int16, error) { return int16(kafka.MessageSizeTooLarge), nil }
	for _, tc := range []struct {
		name     string
		outcomes []func(int32) (int16, error)
		attempts int
		want     error
		requests int // produce requests sent, over both leaders
	}{
		{"all acknowledged", []func(int32) (int16, error){ok}, 3, nil, 2},
		{"one partition fails once", []func(int32) (int16, error){failPartition2, failPartition2, ok}, 3, nil, 3},
		{"connection lost once", []func(int32) (int16, error){lost, lost, ok}, 3, nil, 4},
		{"permanent error", []func(int32) (int16, error){tooLarge}, 3, kafka.MessageSizeTooLarge, 2},
		{"a permanent error beside a temporary one", []func(int32) (int16, error){func(p int32) (int16, error) {
			if p == 3 {
				return int16(kafka.MessageSizeTooLarge), nil
			}
			return failPartition2(p)
		}}, 3, kafka.MessageSizeTooLarge, 2},
		{"still failing at the last attempt", []func(int32) (int16, error){failPartition2}, 3, kafka.NotLeaderForPartition, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &scriptedTransport{outcomes: tc.outcomes, acked: map[string]int{}}
			p := scriptedProducer(tr, tc.attempts)
			var msgs []pipeline.Message
			for i := 0; i < 40; i++ {
				msgs = append(msgs, pipeline.Message{Topic: "t", Key: []byte("c-" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
			}
			err := p.produce(context.Background(), msgs)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("produce returned %v, want %v", err, tc.want)
			}
			if tr.requests != tc.requests {
				t.Fatalf("%d produce requests, want %d", tr.requests, tc.requests)
			}
			if tc.want != nil {
				return
			}
			if len(tr.acked) != len(msgs) {
				t.Fatalf("%d distinct messages acknowledged, want %d", len(tr.acked), len(msgs))
			}
			for rec, n := range tr.acked {
				if n != 1 {
					t.Fatalf("%s acknowledged %d times", rec, n)
				}
			}
		})
	}
}

// A cancelled context ends the backoff at once.
func TestProducerStopsRetryingWhenCancelled(t *testing.T) {
	tr := &scriptedTransport{acked: map[string]int{}, outcomes: []func(int32) (int16, error){func(int32) (int16, error) { return int16(kafka.NotLeaderForPartition), nil }}}
	p := scriptedProducer(tr, 100)
	p.backoffMin, p.backoffMax = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		done <- p.produce(ctx, []pipeline.Message{{Topic: "t", Key: []byte("c-1"), Value: []byte("v")}})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, kafka.NotLeaderForPartition) {
			t.Fatalf("produce returned %v, want the last broker error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("produce kept waiting after its context was cancelled")
	}
}
