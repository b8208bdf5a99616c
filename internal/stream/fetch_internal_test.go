package stream

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
	"go.uber.org/zap"
)

// Producers of the transaction tests.
const producerP, producerQ, producerR = 7, 8, 9

func records(offsets ...int64) protocol.RecordReader {
	rs := make([]protocol.Record, len(offsets))
	for i, o := range offsets {
		rs[i] = protocol.Record{Offset: o, Key: protocol.NewBytes([]byte("k")), Value: protocol.NewBytes([]byte(`{}`))}
	}
	return protocol.NewRecordReader(rs...)
}

// data is a record batch of producer at offsets; transactional marks it as
// written in a transaction.
func data(producer int64, transactional bool, offsets ...int64) *protocol.RecordBatch {
	var a protocol.Attributes
	if transactional {
		a |= protocol.Transactional
	}
	return &protocol.RecordBatch{Attributes: a, BaseOffset: offsets[0], ProducerID: producer, Records: records(offsets...)}
}

// marker is a transaction marker (commit or abort: the consumer does not
// read which) of producer at offset.
func marker(producer, offset int64) *protocol.ControlBatch {
	return &protocol.ControlBatch{Attributes: protocol.Transactional | protocol.Control, BaseOffset: offset,
		ProducerID: producer, Records: records(offset)}
}

// collect empties q: the offsets handed on to be handled, and those only
// to be committed.
func collect(q chan kafka.Message) (handled, skippedOffsets []int64) {
	for {
		select {
		case m := <-q:
			if skipped(&m) {
				skippedOffsets = append(skippedOffsets, m.Offset)
			} else {
				handled = append(handled, m.Offset)
			}
		default:
			return handled, skippedOffsets
		}
	}
}

// TestHandOnReadsCommitted gives handOn fetch responses as a broker sends
// them to a read_committed reader (AbortedTransactions lists every aborted
// transaction whose abort marker is at or after the fetch offset) and
// checks which offsets are handled, which only committed, and where the
// next fetch starts.
func TestHandOnReadsCommitted(t *testing.T) {
	type aborted = fetchAPI.ResponseTransaction
	cases := []struct {
		name    string
		from    int64
		batches []protocol.RecordReader
		aborted []aborted
		handled []int64
		skipped []int64
		next    int64
	}{
		{"plain records from the middle of a batch", 2,
			[]protocol.RecordReader{data(-1, false, 0, 1, 2, 3)}, nil, []int64{2, 3}, nil, 4},
		{"an aborted then a committed transaction", 0,
			[]protocol.RecordReader{data(producerP, true, 0, 1), marker(producerP, 2), data(producerP, true, 3, 4), marker(producerP, 5)},
			[]aborted{{ProducerID: producerP, FirstOffset: 0}}, []int64{3, 4}, []int64{0, 1, 2, 5}, 6},
		{"fetched from the abort marker: the listed transaction has ended there", 2,
			[]protocol.RecordReader{marker(producerP, 2), data(producerP, true, 3, 4), marker(producerP, 5)},
			[]aborted{{ProducerID: producerP, FirstOffset: 0}}, []int64{3, 4}, []int64{2, 5}, 6},
		{"fetched from the abort marker, another producer's records next", 2,
			[]protocol.RecordReader{marker(producerP, 2), data(producerQ, false, 3), data(producerP, true, 4), marker(producerP, 5)},
			[]aborted{{ProducerID: producerP, FirstOffset: 0}}, []int64{3, 4}, []int64{2, 5}, 6},
		{"fetched from the middle of an aborted transaction", 1,
			[]protocol.RecordReader{data(producerP, true, 0, 1), data(producerQ, false, 2), data(producerP, true, 3), marker(producerP, 4)},
			[]aborted{{ProducerID: producerP, FirstOffset: 0}}, []int64{2}, []int64{1, 3, 4}, 5},
		{"producers interleaved, two aborted, listed out of order", 0,
			[]protocol.RecordReader{
				data(producerR, true, 0), data(producerP, true, 1), data(producerQ, true, 2), data(producerP, true, 3),
				marker(producerQ, 4), marker(producerP, 5), data(producerR, true, 6), marker(producerR, 7), data(producerP, true, 8),
			},
			[]aborted{{ProducerID: producerP, FirstOffset: 1}, {ProducerID: producerR, FirstOffset: 0}},
			[]int64{2, 8}, []int64{0, 1, 3, 4, 5, 6, 7}, 9},
		{"the same producer aborts again later", 0,
			[]protocol.RecordReader{data(producerP, true, 0), marker(producerP, 1), data(producerP, true, 2), marker(producerP, 3),
				data(producerP, true, 4), marker(producerP, 5)},
			[]aborted{{ProducerID: producerP, FirstOffset: 0}, {ProducerID: producerP, FirstOffset: 4}},
			[]int64{2}, []int64{0, 1, 3, 4, 5}, 6},
		{"records compacted between batches", 5,
			[]protocol.RecordReader{data(-1, false, 10, 11), data(-1, false, 20, 22)}, nil, []int64{10, 11, 20, 22}, nil, 23},
		{"nothing at or after the offset: no progress", 3,
			[]protocol.RecordReader{data(-1, false, 0, 1)}, nil, nil, nil, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Consumer{}
			q := make(chan kafka.Message, 100)
			next, _, ok := c.handOn(context.Background(), "orders", 0, tc.from, 100, tc.batches, tc.aborted, newLaneBudget(100), q)
			handled, skippedOffsets := collect(q)
			if !ok || next != tc.next || !slices.Equal(handled, tc.handled) || !slices.Equal(skippedOffsets, tc.skipped) {
				t.Errorf("next %d (ok %v), handled %v, committed only %v; want next %d, handled %v, committed only %v",
					next, ok, handled, skippedOffsets, tc.next, tc.handled, tc.skipped)
			}
		})
	}
}

