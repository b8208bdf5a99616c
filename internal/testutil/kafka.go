package testutil

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaConfig configures an in-process Kafka-protocol broker cluster.
type KafkaConfig struct {
	Brokers    int      // default 1
	Partitions int      // default 6
	Topics     []string // created at start
	// Extra are further kfake options (SASL users, TLS).
	Extra []kfake.Opt
}

// StartKafka starts a kfake cluster reachable over real TCP on loopback, so
// kafka-go speaks the real wire protocol to it. It returns the bootstrap
// addresses; the cluster is closed at cleanup.
func StartKafka(t testing.TB, cfg KafkaConfig) (*kfake.Cluster, []string) {
	t.Helper()
	if cfg.Brokers <= 0 {
		cfg.Brokers = 1
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(cfg.Partitions), cfg.Topics...))
	}
	opts = append(opts, cfg.Extra...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}
