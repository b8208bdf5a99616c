// Package e2e runs the real service (internal/service, the code the
// consumer binary runs) against a real redis-server and a Kafka-protocol
// broker over TCP, feeds it a simulated stream with duplicates, late events
// and bad records, and checks the outcome against an independent
// recomputation (internal/oracle).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// allTopics are the topics every test broker starts with.
var allTopics = []string{settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic, settings.DefaultChangesTopic, settings.DefaultSegmentsTopic, settings.DefaultDLQTopic}

// env is one test's servers.
type env struct {
	kafka   *kfake.Cluster
	brokers []string
	// redis is the standalone server (nil on a Redis Cluster env), for
	// tests that stop and restart it.
	redis *testutil.RedisServer
	// redisURL is LTV_REDIS_URL; rc reads the state for the checks.
	redisURL string
	rc       redis.UniversalClient
	// segments is the SPEC §8 thresholds the services under test were
	// configured with, for the segment checks; zero means SPEC §7's
	// defaults.
	segments segmentRule
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: partitions, Topics: allTopics,
	})
	return withRedis(&env{kafka: cluster, brokers: brokers}, testutil.StartRedis(t))
}

// withRedis points e at a standalone redis-server.
func withRedis(e *env, rs *testutil.RedisServer) *env {
	e.redis, e.redisURL, e.rc = rs, rs.URL(), rs.Client()
	return e
}

// newClusterEnv is a Kafka-protocol cluster of kafkaBrokers brokers and a
// real Redis Cluster of redisMasters masters.
func newClusterEnv(t *testing.T, partitions, kafkaBrokers, redisMasters int) *env {
	t.Helper()
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Brokers: kafkaBrokers, Partitions: partitions,
		Topics: allTopics,
	})
	rc := testutil.StartRedisCluster(t, redisMasters)
	return &env{kafka: cluster, brokers: brokers, redisURL: rc.URL(), rc: rc.Client()}
}

// config is the service's configuration for e's servers: brokers and
// Redis from the environment, the HTTP server on a free port, and the
// further flags args.
func (e *env) config(t *testing.T, args ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load(append([]string{"--http-addr", "127.0.0.1:0"}, args...), func(k string) string {
		switch k {
		case "LTV_KAFKA_BROKERS":
			return joinComma(e.brokers)
		case "LTV_REDIS_URL":
			return e.redisURL
		}
		return ""
	}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// running is a service started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	// stopWithin is how long stop waits for a clean exit.
	stopWithin time.Duration
}

func startService(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	return startServiceWith(t, cfg, service.Options{}, 30*time.Second)
}

// startServiceWith is startService with the service's options (a nil
// Logger: none, or a development logger with -v and LTV_TEST_LOGS set)
// and how long stopping it may take.
func startServiceWith(t *testing.T, cfg *config.Config, opts service.Options, stopWithin time.Duration) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), stopWithin: stopWithin}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
		if testing.Verbose() && os.Getenv("LTV_TEST_LOGS") != "" {
			opts.Logger, _ = zap.NewDevelopment()
		}
	}
	go func() { r.done <- service.Run(ctx, cfg, opts) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the service (as SIGTERM does) and waits for a clean exit.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("service exited with error: %v", err)
		}
	case <-time.After(r.stopWithin):
		t.Errorf("service did not stop within %s", r.stopWithin)
	}
}

// produced is what the simulator sent, kept for the checks.
type produced struct {
	valid []sim.Record // valid, late and duplicate records
	bad   []sim.Record
}

// generate runs the simulator and converts its records to Kafka messages.
func generate(t *testing.T, cfg sim.Config) ([]kafka.Message, produced) {
	t.Helper()
	gen, err := sim.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	var p produced
	for rec := range gen.All() {
		topic := rec.Topic.String() // SPEC §1's default names
		msgs = append(msgs, kafka.Message{Topic: topic, Key: rec.Key, Value: rec.Value})
		if rec.Label == sim.LabelBad {
			p.bad = append(p.bad, rec)
		} else {
			p.valid = append(p.valid, rec)
		}
	}
	return msgs, p
}

