// Batches held back while the state could go wrong without a trace: an
// evicting Redis, an input log that is not the one the state was built
// from.

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestEvictingRedisHoldsBatchesBack: a Redis with a memory limit and an
// allkeys-* policy would delete customer state when full, without a
// trace. The service does not write to it: it reports not ready naming
// the policy, applies and commits nothing, and goes on by itself once the
// policy is made safe.
func TestEvictingRedisHoldsBatchesBack(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: allTopics})
	e := withRedis(&env{kafka: cluster, brokers: brokers},
		testutil.StartRedis(t, "--maxmemory", "200mb", "--maxmemory-policy", "allkeys-lru"))
	stop, addr := inProcess(t, e)
	defer stop()
	write(t, ctx, brokers, []kafka.Message{
		{Topic: settings.DefaultOrdersTopic, Key: []byte("c-1"), Value: orderValue("c-1", "e1", "2000.00")},
		{Topic: settings.DefaultOrdersTopic, Key: []byte("c-2"), Value: orderValue("c-2", "e2", "30.00")},
	})

	if err := waitFor(ctx, "/readyz to name the eviction policy", func() bool {
		return notReadyFor(t, addr(), "redis", "maxmemory-policy allkeys-lru")
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the batches' retries
	if n := e.rc.Exists(ctx, "ltv:{c-1}", "ltv:{c-2}").Val(); n != 0 {
		t.Fatalf("%d customers written to an evicting Redis", n)
	}
	if lag, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil || lag != 2 {
		t.Fatalf("lag %d (%v), want both orders uncommitted", lag, err)
	}

	if err := e.rc.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "the orders applied and committed, and ready", func() bool {
		lag, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic)
		return err == nil && lag == 0 && readyz(addr())
	}); err != nil {
		t.Fatal(err)
	}
	if tier := e.rc.HGet(ctx, "ltv:{c-1}", "tier").Val(); tier != "gold" {
		t.Fatalf("c-1's tier %q, want gold", tier)
	}
}

// notReadyFor reports whether the service at addr answers /readyz with 503
// and its check says what.
func notReadyFor(t *testing.T, addr, check, what string) bool {
	if addr == "" {
		return false
	}
	code, doc := testutil.GetJSON(t, "http://"+addr+"/readyz")
	checks, _ := doc["checks"].(map[string]any)
	said, _ := checks[check].(string)
	return code == 503 && strings.Contains(said, what)
}

// TestRecreatedInputTopicHoldsBatchesBack: an input topic deleted and
// created again numbers its records from 0, so against the state built
// from the old one its records would look applied already and be skipped
// without a trace. The service holds its batches back, not ready, naming
// the topic; rebuilt into an empty Redis, it reads the new log.
func TestRecreatedInputTopicHoldsBatchesBack(t *testing.T) {
	ctx := testutil.Context(t, 90*time.Second)
	e := newEnv(t, 2)
	orders := settings.DefaultOrdersTopic
	order := func(customer, id, amount string) kafka.Message {
		return kafka.Message{Topic: orders, Key: []byte(customer), Value: orderValue(customer, id, amount)}
	}
	caughtUp := func() bool {
		lag, err := testutil.Lag(ctx, e.brokers, settings.DefaultGroupID, orders)
		return err == nil && lag == 0
	}
	write(t, ctx, e.brokers, []kafka.Message{order("c-1", "e1", "2000.00")})
	stop, _ := inProcess(t, e)
	if err := waitFor(ctx, "c-1's first order applied and committed", func() bool {
		return caughtUp() && e.rc.Exists(ctx, "ltv:{c-1}").Val() == 1
	}); err != nil {
		t.Fatal(err)
	}
	stop()

	client := &kafka.Client{Addr: kafka.TCP(e.brokers...)}
	if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{orders}}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CreateTopic(ctx, e.brokers, orders, 2); err != nil {
		t.Fatal(err)
	}
	// c-1's next order: at an offset its offset guard has seen already.
	write(t, ctx, e.brokers, []kafka.Message{order("c-1", "e2", "500.00")})
	// Its batches wait for good: stopping it gives up on them after the
	// drain timeout.
	stop, addr := inProcess(t, e, "--drain-timeout", "1s")
	if err := waitFor(ctx, "/readyz to name the recreated topic", func() bool {
		return notReadyFor(t, addr(), "kafka", "topic orders is not the one the Redis state was built from")
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the batches' retries
	if revenue := e.rc.HGet(ctx, "ltv:{c-1}", "revenue").Val(); revenue != "2000.00" || caughtUp() {
		t.Fatalf("c-1's revenue %s, caught up %v: the new log's order was handled against the old log's state", revenue, caughtUp())
	}

	// Rebuild, as docs/operations.md says: consumers stopped, an empty
	// Redis, consumers started again.
	stop()
	if err := e.rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	_, addr = inProcess(t, e)
	if err := waitFor(ctx, "the new log applied, and ready", func() bool {
		return caughtUp() && readyz(addr())
	}); err != nil {
		t.Fatal(err)
	}
	if got := e.rc.HMGet(ctx, "ltv:{c-1}", "orders", "revenue").Val(); got[0] != "1" || got[1] != "500.00" {
		t.Fatalf("rebuilt c-1: orders, revenue = %v, want 1, 500.00 (the new log's order only)", got)
	}
}

// TestRenamedInputTopicHoldsBatchesBack: the offset guard tells input
// topics apart by name, so a state built from orders would count again,
// from orders-v2, any event it already counted. The service holds its
// batches back naming both topics; once the operator says the new topic
// holds only new events (DEL ltv:inputs), it goes on.
func TestRenamedInputTopicHoldsBatchesBack(t *testing.T) {
	ctx := testutil.Context(t, 90*time.Second)
	e := newEnv(t, 2)
	write(t, ctx, e.brokers, []kafka.Message{{Topic: settings.DefaultOrdersTopic, Key: []byte("c-1"), Value: orderValue("c-1", "e1", "2000.00")}})
	stop, _ := inProcess(t, e)
	if err := waitFor(ctx, "c-1's first order applied", func() bool { return e.rc.Exists(ctx, "ltv:{c-1}").Val() == 1 }); err != nil {
		t.Fatal(err)
	}
	stop()

	if err := testutil.CreateTopic(ctx, e.brokers, "orders-v2", 2); err != nil {
		t.Fatal(err)
	}
	write(t, ctx, e.brokers, []kafka.Message{{Topic: "orders-v2", Key: []byte("c-1"), Value: orderValue("c-1", "e2", "500.00")}})
	_, addr := inProcess(t, e, "--orders-topic", "orders-v2", "--drain-timeout", "1s")
	if err := waitFor(ctx, "/readyz to name the renamed input", func() bool {
		return notReadyFor(t, addr(), "kafka", "the orders input is now topic orders-v2")
	}); err != nil {
		t.Fatal(err)
	}
	if revenue := e.rc.HGet(ctx, "ltv:{c-1}", "revenue").Val(); revenue != "2000.00" {
		t.Fatalf("c-1's revenue %s while held back", revenue)
	}
	if err := e.rc.Del(ctx, "ltv:inputs").Err(); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "the new topic's order applied", func() bool {
		return e.rc.HGet(ctx, "ltv:{c-1}", "revenue").Val() == "2500.00" && readyz(addr())
	}); err != nil {
		t.Fatal(err)
	}
}
