package e2e

import (
	"bufio"
	"context"
	"math/big"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestRedisClusterEndToEnd runs the standalone end-to-end check against a
// real 3-master Redis Cluster: LTV_REDIS_URL lists the nodes, the consumer
// uses a cluster client, and every script touches only its customer's
// slot (a CROSSSLOT error would fail the batches and the check).
func TestRedisClusterEndToEnd(t *testing.T) {
	ctx := testutil.Context(t, 4*time.Minute)
	e := newClusterEnv(t, 6, 1, 3)
	events, customers := 40_000, 4_000
	if testing.Short() {
		events, customers = 5_000, 500
	}
	p := produce(t, ctx, e.brokers, simConfig(events, customers))
	startService(t, e.config(t))
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
	assertSpreadOverMasters(t, ctx, e.rc)
}

// TestRedisClusterReshardMidStream: an operator moves a third of the slots
// from one master to another (redis-cli --cluster reshard, keys migrated
// one by one) while the consumer writes. Scripts meeting a slot half
// moved are redirected or retried (ASK, TRYAGAIN, MOVED), and the state
// ends exact.
func TestRedisClusterReshardMidStream(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 4*time.Minute)
	e := newClusterEnv(t, 6, 1, 3)
	cc := e.rc.(*redis.ClusterClient)
	var masters []string // "addr id", sorted by address
	var mu sync.Mutex
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		id, err := n.Do(ctx, "CLUSTER", "MYID").Text()
		mu.Lock()
		masters = append(masters, n.Options().Addr+" "+id)
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(masters)
	from, to := strings.Fields(masters[0]), strings.Fields(masters[1])
	msgs, p := generate(t, simConfig(30_000, 3_000))
	inputs := []string{settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic}
	// committed is how many records the group has committed so far.
	committed := func() int64 {
		t.Helper()
		var end int64
		for _, topic := range inputs {
			ends, err := stream.EndOffsets(ctx, e.brokers, topic)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range ends {
				end += o
			}
		}
		lag, err := testutil.Lag(ctx, e.brokers, settings.DefaultGroupID, inputs...)
		if err != nil {
			return 0 // the group has committed nothing yet
		}
		return end - lag
	}
	third := len(msgs) / 3
	write(t, ctx, e.brokers, msgs[:third])
	startService(t, e.config(t))
	if err := waitFor(ctx, "the first customers written", func() bool { return committed() > 0 }); err != nil {
		t.Fatal(err)
	}
	// The rest of the stream arrives while the slots move.
	produced := make(chan error, 1)
	go func() {
		rest := msgs[third:]
		step := len(rest)/40 + 1
		for i := 0; i < len(rest); i += step {
			if err := writeE(ctx, e.brokers, rest[i:min(i+step, len(rest))]); err != nil {
				produced <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		produced <- nil
	}()
	before, start := committed(), time.Now()
	out, err := exec.CommandContext(ctx, "redis-cli", "--cluster", "reshard", from[0],
		"--cluster-from", from[1], "--cluster-to", to[1], "--cluster-slots", "1800", "--cluster-yes").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster reshard: %v\n%s", err, out)
	}
	during := committed() - before
	t.Logf("resharded 1800 slots from %s to %s in %s; %d records committed meanwhile", from[0], to[0], time.Since(start).Round(time.Millisecond), during)
	if during == 0 {
		t.Error("no record committed while the slots moved: the test did not test the reshard")
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatal(err)
	}
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), true)
	assertSpreadOverMasters(t, ctx, e.rc)
}

// assertSpreadOverMasters checks that every master holds customer keys:
// the data is really sharded, not all in one slot.
func assertSpreadOverMasters(t *testing.T, ctx context.Context, rc redis.UniversalClient) {
	t.Helper()
	cc, ok := rc.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("expected a cluster client, got %T", rc)
	}
	var mu sync.Mutex
	sizes := map[string]int64{}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		size, err := n.DBSize(ctx).Result()
		mu.Lock()
		sizes[n.Options().Addr] = size
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 3 {
		t.Fatalf("masters: %v", sizes)
	}
	for addr, n := range sizes {
		if n == 0 {
			t.Errorf("master %s holds no keys: %v", addr, sizes)
		}
	}
	t.Logf("keys per master: %v", sizes)
}

