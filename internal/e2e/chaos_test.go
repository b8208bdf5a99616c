package e2e

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
)

// TestChaos runs three consumer binaries as child processes while a
// stream of 50k+ events with duplicates, late events and bad records is
// produced, and meanwhile: SIGKILLs a random instance at random moments (at
// least 10 times; each restarts at once), freezes one instance past its
// session timeout so its partitions move and it wakes as a zombie, and
// stops and restarts Redis. Crash points inside a batch are also hit on
// purpose through LTV_FAULT_INJECT (exit right after the Redis write, or
// right after the publish, before the commit). Afterwards the Redis state
// must equal the recomputation, every customer's change chain must be
// unbroken and end at the stored tier, and SPEC §8 must hold with the
// non-default thresholds it runs with (checkSegments): stream times,
// segments at them, segment chains, segment_since, and timer changes that
// trace to their due times, of which there must be many. While it runs,
// every generation each instance joins must give it the same partition
// numbers of both input topics (checkCoPartitionedGenerations).
//
// Run it alone with: go test ./internal/e2e -run TestChaos -v
// LTV_CHAOS_EVENTS and LTV_CHAOS_KILLS scale it up.
func TestChaos(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	testutil.SkipShort(t, "short mode")
	events := envInt("LTV_CHAOS_EVENTS", 50_000)
	kills := envInt("LTV_CHAOS_KILLS", 12)
	ctx := testutil.Context(t, 6*time.Minute)
	const partitions = 6
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: partitions, Topics: allTopics,
	})
	e := withRedis(&env{brokers: brokers}, testutil.StartPersistentRedis(t))
	e.segments = segmentRule{atRisk: days(t, chaosAtRiskDays), lapsed: days(t, chaosLapsedDays)}

	// The stream, produced at a steady pace while the chaos runs.
	msgs, p := generate(t, sim.Config{Seed: 99, Customers: events / 10, Events: events,
		DuplicateRate: 0.02, LateRate: 0.02, BadRate: 0.005})
	producerDone := make(chan error, 1)
	go func() {
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000}
		defer w.Close()
		const chunk = 1000
		for i := 0; i < len(msgs); i += chunk {
			if err := w.WriteMessages(ctx, msgs[i:min(i+chunk, len(msgs))]...); err != nil {
				producerDone <- err
				return
			}
			time.Sleep(100 * time.Millisecond) // ~10k events/s offered
		}
		producerDone <- nil
	}()

	faults := "after-save:0.03,after-publish:0.03"
	const sessionTimeout = 3 * time.Second
	envs := e.envFor(map[string]string{"LTV_KAFKA_SESSION_TIMEOUT": sessionTimeout.String(), "LTV_DRAIN_TIMEOUT": "5s",
		"LTV_CONFIG": testutil.WriteFile(t, "ltv.yaml",
			"at_risk_after_days: "+chaosAtRiskDays+"\nlapsed_after_days: "+chaosLapsedDays+"\n")})
	var mu sync.Mutex
	procs := make([]*proc, 3)
	var started []*proc // every instance ever started, for its log
	injected := 0
	start := func(i int, withFaults bool) {
		env := map[string]string{}
		for k, v := range envs {
			env[k] = v
		}
		if withFaults {
			env["LTV_FAULT_INJECT"] = faults
		}
		name := fmt.Sprintf("consumer-%d-%d", i, time.Now().UnixNano())
		env["LTV_KAFKA_CLIENT_ID"] = name // names its group member (see deadMember)
		if withFaults {
			procs[i] = startCrashingProc(t, name, env) // may be gone already: restarted below
		} else {
			procs[i] = startProc(t, name, env)
		}
		started = append(started, procs[i])
	}
	// deadMember reports whether a group member's client id belongs to
	// none of the running instances (mu held).
	deadMember := func(clientID string) bool {
		for _, pr := range procs {
			select {
			case <-pr.exited:
			default:
				if pr.name == clientID {
					return false
				}
			}
		}
		return true
	}
	for i := range procs {
		start(i, i == 0)
	}
	// evictDead removes the group members of instances no longer running,
	// at most once per session timeout, as a real broker's session timeout
	// would have (kfake misses some: see testutil.EvictDeadMembers). It
	// runs during the kills too: otherwise one instance killed between its
	// join and its sync held the whole group still until the drain, and
	// the later kills, the Redis restart and the zombie met instances that
	// were not consuming (mu held).
	var lastEvict time.Time
	evicted := 0
	evictDead := func() {
		if time.Since(lastEvict) < sessionTimeout {
			return
		}
		lastEvict = time.Now()
		gone, err := testutil.EvictDeadMembers(ctx, brokers, settings.DefaultGroupID, deadMember)
		if err != nil {
			t.Logf("evicting dead group members: %v", err)
		}
		if len(gone) > 0 {
			t.Logf("removed group members of dead instances: %v", gone)
		}
		evicted += len(gone)
	}

	rng := rand.New(rand.NewPCG(7, 7))
	killed := 0
	redisRestarted, zombie := false, false
	deadline := time.Now().Add(90 * time.Second)
	for killed < kills && time.Now().Before(deadline) {
		time.Sleep(time.Duration(400+rng.IntN(800)) * time.Millisecond)
		mu.Lock()
		// Instances that exited through fault injection come back too.
		for i, pr := range procs {
			select {
			case <-pr.exited:
				injected++
				start(i, i == 0)
			default:
			}
		}
		evictDead()
		i := rng.IntN(len(procs))
		procs[i].kill()
		killed++
		start(i, i == 0) // instance 0 always runs with fault injection
		mu.Unlock()
		switch {
		case killed == kills/3 && !redisRestarted:
			e.redis.Restart(2 * time.Second)
			redisRestarted = true
		case killed == 2*kills/3 && !zombie:
			z := procs[rng.IntN(len(procs))]
			z.signal(syscall.SIGSTOP)
			time.Sleep(5 * time.Second) // > session timeout: its partitions move
			z.signal(syscall.SIGCONT)
			zombie = true
		}
	}
	if killed < 10 {
		t.Fatalf("only %d kills happened", killed)
	}
	if err := <-producerDone; err != nil {
		t.Fatal(err)
	}
	// Let the surviving instances finish; restart any that fault-injected.
	if err := waitFor(ctx, "the group to catch up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i, pr := range procs {
			select {
			case <-pr.exited:
				injected++
				start(i, false)
			default:
			}
		}
		evictDead()
		lag, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic)
		return err == nil && lag == 0
	}); err != nil {
		fatalWithLogs(t, procs, err)
	}
	terminateAll(t, procs)
	t.Logf("chaos: %d records, %d SIGKILLs, %d injected crashes, redis restarted %v, zombie %v, dead members evicted %d",
		len(msgs), killed, injected, redisRestarted, zombie, evicted)
	checkCoPartitionedGenerations(t, started, partitions)
	seg := check(t, ctx, e, p, defaultTiers, big.NewRat(5, 100), false)
	// The timer checks would hold vacuously if no timer fired: the clock
	// alone must have moved many customers into each segment timers make.
	customers := events / 10
	for _, to := range []string{"at_risk", "lapsed"} {
		if n := seg.timerTo[to]; n < customers/10 {
			t.Errorf("timers made %d customers %s, of %d customers: too few to exercise the clock under chaos", n, to, customers)
		}
	}
}

