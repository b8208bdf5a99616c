package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/segmentio/kafka-go"
)

// latencyResult is the produce → LTV-change latency at a steady load.
type latencyResult struct {
	offered, achieved float64
	samples           []time.Duration // sorted
}

func (r latencyResult) percentile(p float64) time.Duration {
	if len(r.samples) == 0 {
		return 0
	}
	i := int(p*float64(len(r.samples))+0.5) - 1
	return r.samples[min(max(i, 0), len(r.samples)-1)]
}

// measureLatency offers cfg.OfferedRate events/s to a running consumer and
// tails the change topic. An event's latency is the time from the moment
// the harness hands it to its producer to the moment the harness receives
// the change event it caused: an upper bound of "appended", as a
// subscriber sees it. Events sent during the warm-up (while the group
// settles) are not sampled.
func measureLatency(ctx context.Context, cfg Config, brokers []string, redisURL string) (latencyResult, error) {
	total := int(float64(cfg.OfferedRate) * (cfg.LatencyWarmup + cfg.LatencyDuration).Seconds())
	w, err := generate(cfg, cfg.Seed+1000, total, cfg.Customers)
	if err != nil {
		return latencyResult{}, err
	}
	// Index the valid events by event_id (first copy wins: that is the one
	// that can cause a change).
	index := make(map[string]int, len(w.msgs))
	for i, m := range w.msgs {
		var ev struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(m.Value, &ev) == nil && ev.EventID != "" {
			if _, dup := index[ev.EventID]; !dup {
				index[ev.EventID] = i
			}
		}
	}
	sent := make([]atomic.Int64, len(w.msgs))

	group := fmt.Sprintf("bench-latency-%d", time.Now().UnixNano())
	proc, err := startConsumer(cfg, consumerSettings{brokers: brokers, redisURL: redisURL, group: group}, "consumer-latency.log")
	if err != nil {
		return latencyResult{}, err
	}
	defer proc.kill()
	ctx, stopGuard := proc.guard(ctx)
	defer stopGuard()
	if err := proc.waitReady(ctx); err != nil {
		return latencyResult{}, err
	}

	// Tail every partition of the change topic.
	parts, err := stream.Partitions(ctx, brokers, cfg.ChangesTopic)
	if err != nil {
		return latencyResult{}, err
	}
	tctx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	var mu sync.Mutex
	var samples []time.Duration
	seen := map[string]bool{}
	var lastChange atomic.Int64
	var tails sync.WaitGroup
	var warmEnd atomic.Int64
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: cfg.ChangesTopic, Partition: p,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond,
		})
		tails.Add(1)
		go func() {
			defer tails.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(tctx)
				if err != nil {
					return
				}
				now := time.Now()
				lastChange.Store(now.UnixNano())
				var ch struct {
					EventID  string `json:"event_id"`
					CausedBy string `json:"caused_by"`
				}
				if json.Unmarshal(m.Value, &ch) != nil {
					continue
				}
				i, ok := index[ch.CausedBy]
				if !ok {
					continue
				}
				at := sent[i].Load()
				mu.Lock()
				if !seen[ch.EventID] && at >= warmEnd.Load() && at > 0 {
					seen[ch.EventID] = true
					samples = append(samples, now.Sub(time.Unix(0, at)))
				}
				mu.Unlock()
			}
		}()
	}

	// Offer the load: every tick, send what the schedule says is due. The
	// writer is this loop's alone, so it lingers only as long as the
	// publisher's: the measured time is the service's, not a producer's
	// batching delay.
	writer, err := stream.NewWriter(stream.WriterConfig{Brokers: brokers, BatchTimeout: stream.ExclusiveWriterLinger})
	if err != nil {
		return latencyResult{}, err
	}
	defer writer.Close()
	start := time.Now()
	warmEnd.Store(start.Add(cfg.LatencyWarmup).UnixNano())
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	next := 0
	for next < len(w.msgs) {
		select {
		case <-ctx.Done():
			return latencyResult{}, context.Cause(ctx)
		case <-tick.C:
		}
		due := min(int(time.Since(start).Seconds()*float64(cfg.OfferedRate)), len(w.msgs))
		if due <= next {
			continue
		}
		now := time.Now().UnixNano()
		for i := next; i < due; i++ {
			sent[i].Store(now)
		}
		if err := stream.WriteAll(ctx, writer, w.msgs[next:due]); err != nil {
			return latencyResult{}, fmt.Errorf("offer load: %w", err)
		}
		next = due
	}
	elapsed := time.Since(start)

	// Let the consumer finish and the tail go quiet.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := waitCommitted(wctx, brokers, group, []string{cfg.OrdersTopic, cfg.LifecycleTopic}, 50*time.Millisecond, proc.samplePeak); err != nil {
		return latencyResult{}, err
	}
	for time.Since(time.Unix(0, lastChange.Load())) < time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	stopTail()
	tails.Wait()
	if _, err := proc.stop(); err != nil {
		return latencyResult{}, err
	}
	if len(samples) == 0 {
		return latencyResult{}, errors.New("no change events observed in the latency phase")
	}
	slices.Sort(samples)
	return latencyResult{
		offered:  float64(cfg.OfferedRate),
		achieved: float64(len(w.msgs)) / elapsed.Seconds(),
		samples:  samples,
	}, nil
}
