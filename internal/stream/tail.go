// Reading the end of a topic: the most recent records of every partition,
// for the read API's list of recent change events. No consumer group is
// involved and nothing is committed.

package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// TailRecord is one record read from the end of a partition.
type TailRecord struct {
	Topic     string // the topic Tail or ReadRange was asked for
	Partition int    // kafka-go's int, not the pipeline's int32
	Offset    int64  // the record's own offset, below the partition's end offset
	// Time is the record's Kafka timestamp.
	Time  time.Time
	Key   []byte // nil for a null key
	Value []byte // nil for a null value, non-nil (maybe empty) otherwise
	// Headers are the record's headers, in order.
	Headers []kafka.Header
}

// tailFetchBytes bounds one fetch response; a partition's tail is read in
// as many fetches as it takes.
const tailFetchBytes = 1 << 20

// NewAdminClient is a kafka-go client for requests outside a consumer
// group (metadata, offsets, fetches), through transport when the brokers
// need TLS or SASL (nil: plaintext).
func NewAdminClient(brokers []string, transport *kafka.Transport) *kafka.Client {
	return newClient(brokers, transport)
}

// Tail returns up to n of the latest records of each partition of topic,
// oldest first within a partition. It asks the partitions' leaders for
// their first and end offsets and fetches from max(first, end − n), so a
// topic whose retention already deleted older records is read from what
// is left. Records of aborted transactions are not filtered (the service
// does not write transactionally).
func Tail(ctx context.Context, client *kafka.Client, topic string, n int) ([]TailRecord, error) {
	if n <= 0 {
		return nil, nil
	}
	parts, err := PartitionsVia(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets %s: %w", topic, err)
	}
	var out []TailRecord
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, po.Partition, po.Error)
		}
		from := max(po.FirstOffset, po.LastOffset-int64(n))
		if out, err = ReadRange(ctx, client, topic, po.Partition, from, po.LastOffset, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadRange appends to out the records of offsets [from, end) of one
// partition, read with the protocol-level Fetch: a null key or value stays
// nil, an empty one empty. Offsets the log no longer has are skipped.
func ReadRange(ctx context.Context, client *kafka.Client, topic string, partition int, from, end int64, out []TailRecord) ([]TailRecord, error) {
	for next := from; next < end; {
		res, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: next,
			MinBytes: 1, MaxBytes: tailFetchBytes, MaxWait: 100 * time.Millisecond})
		if err != nil {
			return out, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, next, err)
		}
		if res.Error != nil {
			return out, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, next, res.Error)
		}
		read := next
		for {
			rec, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return out, fmt.Errorf("fetch %s/%d@%d: record: %w", topic, partition, next, err)
			}
			// A fetch may start with the batch holding an earlier offset.
			if rec.Offset < next || rec.Offset >= end {
				continue
			}
			tr := TailRecord{Topic: topic, Partition: partition, Offset: rec.Offset, Time: rec.Time}
			for _, h := range rec.Headers {
				tr.Headers = append(tr.Headers, kafka.Header{Key: h.Key, Value: append([]byte(nil), h.Value...)})
			}
			if tr.Key, err = readAll(rec.Key); err == nil {
				tr.Value, err = readAll(rec.Value)
			}
			if err != nil {
				return out, fmt.Errorf("fetch %s/%d@%d: record %d: %w", topic, partition, next, rec.Offset, err)
			}
			out = append(out, tr)
			read = rec.Offset + 1
		}
		if read == next {
			// Nothing at or after next in this response: the offsets left
			// are gone (compaction, or transaction markers at the end).
			break
		}
		next = read
	}
	return out, nil
}

// readAll reads a record's key or value; nil stays nil.
func readAll(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return io.ReadAll(b)
}