// TestScaleOutThreeInstances: three consumer processes share a 12-partition
// stream on a 3-broker Kafka-protocol cluster, writing to a 3-master Redis
// Cluster. While the stream is still being produced, one instance is
// stopped (SIGTERM) and a new one joins; the final state must equal the
// independent recomputation, change chains must be unbroken, and every
// instance that ran must have done part of the work.
func TestScaleOutThreeInstances(t *testing.T) {
	testutil.SkipShort(t, "short mode")
	ctx := testutil.Context(t, 5*time.Minute)
	e := newClusterEnv(t, 12, 3, 3)
	msgs, p := generate(t, simConfig(60_000, 6_000))

	// Produce in chunks over a few seconds so membership changes happen
	// mid-stream. The last chunks wait until instance-d is up: otherwise a
	// fast run can finish the stream before d's first assignment, and d
	// would have nothing left to share.
	produced := make(chan struct{})
	dJoined := make(chan struct{})
	go func() {
		defer close(produced)
		const chunks = 12
		for i := 0; i < chunks; i++ {
			if i == chunks-4 {
				select {
				case <-dJoined:
				case <-ctx.Done():
					return
				}
			}
			lo, hi := i*len(msgs)/chunks, (i+1)*len(msgs)/chunks
			if err := writeE(ctx, e.brokers, msgs[lo:hi]); err != nil {
				t.Errorf("produce chunk %d: %v", i, err)
				return
			}
			time.Sleep(400 * time.Millisecond)
		}
	}()

	env := e.envFor(map[string]string{"LTV_KAFKA_SESSION_TIMEOUT": "6s"})
	a := startProc(t, "instance-a", env)
	b := startProc(t, "instance-b", env)
	c := startProc(t, "instance-c", env)
	for _, pr := range []*proc{a, b, c} {
		if err := waitFor(ctx, pr.name+" ready", pr.ready); err != nil {
			t.Fatalf("%v\n%s", err, pr.logTail())
		}
	}
	if err := waitFor(ctx, "instance-b consuming", func() bool { return consumed(b) > 0 }); err != nil {
		t.Fatalf("%v\n%s", err, b.logTail())
	}
	time.Sleep(time.Second)
	bDone := consumed(b)
	if code, err := b.terminate(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("instance-b: exit %d, %v\n%s", code, err, b.logTail())
	}
	d := startProc(t, "instance-d", env)
	if err := waitFor(ctx, "instance-d ready", d.ready); err != nil {
		t.Fatalf("%v\n%s", err, d.logTail())
	}
	close(dJoined)

	<-produced
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic); err != nil {
		t.Fatalf("%v\n%s", err, a.logTail())
	}
	work := map[string]float64{"instance-b (stopped)": bDone}
	for _, pr := range []*proc{a, c, d} {
		n := consumed(pr)
		work[pr.name] = n
		if n == 0 {
			t.Errorf("%s consumed nothing: the group did not share the work\n%s", pr.name, pr.logTail())
		}
	}
	t.Logf("records consumed per instance: %v", work)
	check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
	assertSpreadOverMasters(t, ctx, e.rc)
}

// consumed reads ltv_events_consumed_total from an instance's /metrics
// (0 when unreachable).
func consumed(p *proc) float64 { return metricValue(p.httpURL, "ltv_events_consumed_total") }

// metricValue reads one series (a metric name, with its labels if it has
// any, as /metrics prints them) from the /metrics of the instance at
// baseURL; 0 when it is unreachable or lacks the series.
func metricValue(baseURL, series string) float64 {
	v, _, _ := readSeries(baseURL, series)
	n, _ := strconv.ParseFloat(v, 64)
	return n
}

// readSeries reads one series from the /metrics of the server at baseURL:
// its value as printed, and whether it is there at all.
func readSeries(baseURL, series string) (string, bool, error) {
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strings.TrimSpace(v), true, nil
		}
	}
	return "", false, sc.Err()
}
