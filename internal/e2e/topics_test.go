package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestMissingTopics runs the service against brokers where topics are
// missing when it starts. A broker that creates topics on request
// (auto.create.topics.enable, Kafka's default) gets the output topics
// created by the service's first publish, as Kafka's own producer would
// have them, and input topics that appear later (created by whoever
// produces first) are read once they exist. A broker that refuses keeps
// the outputs waiting, pending and uncommitted, until the operator
// creates the topics; nothing is lost.
func TestMissingTopics(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	inputs, outputs := allTopics[:2], allTopics[2:]
	for _, tc := range []struct {
		name       string
		autoCreate bool
		atStart    []string
		// createLater are created by the test once the service has
		// stored the order's effect, as an operator would.
		createLater []string
	}{
		{"outputs missing, broker creates them", true, inputs, nil},
		{"every topic missing, broker creates them", true, nil, nil},
		{"outputs missing, broker refuses until they are created", false, inputs, outputs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []kfake.Opt
			if tc.autoCreate {
				extra = append(extra, kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
			}
			cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 3, Topics: tc.atStart, Extra: extra})
			e := withRedis(&env{kafka: cluster, brokers: brokers}, testutil.StartRedis(t))
			startService(t, e.config(t))
			ctx := testutil.Context(t, 90*time.Second)

			w := &kafka.Writer{Addr: kafka.TCP(brokers...), AllowAutoTopicCreation: tc.autoCreate, BatchTimeout: time.Millisecond}
			t.Cleanup(func() { _ = w.Close() })
			order := kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte("c-1"), Value: orderValue("c-1", "e1", "2000.00")}
			// A topic the broker creates on this request may take a moment
			// to have a leader.
			for {
				err := w.WriteMessages(ctx, order)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("produce the order: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
			}

			pendingExists := func() bool { return e.rc.Exists(ctx, "ltv:{c-1}:pending").Val() == 1 }
			stored := func() bool { return e.rc.HGet(ctx, "ltv:{c-1}", "tier").Val() == "gold" }
			if err := waitFor(ctx, "the order's effect stored", stored); err != nil {
				t.Fatal(err)
			}
			if len(tc.createLater) > 0 {
				// The outputs cannot go out: they stay pending, and the
				// order's offset is not committed.
				time.Sleep(2 * time.Second)
				if !pendingExists() {
					t.Fatal("outputs not pending while their topics do not exist")
				}
				if lag, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil || lag != 1 {
					t.Fatalf("lag %d (%v), want the order uncommitted", lag, err)
				}
				for _, topic := range tc.createLater {
					if err := testutil.CreateTopic(ctx, brokers, topic, 3); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := waitFor(ctx, "the outputs published and the order committed", func() bool {
				lag, err := testutil.Lag(ctx, brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic)
				return err == nil && lag == 0 && !pendingExists()
			}); err != nil {
				t.Fatal(err)
			}
			// A topic the broker created is known to other clients once their
			// metadata caches refresh.
			var changes, segments []kafka.Message
			if err := waitFor(ctx, "the output topics readable", func() bool {
				var err1, err2 error
				changes, err1 = testutil.ReadAll(ctx, brokers, settings.DefaultChangesTopic)
				segments, err2 = testutil.ReadAll(ctx, brokers, settings.DefaultSegmentsTopic)
				return err1 == nil && err2 == nil && len(changes) > 0 && len(segments) > 0
			}); err != nil {
				t.Fatal(err)
			}
			for _, out := range []struct {
				msgs []kafka.Message
				want string
			}{{changes, `"previous_tier":"","tier":"gold"`}, {segments, `"previous_segment":"","segment":"new"`}} {
				if len(out.msgs) != 1 || !strings.Contains(string(out.msgs[0].Value), out.want) {
					t.Errorf("%d events on the output topic, want one with %s", len(out.msgs), out.want)
					for _, m := range out.msgs {
						t.Logf("%s", m.Value)
					}
				}
			}
		})
	}
}

