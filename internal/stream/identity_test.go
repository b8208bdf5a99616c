package stream_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestLogIdentity: a topic keeps its id while it lives, a topic deleted
// and created again under the same name gets a new one, another cluster's
// topic of the same name has another id, and a missing topic has none.
func TestLogIdentity(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"orders", "customer-lifecycle"}})
	_, otherBrokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"orders"}})
	var sec stream.Security
	identity := func(brokers []string) stream.LogIdentity {
		t.Helper()
		id, err := sec.LogIdentity(ctx, brokers, []string{"orders", "customer-lifecycle", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := identity(brokers)
	if len(first.TopicIDs["orders"]) != 32 || len(first.TopicIDs["customer-lifecycle"]) != 32 || first.TopicIDs["orders"] == first.TopicIDs["customer-lifecycle"] {
		t.Fatalf("topic ids %v, want two different 128-bit ids", first.TopicIDs)
	}
	if id, ok := first.TopicIDs["missing"]; !ok || id != "" {
		t.Fatalf("missing topic's id %q (listed %v), want listed and empty", id, ok)
	}
	if again := identity(brokers); again.TopicIDs["orders"] != first.TopicIDs["orders"] || again.ClusterID != first.ClusterID {
		t.Fatalf("identity changed without a change: %+v then %+v", first, again)
	}
	if other := identity(otherBrokers); other.TopicIDs["orders"] == first.TopicIDs["orders"] {
		t.Fatalf("another cluster's orders has the same id %s", other.TopicIDs["orders"])
	}

	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CreateTopic(ctx, brokers, "orders", 2); err != nil {
		t.Fatal(err)
	}
	recreated := identity(brokers)
	if recreated.TopicIDs["orders"] == first.TopicIDs["orders"] || len(recreated.TopicIDs["orders"]) != 32 {
		t.Fatalf("recreated orders has id %q, was %q", recreated.TopicIDs["orders"], first.TopicIDs["orders"])
	}
	if recreated.TopicIDs["customer-lifecycle"] != first.TopicIDs["customer-lifecycle"] {
		t.Fatal("the other topic's id changed")
	}
}