// checkCoPartitionedGenerations reads the generations every instance
// joined from its log: SPEC §1 has one consumer own a customer at a time,
// and the event-time merge, stream time and timers of partition p (§8)
// rely on it, so in every generation each member must hold the same
// partition numbers of both input topics. The final state cannot show a
// split (the compare-and-set keeps it exact), only the segment events made
// on the way: with orders p and customer-lifecycle p on two members, each
// member's merge waited for a lane nobody fed and then let records go in
// fetch order, and customers were marked lapsed by their first order, or
// churned before any. At least one generation must have shared the
// partitions between members, or the check saw nothing it could fail on.
func checkCoPartitionedGenerations(t *testing.T, procs []*proc, partitions int) {
	t.Helper()
	generations, shared := 0, 0
	for _, pr := range procs {
		log, err := os.ReadFile(pr.logPath)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(log)) {
			var entry struct {
				Msg        string           `json:"msg"`
				Generation int              `json:"generation"`
				Assignment map[string][]int `json:"assignment"`
			}
			if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "consumer group generation started" {
				continue
			}
			generations++
			orders := entry.Assignment[settings.DefaultOrdersTopic]
			lifecycle := entry.Assignment[settings.DefaultLifecycleTopic]
			if !slices.Equal(orders, lifecycle) {
				t.Errorf("%s generation %d: %s %v but %s %v", pr.name, entry.Generation,
					settings.DefaultOrdersTopic, orders, settings.DefaultLifecycleTopic, lifecycle)
			}
			if len(orders) > 0 && len(orders) < partitions {
				shared++
			}
		}
	}
	if shared == 0 {
		t.Errorf("none of %d generations shared the partitions between members: the co-partition check saw nothing", generations)
	}
	t.Logf("co-partitioning: %d generations joined, %d with a member holding some of the partitions", generations, shared)
}

// TestChaos's SPEC §8 thresholds, in days as the YAML takes them: not the
// defaults, so the binary's reading of them is part of what the segment
// checks see. The half day puts at-risk due times off the events' times of
// day; the extra 8.64 ms puts lapsed due times between the whole seconds
// the simulator's events carry, so the timer index's fractional scores and
// the nanoseconds of a timer's caused_by are exercised under the crashes.
const chaosAtRiskDays, chaosLapsedDays = "45.5", "120.0000001"

// days is a decimal number of days as a duration, computed exactly here
// (not by the service's config reader) for the checks.
func days(t *testing.T, text string) time.Duration {
	t.Helper()
	d, ok := new(big.Rat).SetString(text)
	if !ok {
		t.Fatalf("days %q", text)
	}
	ns := d.Mul(d, big.NewRat(int64(24*time.Hour), 1))
	if !ns.IsInt() || !ns.Num().IsInt64() {
		t.Fatalf("%s days is not a whole number of nanoseconds", text)
	}
	return time.Duration(ns.Num().Int64())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
