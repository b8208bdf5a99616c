package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/segmentio/kafka-go"
)

// nullResolver tells a null key or value from an empty one. kafka-go's
// fetch decoding hands out nil for both, but a dead letter must keep a null value
// null and an empty one empty (SPEC §2), and its key as it was. Only
// records with a nil key or value are looked up again, with the
// protocol-level Fetch, which keeps the difference; a valid event always
// has both, so the hot path never pays for it.
type nullResolver struct {
	client *kafka.Client
}

func newNullResolver(brokers []string, transport *kafka.Transport) *nullResolver {
	return &nullResolver{client: newClient(brokers, transport)}
}

// emptyNotNull is the non-nil empty slice that marks an empty key or value.
var emptyNotNull = []byte{}

// resolve replaces, in place, each nil Key or Value of records whose
// stored key or value is empty (not null) by a non-nil empty slice. It is
// idempotent: a record already resolved has no nil left to look up.
func (n *nullResolver) resolve(ctx context.Context, records []pipeline.Record) error {
	type tp struct {
		topic     string
		partition int32
	}
	todo := map[tp][]int{} // indexes into records, in offset order per partition
	for i := range records {
		r := &records[i]
		if r.Key == nil || r.Value == nil {
			k := tp{r.Topic, r.Partition}
			todo[k] = append(todo[k], i)
		}
	}
	for k, idx := range todo {
		slices.SortFunc(idx, func(a, b int) int { return int(records[a].Offset - records[b].Offset) })
		if err := n.resolvePartition(ctx, k.topic, int(k.partition), records, idx); err != nil {
			return err
		}
	}
	return nil
}

// resolvePartition fetches from the lowest unresolved offset until every
// record in idx is found.
func (n *nullResolver) resolvePartition(ctx context.Context, topic string, partition int, records []pipeline.Record, idx []int) error {
	for len(idx) > 0 {
		want := records[idx[0]].Offset
		res, err := n.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: topic, Partition: partition, Offset: want,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err != nil {
			return fmt.Errorf("fetch %s/%d@%d to tell null from empty: %w", topic, partition, want, err)
		}
		if res.Error != nil {
			return fmt.Errorf("fetch %s/%d@%d to tell null from empty: %w", topic, partition, want, res.Error)
		}
		progressed := false
		for len(idx) > 0 {
			rec, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s/%d@%d to tell null from empty: %w", topic, partition, want, err)
			}
			r := &records[idx[0]]
			if rec.Offset < r.Offset {
				continue
			}
			if rec.Offset == r.Offset {
				if r.Key == nil && rec.Key != nil {
					r.Key = emptyNotNull
				}
				if r.Value == nil && rec.Value != nil {
					r.Value = emptyNotNull
				}
			}
			// A record past the wanted offset means the wanted one is gone
			// (compacted away): leave it as the reader gave it.
			for len(idx) > 0 && records[idx[0]].Offset <= rec.Offset {
				idx = idx[1:]
				progressed = true
			}
		}
		if !progressed {
			return fmt.Errorf("fetch %s/%d@%d to tell null from empty: the broker returned no record at or after it", topic, partition, want)
		}
	}
	return nil
}
