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
		if addr() == "" {
			return false
		}
		code, doc := testutil.GetJSON(t, "http://"+addr()+"/readyz")
		checks, _ := doc["checks"].(map[string]any)
		redisCheck, _ := checks["redis"].(string)
		return code == 503 && strings.Contains(redisCheck, "maxmemory-policy allkeys-lru")
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