// TestRenamedTopicsAreUsedEverywhere: SPEC §1's topic names are only
// defaults (§7: LTV_*_TOPIC). The real consumer binary, configured by
// environment alone with all five names changed, on a broker that has
// only those topics and creates none, reads both renamed inputs and
// writes the change and segment events and the dead letter to the renamed
// outputs, the dead letter naming the renamed input it came from; no
// topic of a default name comes to exist. ltvctl, with the same
// environment (SPEC §10), serves those events on the read API's
// /v1/changes and reads the customer with get.
func TestRenamedTopicsAreUsedEverywhere(t *testing.T) {
	t.Parallel() // long: beside the other long tests (TestMain)
	ctx := testutil.Context(t, 2*time.Minute)
	names := map[string]string{
		"LTV_ORDERS_TOPIC":    "shop.orders-v3",
		"LTV_LIFECYCLE_TOPIC": "shop.lifecycle-v3",
		"LTV_CHANGES_TOPIC":   "shop.ltv-changes-v3",
		"LTV_SEGMENTS_TOPIC":  "shop.ltv-segments-v3",
		"LTV_DLQ_TOPIC":       "shop.ltv-dlq-v3",
	}
	var renamed []string
	for _, n := range names {
		renamed = append(renamed, n)
	}
	cluster, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 3, Topics: renamed})
	e := withRedis(&env{kafka: cluster, brokers: brokers}, testutil.StartRedis(t))
	procEnv := e.envFor(names)
	proc := startProc(t, "consumer", procEnv)
	if err := waitFor(ctx, "readiness", proc.ready); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}

	orders, lifecycle := names["LTV_ORDERS_TOPIC"], names["LTV_LIFECYCLE_TOPIC"]
	write(t, ctx, brokers, []kafka.Message{
		{Topic: orders, Key: []byte("c-1"), Value: orderValue("c-1", "e1", "2000.00")},
		{Topic: orders, Key: []byte("c-1"), Value: []byte(`{"schema":"ltv.order.v1","type":"order_placed"`)}, // malformed: dead-lettered
	})
	// The churn only once the order is applied: written together, the
	// lifecycle record may be fetched first and, past the merge's wait,
	// applied first. The final state is the same (SPEC §4), but the
	// change events below, which this test reads in order, are not.
	if err := waitFor(ctx, "the order applied", func() bool { return e.rc.HGet(ctx, "ltv:{c-1}", "orders").Val() == "1" }); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	write(t, ctx, brokers, []kafka.Message{
		{Topic: lifecycle, Key: []byte("c-1"), Value: []byte(`{"schema":"ltv.lifecycle.v1","event_id":"e2","type":"customer_churned",` +
			`"customer_id":"c-1","occurred_at":"2026-03-02T12:00:00Z","reason":"test"}`)},
	})
	if err := testutil.WaitCaughtUp(ctx, brokers, settings.DefaultGroupID, orders, lifecycle); err != nil {
		t.Fatalf("%v\n%s", err, proc.logTail())
	}
	if churned := e.rc.HGet(ctx, "ltv:{c-1}", "churned").Val(); churned != "1" {
		t.Fatalf("c-1's churned = %q, want 1: the renamed lifecycle topic was not read", churned)
	}

	for _, out := range []struct {
		topic string
		want  []string // a fragment of each record, in order
	}{
		{names["LTV_CHANGES_TOPIC"], []string{`"previous_tier":"","tier":"gold"`, `"previous_tier":"gold","tier":"silver"`}},
		{names["LTV_SEGMENTS_TOPIC"], []string{`"previous_segment":"","segment":"new"`, `"previous_segment":"new","segment":"churned"`}},
		{names["LTV_DLQ_TOPIC"], []string{`{"schema":"ltv.order.v1","type":"order_placed"`}},
	} {
		var msgs []kafka.Message
		if err := waitFor(ctx, "the events on "+out.topic, func() bool {
			var err error
			msgs, err = testutil.ReadAll(ctx, brokers, out.topic)
			return err == nil && len(msgs) >= len(out.want)
		}); err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(out.want) {
			t.Errorf("%s: %d records, want %d", out.topic, len(msgs), len(out.want))
		}
		for i, m := range msgs {
			if i < len(out.want) && !strings.Contains(string(m.Value), out.want[i]) {
				t.Errorf("%s record %d: %s, want %s", out.topic, i, m.Value, out.want[i])
			}
			if out.topic == names["LTV_DLQ_TOPIC"] {
				if h := headerMap(m.Headers)["topic"]; h != orders {
					t.Errorf("dead letter's topic header %q, want the renamed input %q", h, orders)
				}
			}
		}
	}
	// Nothing was asked of a topic of a default name: the broker creates
	// none, so it would have failed or stalled; and none exists (while the
	// renamed ones are found by the same query).
	for _, n := range renamed {
		if _, err := stream.Partitions(ctx, brokers, n); err != nil {
			t.Errorf("topic %q: %v", n, err)
		}
	}
	for _, def := range allTopics {
		if _, err := stream.Partitions(ctx, brokers, def); err == nil {
			t.Errorf("topic %q (a default name) exists", def)
		}
	}

	// ltvctl with the consumer's environment.
	ltvctl := ltvctlBinary(t)
	get := exec.CommandContext(ctx, ltvctl, "get", "c-1")
	for k, v := range procEnv {
		get.Env = append(get.Env, k+"="+v)
	}
	if out, err := get.Output(); err != nil || !strings.Contains(string(out), `"churned":"1"`) {
		t.Errorf("ltvctl get c-1: %v, %s", err, out)
	}
	port := testutil.FreePort(t)
	serve := exec.Command(ltvctl, "serve")
	serve.Env = append(serve.Env, "PATH="+os.Getenv("PATH"), fmt.Sprintf("LTV_API_ADDR=127.0.0.1:%d", port))
	for k, v := range procEnv {
		serve.Env = append(serve.Env, k+"="+v)
	}
	var serveLog strings.Builder
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	})
	var body []byte
	if err := waitFor(ctx, "/v1/changes with the four events", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/changes?limit=10", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK && strings.Count(string(body), `"customer_id":"c-1"`) == 4
	}); err != nil {
		log := serveLog.String()
		t.Fatalf("%v: last answer %s\nltvctl serve's log ends:\n%s", err, body, log[max(0, len(log)-2000):])
	}
	for _, want := range []string{`"tier":"gold"`, `"tier":"silver"`, `"segment":"new"`, `"segment":"churned"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/v1/changes lacks %s: %s", want, body)
		}
	}
}
