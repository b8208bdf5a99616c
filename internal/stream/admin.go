package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// newClient is a kafka-go Client for admin requests, with the TLS/SASL
// transport when one is configured, else a plaintext one whose partition
// leaders are at most MetadataTTL old (kafka-go's default transport keeps
// them 6 s, so a leader move failed every admin request for that long).
func newClient(brokers []string, transport *kafka.Transport) *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: plainAdminTransport}
	if transport != nil {
		c.Transport = transport
	}
	return c
}

// plainAdminTransport is the plaintext admin functions' shared transport
// (one, so its connections and metadata are reused across calls).
var plainAdminTransport = &kafka.Transport{DialTimeout: defaultDialLimit, MetadataTTL: MetadataTTL}

// CloseIdleAdminConnections closes the shared admin transport's
// connections and ends its metadata loop for each cluster it has talked
// to. A process that talks to one cluster never needs it. One that talks
// to many in turn (the tests, each with a broker of its own) calls it when
// a cluster goes away: kafka-go keeps a pool per cluster whose loop dials
// the cluster's addresses every MetadataTTL for as long as the process
// lives, and whatever listens on such a port later (another test's
// redis-server) is sent Kafka requests and its replies decoded as Kafka
// responses. The next admin call opens a fresh pool.
func CloseIdleAdminConnections() { plainAdminTransport.CloseIdleConnections() }

// Partitions lists the partition numbers of a topic.
func Partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	return PartitionsVia(ctx, newClient(brokers, nil), topic)
}

// PartitionsVia lists the partition numbers of a topic through client.
func PartitionsVia(ctx context.Context, client *kafka.Client, topic string) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return nil, fmt.Errorf("metadata %s: %w", topic, t.Error)
			}
			var out []int
			for _, p := range t.Partitions {
				out = append(out, p.ID)
			}
			sort.Ints(out)
			return out, nil
		}
	}
	return nil, fmt.Errorf("topic %s not found", topic)
}

// EndOffsets returns the next offset to be written per partition.
func EndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	parts, err := Partitions(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	client := newClient(brokers, nil)
	// The end a read_committed reader (the consumer) can reach.
	req := &kafka.ListOffsetsRequest{IsolationLevel: kafka.ReadCommitted, Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	// A partition whose leader just moved is asked again once the
	// transport's leaders are fresh.
	for attempt := 0; ; attempt++ {
		out, err := listEnds(ctx, client, req, topic)
		if err == nil || !errors.Is(err, kafka.NotLeaderForPartition) || attempt == 3 {
			return out, err
		}
		if !sleepCtx(ctx, MetadataTTL) {
			return nil, err
		}
	}
}

func listEnds(ctx context.Context, client *kafka.Client, req *kafka.ListOffsetsRequest, topic string) (map[int]int64, error) {
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// GroupLag returns, summed over the topics, how many records the group has not
// committed yet (end offset − committed offset per partition).
func GroupLag(ctx context.Context, brokers []string, group string, topics ...string) (int64, error) {
	client := newClient(brokers, nil)
	var lag int64
	for _, topic := range topics {
		ends, err := EndOffsets(ctx, brokers, topic)
		if err != nil {
			return 0, err
		}
		var parts []int
		for p := range ends {
			parts = append(parts, p)
		}
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err != nil {
			return 0, fmt.Errorf("offset fetch: %w", err)
		}
		if res.Error != nil {
			return 0, fmt.Errorf("offset fetch: %w", res.Error)
		}
		committed := map[int]int64{}
		for _, p := range res.Topics[topic] {
			committed[p.Partition] = p.CommittedOffset
		}
		for p, end := range ends {
			c := committed[p]
			if c < 0 {
				c = 0
			}
			lag += end - c
		}
	}
	return lag, nil
}

// WaitCaughtUp polls until the group has committed every record of the
// topics, or ctx ends.
func WaitCaughtUp(ctx context.Context, brokers []string, group string, topics ...string) error {
	var last error
	for {
		lag, err := GroupLag(ctx, brokers, group, topics...)
		if err == nil && lag == 0 {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("lag %d", lag)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not caught up: %w", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
