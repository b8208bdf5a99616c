package testutil

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	t.Cleanup(func() {
		c.Close()
		// The shared transports would keep a metadata loop dialling this
		// cluster's ports for the rest of the run; other tests' pools are
		// simply opened again.
		CloseSharedKafkaTransports()
	})
	return c, c.ListenAddrs()
}

// CloseSharedKafkaTransports closes the idle connections, and so the
// per-cluster metadata loops, of the process-wide kafka-go transports: the
// admin calls' (stream.CloseIdleAdminConnections) and kafka-go's default
// one, behind every Client and Writer without a transport of their own.
func CloseSharedKafkaTransports() {
	stream.CloseIdleAdminConnections()
	if tr, ok := kafka.DefaultTransport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// KafkaMetadataLoops counts kafka-go's per-cluster metadata loops in this
// process: a Transport's connection pool for a cluster runs one until the
// transport's idle connections are closed, dialling the cluster every
// MetadataTTL. A test that stops a cluster, or a component that stops
// talking to it, must leave none behind: a loop outliving its cluster
// dials the port whatever listens there later, and decodes a
// redis-server's replies as Kafka responses (array lengths read from
// text, allocations of gigabytes).
func KafkaMetadataLoops() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "(*connPool).discover(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// EvictDeadMembers removes from a consumer group the members whose client
// id dead reports as belonging to a process that no longer runs, which a
// real broker's session timeout does by itself. kfake misses that for a
// member killed after its JoinGroup response and before its SyncGroup: the
// leader's sync stops the only timer that would have removed it, so the
// dead member keeps its partitions and the group never catches up (seen in
// TestChaos, with SIGKILLs during rebalances). It returns the client ids of
// the members it removed.
func EvictDeadMembers(ctx context.Context, brokers []string, group string, dead func(clientID string) bool) ([]string, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("describe group: %w", err)
	}
	var gone []kafka.LeaveGroupRequestMember
	var names []string
	for _, g := range res.Groups {
		if g.Error != nil {
			return nil, fmt.Errorf("describe group: %w", g.Error)
		}
		for _, m := range g.Members {
			if dead(m.ClientID) {
				gone = append(gone, kafka.LeaveGroupRequestMember{ID: m.MemberID})
				names = append(names, m.ClientID)
			}
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	lres, err := client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: group, Members: gone})
	if err != nil {
		return nil, fmt.Errorf("leave group: %w", err)
	}
	if lres.Error != nil {
		return nil, fmt.Errorf("leave group: %w", lres.Error)
	}
	return names, nil
}

// RefuseDescribeConfigs makes c answer every DescribeConfigs request for
// which refuse returns true with TOPIC_AUTHORIZATION_FAILED for each
// resource asked about (a client without the permission); the others are
// answered as usual.
func RefuseDescribeConfigs(c *kfake.Cluster, refuse func() bool) {
	c.ControlKey(int16(kmsg.DescribeConfigs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse() {
			return nil, nil, false
		}
		r := req.(*kmsg.DescribeConfigsRequest)
		resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, rr := range r.Resources {
			res := kmsg.NewDescribeConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			res.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Resources = append(resp.Resources, res)
		}
		return resp, nil, true
	})
}