// scriptedBroker answers fetches from a log of batches: a response holds
// the batches from the one whose offsets (lasts[i] is batch i's last)
// include the fetch offset on, as many as fit in the partition's byte
// bound, counting each batch as batchBytes.
type scriptedBroker struct {
	mu         sync.Mutex
	log        []func() protocol.RecordReader
	lasts      []int64
	batchBytes int
	sizes      []int32 // the bound of every fetch
	offsets    []int64 // the offset of every fetch
}

func (b *scriptedBroker) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := req.(*fetchAPI.Request)
	p := f.Topics[0].Partitions[0]
	b.sizes = append(b.sizes, p.PartitionMaxBytes)
	b.offsets = append(b.offsets, p.FetchOffset)
	var out []protocol.RecordReader
	for i, last := range b.lasts {
		if last < p.FetchOffset {
			continue
		}
		// KIP-74: the first batch comes whole, whatever the bound.
		if len(out) > 0 && (len(out)+1)*b.batchBytes > int(p.PartitionMaxBytes) {
			break
		}
		out = append(out, b.log[i]())
	}
	return &fetchAPI.Response{Topics: []fetchAPI.ResponseTopic{{Topic: f.Topics[0].Topic, Partitions: []fetchAPI.ResponsePartition{{
		Partition: p.Partition, HighWatermark: 100, LastStableOffset: 100,
		RecordSet: protocol.RecordSet{Version: 2, Records: &protocol.RecordStream{Records: out}},
	}}}}}, nil
}

// TestFetchGrowsPastACompactedBatchEnd: a batch whose last records
// compaction removed gives a fetch from after them nothing, and kafka-go
// does not say where the batch ended. The fetcher asks for more until the
// response reaches the next batch, then goes on with the usual bound.
func TestFetchGrowsPastACompactedBatchEnd(t *testing.T) {
	const bound = 1 << 10
	broker := &scriptedBroker{
		// Batch 0 held offsets 0-9; 5-9 were compacted away.
		log: []func() protocol.RecordReader{
			func() protocol.RecordReader { return data(-1, false, 0, 1, 2, 3, 4) },
			func() protocol.RecordReader { return data(-1, false, 10, 11) },
		},
		lasts: []int64{9, 11}, batchBytes: 3 * bound,
	}
	c := &Consumer{cfg: ConsumerConfig{MaxFetchBytes: bound, MaxWait: 10 * time.Millisecond, Logger: zap.NewNop()}, fetches: broker}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := make(chan kafka.Message, 100)
	done := make(chan int64)
	go func() {
		next, _, _ := c.readPartition(ctx, "orders", 0, 5, newLaneBudget(100), q, func() {})
		done <- next
	}()
	var got []int64
	for len(got) < 2 {
		select {
		case m := <-q:
			got = append(got, m.Offset)
		case <-time.After(5 * time.Second):
			t.Fatalf("stalled at the compacted batch end: fetch bounds %v", broker.sizes)
		}
	}
	if !slices.Equal(got, []int64{10, 11}) {
		t.Fatalf("handed on %v, want [10 11]", got)
	}
	// The fetch after the progress, from 12, asks with the usual bound.
	deadline := time.Now().Add(5 * time.Second)
	for {
		broker.mu.Lock()
		i := slices.Index(broker.offsets, 12)
		sizes := slices.Clone(broker.sizes)
		broker.mu.Unlock()
		if i >= 0 {
			if len(sizes) < 4 || sizes[0] != bound || sizes[1] != 2*bound || sizes[2] != 4*bound || sizes[i] != bound {
				t.Errorf("fetch bounds %v, want %d doubling until the next batch fits, then %d again", sizes, bound, bound)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fetch from offset 12 after the progress: bounds %v", sizes)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}
