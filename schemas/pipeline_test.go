package schemas_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
)

// collector is a pipeline.Publisher that keeps what it is given.
type collector struct {
	mu   sync.Mutex
	msgs []pipeline.Message
}

func (c *collector) Publish(_ context.Context, msgs []pipeline.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, msgs...)
	return nil
}

// TestPipelineOutputMatchesSchemas: every change and segment event the
// real pipeline (decoder, domain, Redis store, timers) publishes validates
// against its schema, on a ladder whose lowest threshold is above 0 (so
// the tier can be "" before a first assignment and after a fall) and for
// the customers the schemas' conditions are about: one that churns and is
// reactivated before any order, one with only a refund, one whose only
// order is refunded in full, one that churns after its orders, one that
// goes at risk and lapsed by timers, and a simulated stream with late
// and duplicate events besides.
func TestPipelineOutputMatchesSchemas(t *testing.T) {
	ctx := testutil.Context(t, 2*time.Minute)
	model := aggregate.DefaultModel()
	model.Tiers = []aggregate.Tier{{Name: "silver", Min: decimal.NewFromInt(1000)}, {Name: "gold", Min: decimal.NewFromInt(5000)}}
	if err := model.Validate(); err != nil {
		t.Fatal(err)
	}
	dec, err := decode.New(decode.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := testutil.StartRedis(t).Store()
	out := &collector{}
	p, err := pipeline.New(pipeline.Config{Model: model, Decoder: dec, Store: st, Out: out, Timers: st})
	if err != nil {
		t.Fatal(err)
	}

	// The scenarios on partition 0, the simulated stream on partition 1:
	// each has its own stream time.
	offsets := map[string]int64{}
	var batch []pipeline.Record
	partition := int32(0)
	add := func(topic, customer, value string) {
		key := fmt.Sprint(topic, partition)
		batch = append(batch, pipeline.Record{Topic: topic, Partition: partition, Offset: offsets[key],
			Key: []byte(customer), Value: []byte(value)})
		offsets[key]++
	}
	n := 0
	order := func(typ, customer, orderID, amount, at string) {
		n++
		add(settings.DefaultOrdersTopic, customer, fmt.Sprintf(`{"schema":"ltv.order.v1","event_id":"e-%d","type":%q,"customer_id":%q,"order_id":%q,"amount":%q,"currency":"SEK","occurred_at":%q}`,
			n, typ, customer, orderID, amount, at))
	}
	lifecycle := func(typ, customer, at string) {
		n++
		add(settings.DefaultLifecycleTopic, customer, fmt.Sprintf(`{"schema":"ltv.lifecycle.v1","event_id":"e-%d","type":%q,"customer_id":%q,"occurred_at":%q}`,
			n, typ, customer, at))
	}
	process := func() {
		t.Helper()
		if _, err := p.Process(ctx, batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}

	lifecycle("customer_churned", "c-churn-first", "2024-01-01T00:00:00Z")
	lifecycle("customer_reactivated", "c-churn-first", "2024-01-02T00:00:00Z")
	order("order_refunded", "c-refund-only", "o-x", "50.00", "2024-01-03T00:00:00Z")
	lifecycle("customer_churned", "c-refund-only", "2024-01-04T00:00:00Z")
	order("order_placed", "c-refunded", "o-1", "300.00", "2024-01-05T00:00:00Z")
	order("order_refunded", "c-refunded", "o-1", "300.00", "2024-01-06T00:00:00Z")
	order("order_placed", "c-below", "o-2", "100.00", "2024-01-07T00:00:00Z")
	order("order_placed", "c-up-down", "o-3", "2000.00", "2024-01-08T00:00:00Z")
	order("order_placed", "c-up-down", "o-4", "2000.00", "2024-01-09T00:00:00Z")
	process()
	lifecycle("customer_churned", "c-up-down", "2024-02-01T00:00:00Z")
	order("order_refunded", "c-up-down", "o-3", "2000.00", "2024-02-02T00:00:00Z")
	order("order_refunded", "c-up-down", "o-4", "2000.00", "2024-02-03T00:00:00Z")
	process()
	// Stream time moves on a year: the others' timers fire.
	order("order_placed", "c-clock", "o-5", "10.00", "2025-02-01T00:00:00Z")
	process()

	partition = 1
	g, err := sim.NewGenerator(sim.Config{Seed: 7, Customers: 1000, Events: 6000, DuplicateRate: 0.02, LateRate: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		add(r.Topic.String(), string(r.Key), string(r.Value))
		if len(batch) == 500 {
			process()
		}
	}
	process()

	seen := map[string]int{}
	for _, m := range out.msgs {
		if m.Topic == settings.DefaultDLQTopic {
			t.Errorf("dead letter: %s", m.Value)
			continue
		}
		seen[m.Topic]++
		if err := schemas.Validate(m.Value); err != nil {
			t.Errorf("%s event refused by its schema: %v\n%s", m.Topic, err, m.Value)
		}
	}
	if seen[settings.DefaultChangesTopic] == 0 || seen[settings.DefaultSegmentsTopic] == 0 {
		t.Fatalf("published %v, want change and segment events", seen)
	}
}
