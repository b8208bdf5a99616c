package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/oracle"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/segmentio/kafka-go"
)

// workload is one simulated input stream and what it must produce.
type workload struct {
	msgs      []kafka.Message
	bad       map[int]bool // indexes of records the simulator made invalid
	oracle    *oracle.Oracle
	customers int // distinct customers with at least one valid event (known once the oracle ran)
}

// generate runs the simulator with its default duplicate, late and bad
// record rates, so the consumer does all of its work. The oracle is not
// fed here but by buildOracle, after the throughput run: this process also
// runs the broker, and a large live heap here (the oracle's per-customer
// state) made its garbage collector take CPU from the machine under test
// during the run.
func generate(cfg Config, seed int64, events, customers int) (*workload, error) {
	gen, err := sim.NewGenerator(sim.Config{Seed: seed, Customers: customers, Events: events})
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	w := &workload{msgs: make([]kafka.Message, 0, events), bad: map[int]bool{}}
	for rec := range gen.All() {
		topic := rec.Topic.In(cfg.OrdersTopic, cfg.LifecycleTopic)
		if rec.Label == sim.LabelBad {
			w.bad[len(w.msgs)] = true
		}
		w.msgs = append(w.msgs, kafka.Message{Topic: topic, Key: rec.Key, Value: rec.Value})
	}
	return w, nil
}

// buildOracle feeds every valid record to the independent oracle.
func (w *workload) buildOracle() error {
	w.oracle = oracle.New(oracle.Params{})
	for i := range w.msgs {
		if w.bad[i] {
			continue
		}
		if err := w.oracle.Add(w.msgs[i].Value); err != nil {
			return fmt.Errorf("oracle rejects a record the simulator calls valid: %w", err)
		}
	}
	w.customers = len(w.oracle.Customers())
	return nil
}

// produceAll writes msgs with a keyed, fully acknowledged writer in large
// calls (the fast way to load a topic).
func produceAll(ctx context.Context, brokers []string, msgs []kafka.Message) error {
	w, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers, BatchSize: 2000})
	if err != nil {
		return err
	}
	defer w.Close()
	const chunk = 20000
	for i := 0; i < len(msgs); i += chunk {
		if err := stream.WriteAll(ctx, w, msgs[i:min(i+chunk, len(msgs))]); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	return nil
}

// waitCommitted polls until the group has committed every input offset and
// returns when it saw that. Each poll is a few broker requests per topic,
// paid by the machine under test: polling every 20 ms cost 6.5 % of a core
// here (harness and broker), CPU the consumer then lacks. So it polls
// rarely while much is left, and every minPoll once the observed commit
// rate says the end is near (nextPoll): the end time is still known to
// within about minPoll.
func waitCommitted(ctx context.Context, brokers []string, group string, topics []string, minPoll time.Duration, tick func()) (time.Time, error) {
	prevLag, prevAt := int64(-1), time.Time{}
	for {
		if tick != nil {
			tick()
		}
		lag, err := stream.GroupLag(ctx, brokers, group, topics...)
		now := time.Now()
		if err == nil && lag == 0 {
			return now, nil
		}
		wait := nextPoll(prevLag, lag, now.Sub(prevAt), minPoll)
		if err == nil {
			prevLag, prevAt = lag, now
		} else {
			prevLag = -1
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("lag %d", lag)
			}
			return time.Time{}, fmt.Errorf("waiting for commits: %w (last: %w)", context.Cause(ctx), err)
		case <-time.After(wait):
		}
	}
}

// maxPoll bounds the wait between two lag polls; noProgressPoll is the wait
// while no progress has been seen yet (start-up, a stall, an error).
const (
	maxPoll        = 250 * time.Millisecond
	noProgressPoll = 100 * time.Millisecond
)

// nextPoll is the wait before the next lag poll: half the time the
// remaining lag needs at the rate seen between the last two polls (so the
// end is approached in ever shorter steps), between minPoll and maxPoll.
// prevLag < 0 means there is no previous poll.
func nextPoll(prevLag, lag int64, since, minPoll time.Duration) time.Duration {
	if prevLag < 0 || lag >= prevLag || since <= 0 {
		return max(minPoll, noProgressPoll)
	}
	perRecord := float64(since) / float64(prevLag-lag)
	eta := time.Duration(perRecord * float64(lag))
	return max(minPoll, min(eta/2, maxPoll))
}
