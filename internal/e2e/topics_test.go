package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
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
