// Kafka 4.0's protocol floor: the service's every request is one a Kafka
// 4.0 broker still accepts.

package e2e

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// kafka40Floor is the oldest version of each request a Kafka 4.0 broker
// accepts, where that is above v0: KIP-896 removed the versions older
// than Apache Kafka 2.1's clients used, and KIP-724 the produce versions
// of message formats v0 and v1. (4.1 took JoinGroup v0 and v1 back.)
var kafka40Floor = map[kmsg.Key]int16{
	kmsg.Produce:                 3,
	kmsg.Fetch:                   4,
	kmsg.ListOffsets:             1,
	kmsg.OffsetCommit:            2,
	kmsg.OffsetFetch:             1,
	kmsg.JoinGroup:               2,
	kmsg.SASLHandshake:           1,
	kmsg.CreateTopics:            2,
	kmsg.DeleteTopics:            1,
	kmsg.OffsetForLeaderEpoch:    2,
	kmsg.WriteTxnMarkers:         1,
	kmsg.DescribeACLs:            1,
	kmsg.CreateACLs:              1,
	kmsg.DeleteACLs:              1,
	kmsg.DescribeConfigs:         1,
	kmsg.AlterReplicaLogDirs:     1,
	kmsg.DescribeLogDirs:         1,
	kmsg.CreateDelegationToken:   1,
	kmsg.RenewDelegationToken:    1,
	kmsg.ExpireDelegationToken:   1,
	kmsg.DescribeDelegationToken: 1,
}

// protocolFloor makes a broker refuse requests below a floor the way Kafka
// does (it closes the connection), and records every request it saw.
type protocolFloor struct {
	mu      sync.Mutex
	seen    map[string]bool // "JoinGroup v2"
	refused []string
}

func installProtocolFloor(c *kfake.Cluster, floor map[kmsg.Key]int16) *protocolFloor {
	f := &protocolFloor{seen: map[string]bool{}}
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		key, version := kmsg.Key(req.Key()), req.GetVersion()
		name := fmt.Sprintf("%s v%d", key.Name(), version)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.seen[name] = true
		if min, ok := floor[key]; ok && version < min {
			f.refused = append(f.refused, name)
			return nil, fmt.Errorf("%s is below the floor v%d", name, min), true
		}
		return nil, nil, false
	})
	return f
}

// saw reports whether a request of the named API was seen since the last
// take.
func (f *protocolFloor) saw(api string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range f.seen {
		if strings.HasPrefix(name, api+" v") {
			return true
		}
	}
	return false
}

// refusedAny reports whether a request was refused since the last take.
func (f *protocolFloor) refusedAny() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.refused) > 0
}

// take returns what was seen and refused since the last take, and forgets
// it.
func (f *protocolFloor) take() (seen, refused []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range f.seen {
		seen = append(seen, name)
	}
	slices.Sort(seen)
	refused = f.refused
	f.seen, f.refused = map[string]bool{}, nil
	return seen, refused
}

// TestKafka40ProtocolFloor runs the whole service against a broker that
// speaks Kafka 4.0's versions and refuses, as 4.0 does, every request
// version KIP-896 removed: kafka-go's consumer group sends some requests
// at fixed old versions, and a single one below the floor would leave the
// service unable to join, fetch or commit. The run covers what the
// service and its tools send: the simulator's produce path, two instances
// joining one group and one leaving it (join, sync, heartbeat, offset
// fetch and commit, leave), fetching, publishing and dead-lettering, the
// lag and end-offset reads, and the read API's recent-changes feed.
func TestKafka40ProtocolFloor(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: 4, Topics: allTopics,
		Extra: []kfake.Opt{kfake.MaxVersions(kversion.V4_0_0())},
	})
	floor := installProtocolFloor(cluster, kafka40Floor)
	ctx := testutil.Context(t, 3*time.Minute)

	t.Run("a request below the floor is refused", func(t *testing.T) {
		// A client capped at JoinGroup v1, as kafka-go v0.4.47 was (the
		// version Kafka 4.0 users reported refused).
		old := kversion.V4_0_0()
		old.SetMaxKeyVersion(int16(kmsg.JoinGroup), 1)
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MaxVersions(old), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.ProtocolType = "floor-check", "consumer"
		join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 6000, 6000
		proto := kmsg.NewJoinGroupRequestProtocol()
		proto.Name = "range"
		join.Protocols = append(join.Protocols, proto)
		reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := join.RequestWith(reqCtx, cl); err == nil {
			t.Error("JoinGroup v1 answered, want the connection closed")
		}
		if _, refused := floor.take(); !slices.Contains(refused, "JoinGroup v1") {
			t.Fatalf("refused %v, want JoinGroup v1 among them", refused)
		}
	})

	e := withRedis(&env{kafka: cluster, brokers: brokers}, testutil.StartRedis(t))
	cfg := simConfig(8_000, 800)
	_, p := generate(t, cfg)
	records := simRecords(t, cfg)
	half := len(records) / 2
	sink, err := sim.NewKafkaSink(sim.KafkaConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	if err := sink.Check(ctx); err != nil {
		t.Fatal(err)
	}
	writeRecords := func(recs []sim.Record) {
		t.Helper()
		for _, r := range recs {
			if err := sink.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	writeRecords(records[:half])
	svcCfg := e.config(t)
	svcCfg.SessionTimeout = 3 * time.Second
	first := startService(t, svcCfg)
	startService(t, svcCfg)
	writeRecords(records[half:])
	// A refused request leaves the service retrying for good; the test
	// stops at the first.
	inputs := []string{settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic}
	if err := waitFor(ctx, "the group caught up", func() bool {
		lag, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, inputs...)
		return floor.refusedAny() || err == nil && lag == 0
	}); err != nil {
		t.Fatal(err)
	}
	if floor.refusedAny() {
		_, refused := floor.take()
		t.Fatalf("requests Kafka 4.0 refuses: %v", refused)
	}
	// Heartbeats go out every few seconds; a fast run can be over before
	// the first.
	if err := waitFor(ctx, "a heartbeat", func() bool { return floor.saw("Heartbeat") }); err != nil {
		t.Fatal(err)
	}
	first.stop(t) // leaves the group; the other instance takes its partitions
	if _, err := stream.EndOffsets(ctx, brokers, settings.DefaultChangesTopic); err != nil {
		t.Fatal(err)
	}
	feed, err := api.NewFeed(api.FeedConfig{
		Client: stream.NewAdminClient(brokers, nil),
		Topics: []string{settings.DefaultChangesTopic, settings.DefaultSegmentsTopic},
	})
	if err != nil {
		t.Fatal(err)
	}
	recent, err := feed.Recent(ctx, 5)
	if err != nil || len(recent.Events) != 5 {
		t.Fatalf("recent changes: %d events (%v), want 5", len(recent.Events), err)
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)

	// The run is only a check if the group's and the data's requests all
	// went through the floor.
	for _, api := range []string{"FindCoordinator", "JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup",
		"OffsetFetch", "OffsetCommit", "Fetch", "ListOffsets", "Produce", "Metadata"} {
		if !floor.saw(api) {
			t.Errorf("no %s request seen", api)
		}
	}
	seen, refused := floor.take()
	t.Logf("requests seen: %v", seen)
	if len(refused) > 0 {
		t.Errorf("requests Kafka 4.0 refuses: %v", refused)
	}
}

// simRecords are the simulator's records for cfg, in the order generate
// saw them.
func simRecords(t *testing.T, cfg sim.Config) []sim.Record {
	t.Helper()
	gen, err := sim.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []sim.Record
	for rec := range gen.All() {
		out = append(out, rec)
	}
	return out
}
