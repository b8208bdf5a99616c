package testutil_test

import (
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestStoppedBrokerLeavesNoMetadataLoop: once a test's broker is stopped,
// no metadata loop of the shared transports (the admin calls', kafka-go's
// default one) keeps dialling its ports, which later servers of the run
// reuse (a redis-server there was sent Kafka requests, and its replies
// decoded as Kafka responses).
func TestStoppedBrokerLeavesNoMetadataLoop(t *testing.T) {
	before := testutil.KafkaMetadataLoops()
	t.Run("broker", func(t *testing.T) {
		_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"t"}})
		ctx := testutil.Context(t, 30*time.Second)
		if _, err := stream.EndOffsets(ctx, brokers, "t"); err != nil {
			t.Fatal(err)
		}
		client := &kafka.Client{Addr: kafka.TCP(brokers...)} // kafka-go's default transport
		if _, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
		if n := testutil.KafkaMetadataLoops(); n < before+2 {
			t.Fatalf("%d metadata loops while the broker runs, want at least %d: the check below would prove nothing", n, before+2)
		}
	})
	// A loop ends once its context is cancelled; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.KafkaMetadataLoops() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := testutil.KafkaMetadataLoops(); n > before {
		t.Errorf("%d metadata loops left after the broker stopped (%d before it started)", n, before)
	}
}