// write produces msgs with a keyed, fully acknowledged writer.
func write(t *testing.T, ctx context.Context, brokers []string, msgs []kafka.Message) {
	t.Helper()
	if err := writeE(ctx, brokers, msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// writeE is write for goroutines other than the test's (which must not
// call t.Fatal).
func writeE(ctx context.Context, brokers []string, msgs []kafka.Message) error {
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: 2000,
	}
	defer w.Close()
	for i := 0; i < len(msgs); i += 10000 {
		if err := w.WriteMessages(ctx, msgs[i:min(i+10000, len(msgs))]...); err != nil {
			return err
		}
	}
	return nil
}

// produce generates and writes a whole stream.
func produce(t *testing.T, ctx context.Context, brokers []string, cfg sim.Config) produced {
	t.Helper()
	msgs, p := generate(t, cfg)
	write(t, ctx, brokers, msgs)
	return p
}

// check compares Redis, the change topic and the DLQ with the oracle.
//
// dlqExactlyOnce demands each bad record in the DLQ exactly once; it holds
// for graceful stops and restarts. Rebalances while work is in flight may
// legitimately dead-letter a record twice (the DLQ is at-least-once).
func check(t *testing.T, ctx context.Context, e *env, p produced, tiers []tierDef, hysteresis *big.Rat, dlqExactlyOnce bool) segmentOutcome {
	t.Helper()
	o := oracleOf(t, p)
	rc := e.rc
	customers := o.Customers()
	mismatches := 0
	storedTier := map[string]string{}
	for _, id := range customers {
		exp, _ := o.Expect(id)
		h, err := rc.HGetAll(ctx, "ltv:{"+id+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		for field, want := range exp.Fields {
			if got := h[field]; got != want {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("customer %s field %s = %q, want %q", id, field, got, want)
				}
			}
		}
		for _, f := range []string{"first_order_at", "last_order_at"} {
			if _, ok := exp.Fields[f]; !ok && h[f] != "" {
				t.Errorf("customer %s has %s %q without orders", id, f, h[f])
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, h["updated_at"]); err != nil {
			t.Errorf("customer %s updated_at %q: %v", id, h["updated_at"], err)
		}
		storedTier[id] = h["tier"]
		if !tierConsistent(tiers, hysteresis, exp.LTV, h["tier"]) {
			t.Errorf("customer %s tier %q is inconsistent with ltv %s", id, h["tier"], h["ltv"])
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d field mismatches over %d customers", mismatches, len(customers))
	}

	// Change chains: start at "", unbroken, end at the stored tier; copies
	// only as exact re-emissions.
	chain, published := readChains(ctx, t, e.brokers, settings.DefaultChangesTopic, aggregate.SchemaChange)
	for _, id := range customers {
		cs := chain[id]
		if storedTier[id] == "" && len(cs) == 0 {
			continue
		}
		if len(cs) == 0 {
			t.Errorf("customer %s has tier %q but no change events", id, storedTier[id])
			continue
		}
		prev := ""
		for _, c := range cs {
			if c.PreviousTier != prev {
				t.Errorf("customer %s chain broken: %q then %q→%q", id, prev, c.PreviousTier, c.Tier)
			}
			prev = c.Tier
		}
		if prev != storedTier[id] {
			t.Errorf("customer %s chain ends at %q, stored tier %q", id, prev, storedTier[id])
		}
	}

	// DLQ: every bad record once, unchanged, with a reason and its source.
	dlq, err := testutil.ReadAll(ctx, e.brokers, settings.DefaultDLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range dlq {
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if h["error"] == "" || h["topic"] == "" || h["partition"] == "" || h["offset"] == "" {
			t.Errorf("DLQ record without full headers: %v", h)
		}
		if _, err := strconv.Atoi(h["partition"]); err != nil {
			t.Errorf("DLQ partition header %q", h["partition"])
		}
		seen[h["topic"]+"/"+h["partition"]+"/"+h["offset"]]++
		seen["value:"+string(m.Value)]++
	}
	for _, b := range p.bad {
		if seen["value:"+string(b.Value)] == 0 {
			t.Errorf("bad record missing from the DLQ (%s): %q", b.BadReason, b.Value)
		}
	}
	for k, n := range seen {
		if dlqExactlyOnce && n > 1 && k[:6] != "value:" {
			t.Errorf("DLQ holds source %s %d times", k, n)
		}
	}
	if dlqExactlyOnce && len(dlq) != len(p.bad) {
		t.Errorf("DLQ has %d records, %d bad records were produced", len(dlq), len(p.bad))
	}
	t.Logf("checked %d customers, %d change events (%d distinct), %d dead letters", len(customers), published.total, published.distinct, len(dlq))
	return checkSegments(t, ctx, e, p, o, settings.DefaultSegmentsTopic)
}

// cloudEvents checks the CloudEvents headers of the change events of a
// topic: valid and matching the body on every message, and the same on
// every copy of an event (a re-emission after a crash or a redelivery).
type cloudEvents map[string]map[string]string // ce_id → headers

// check checks one message, and reports whether it was a copy.
func (ce cloudEvents) check(t *testing.T, m kafka.Message) bool {
	t.Helper()
	pairs := make([][2]string, len(m.Headers))
	for i, h := range m.Headers {
		pairs[i] = [2]string{h.Key, string(h.Value)}
	}
	h, err := testutil.CheckCloudEvent(pairs, m.Key, m.Value, pipeline.EventSourceFor(settings.DefaultGroupID))
	if err != nil {
		t.Errorf("%s offset %d/%d: %v", m.Topic, m.Partition, m.Offset, err)
		return false
	}
	first, copied := ce[h["ce_id"]]
	if !copied {
		ce[h["ce_id"]] = h
	} else if diff := testutil.SameHeaders(first, h); diff != "" {
		t.Errorf("%s: a copy of %s carries other headers: %s", m.Topic, h["ce_id"], diff)
	}
	return copied
}

// oracleOf is the oracle of the valid records, added in the order they
// were produced.
func oracleOf(t *testing.T, p produced) *oracle.Oracle {
	t.Helper()
	o := oracle.New(oracle.Params{})
	for _, r := range p.valid {
		if err := o.Add(r.Value); err != nil {
			t.Fatalf("oracle rejects a record the simulator calls valid: %v: %s", err, r.Value)
		}
	}
	return o
}

// published counts a topic's events: all copies, and distinct event ids.
type published struct{ total, distinct int }

// readChains reads every event on an output topic and returns each
// customer's distinct events in publication order. It fails the test on an
// event that is not JSON of the given schema or is keyed by another
// customer or on another partition than the customer's other events, and reports an event_id published twice with different
// content (copies may only be exact re-emissions, SPEC §6) and CloudEvents
// headers that do not match the body or differ between copies.
func readChains(ctx context.Context, t *testing.T, brokers []string, topic, schema string) (map[string][]schemas.Change, published) {
	t.Helper()
	msgs, err := testutil.ReadAll(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	chains := map[string][]schemas.Change{}
	ce := cloudEvents{}
	partitionOf := map[string]int{}
	for _, m := range msgs {
		var c schemas.Change
		if err := json.Unmarshal(m.Value, &c); err != nil || c.Schema != schema {
			t.Fatalf("%s event is not %s JSON: %v: %s", topic, schema, err, m.Value)
		}
		if string(m.Key) != c.CustomerID {
			t.Errorf("%s event keyed %q for customer %q", topic, m.Key, c.CustomerID)
		}
		// SPEC §1: one customer's events on one partition, so a
		// subscriber reads them in order.
		if p, ok := partitionOf[c.CustomerID]; !ok {
			partitionOf[c.CustomerID] = m.Partition
		} else if p != m.Partition {
			t.Errorf("%s: customer %q has events on partitions %d and %d", topic, c.CustomerID, p, m.Partition)
		}
		ce.check(t, m)
		if prev, ok := byID[c.EventID]; ok {
			if prev != string(m.Value) {
				t.Errorf("event_id %s published with different content:\n%s\n%s", c.EventID, prev, m.Value)
			}
			continue
		}
		byID[c.EventID] = string(m.Value)
		chains[c.CustomerID] = append(chains[c.CustomerID], c)
	}
	return chains, published{total: len(msgs), distinct: len(byID)}
}

type tierDef struct {
	name string
	min  *big.Rat
}

var defaultTiers = []tierDef{
	{"bronze", big.NewRat(0, 1)}, {"silver", big.NewRat(1000, 1)},
	{"gold", big.NewRat(5000, 1)}, {"platinum", big.NewRat(20000, 1)},
}

// tierConsistent: the stored tier is the natural tier of the LTV, or a
// higher tier whose hysteresis band (threshold × (1 − h)) still holds it.
func tierConsistent(tiers []tierDef, h *big.Rat, ltv *big.Rat, tier string) bool {
	keep := new(big.Rat).Sub(big.NewRat(1, 1), h)
	natural := -1
	for i, td := range tiers {
		if ltv.Cmp(td.min) >= 0 {
			natural = i
		}
	}
	for i, td := range tiers {
		if td.name != tier {
			continue
		}
		if i == natural {
			return true
		}
		return i > natural && ltv.Cmp(new(big.Rat).Mul(td.min, keep)) >= 0
	}
	return tier == "" && natural < 0
}

func simConfig(events, customers int) sim.Config {
	return sim.Config{
		Seed: 42, Customers: customers, Events: events,
		DuplicateRate: 0.02, LateRate: 0.02, BadRate: 0.005,
	}
}

// TestEndToEnd: a simulated stream with duplicates, late events and bad
// records through the real service. The first instance consumes the first
// half of the stream and is stopped (as by SIGTERM); the second half is
// produced and a new instance resumes from the committed offsets.
func TestEndToEnd(t *testing.T) {
	events, customers := 100_000, 10_000
	if testing.Short() {
		events, customers = 10_000, 1_000
	}
	ctx := testutil.Context(t, 5*time.Minute)
	e := newEnv(t, 6)
	msgs, p := generate(t, simConfig(events, customers))
	half := len(msgs) / 2
	cfg := e.config(t)

	write(t, ctx, e.brokers, msgs[:half])
	start := time.Now()
	first := startService(t, cfg)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	firstHalf := time.Since(start)
	first.stop(t)

	write(t, ctx, e.brokers, msgs[half:])
	restart := time.Now()
	startService(t, cfg)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	secondHalf := time.Since(restart)
	elapsed := firstHalf + secondHalf
	fmt.Printf("e2e: %d events (%d customers, %d bad) in %s: %.0f events/s end to end (instance 1: %d in %s, instance 2 after restart: %d in %s)\n",
		len(msgs), customers, len(p.bad), elapsed.Round(time.Millisecond), float64(len(msgs))/elapsed.Seconds(),
		half, firstHalf.Round(time.Millisecond), len(msgs)-half, secondHalf.Round(time.Millisecond))
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
}

// TestConcurrentInstancesShareTheWork runs two instances in one group at
// the same time (a rebalance when the second joins) and checks the same
// invariants.
func TestConcurrentInstancesShareTheWork(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 3*time.Minute)
	e := newEnv(t, 6)
	p := produce(t, ctx, e.brokers, simConfig(30_000, 3_000))
	cfg := e.config(t)
	startService(t, cfg)
	time.Sleep(200 * time.Millisecond)
	startService(t, cfg)
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
}

// envFor is the consumer binary's environment for this test's servers.
func (e *env) envFor(extra map[string]string) map[string]string {
	m := map[string]string{
		"LTV_KAFKA_BROKERS":         joinComma(e.brokers),
		"LTV_REDIS_URL":             e.redisURL,
		"LTV_KAFKA_SESSION_TIMEOUT": "3s",
		"LTV_LOG_LEVEL":             "info",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// TestBinaryStartsFromEnvAndExitsZeroOnSIGTERM runs the real binary with
// no flags, only SPEC §7 environment variables, and checks the SIGTERM
// contract: stop fetching, finish and commit in-flight work, exit 0.
func TestBinaryStartsFromEnvAndExitsZeroOnSIGTERM(t *testing.T) {
	ctx := testutil.Context(t, 2*time.Minute)
	e := newEnv(t, 4)
	p := produce(t, ctx, e.brokers, simConfig(5_000, 500))
	proc := startProc(t, "consumer", e.envFor(nil))
	if err := waitFor(ctx, "readiness", proc.ready); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	code, err := proc.terminate(25 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d, err %v\n%s", code, err, proc.logTail())
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
}
