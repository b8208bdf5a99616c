package aggregate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// countingPredictor wraps a predictor and counts its scorings, so a test
// can bound how many times Advance's loop goes round: past maxScorings
// since the count was last reset it panics, so a loop that never ends
// fails the test instead of hanging it.
type countingPredictor struct {
	inner aggregate.Predictor
	calls *atomic.Int64
}

const maxScorings = 20000

func (c countingPredictor) Predict(x, tx, T, m, margin float64) aggregate.Prediction {
	if c.calls.Add(1) > maxScorings {
		panic(fmt.Sprintf("more than %d scorings without a reset: Advance is looping", maxScorings))
	}
	return c.inner.Predict(x, tx, T, m, margin)
}

// failingPredictor is a scoring the numerics cannot compute: the service's
// adapter (config.clvPredictor) then answers a zero prediction and counts
// a failure; nan answers NaN instead, which the domain must render as 0.
type failingPredictor struct{ nan bool }

func (f failingPredictor) Predict(x, tx, T, m, margin float64) aggregate.Prediction {
	if f.nan {
		n := math.NaN()
		return aggregate.Prediction{PAlive: n, ExpectedOrders: n, ExpectedSpend: n, CLV: n}
	}
	return aggregate.Prediction{}
}

// invariantModels are the models the randomized tests run under: short
// thresholds so random times land on them (and exactly on them), with and
// without the predictive model, its re-scoring and failing scorings.
func invariantModels(t *testing.T, calls *atomic.Int64) map[string]*aggregate.Model {
	short := func(m *aggregate.Model) {
		m.AtRiskAfter, m.LapsedAfter = 10*time.Hour, 25*time.Hour
		m.LifespanYears = dd("1")
	}
	predictive := func(p aggregate.Predictor, rescore time.Duration) func(m *aggregate.Model) {
		return func(m *aggregate.Model) {
			short(m)
			m.Predictive = &aggregate.Predictive{Predictor: countingPredictor{p, calls}, TimeUnit: time.Hour, RescoreEvery: rescore}
		}
	}
	return map[string]*aggregate.Model{
		"default":               mustModel(t, short),
		"predictive":            mustModel(t, predictive(straightDecay{8000, 40}, 0)),
		"predictive rescoring":  mustModel(t, predictive(straightDecay{8000, 40}, 7*time.Hour)),
		"predictive, zero":      mustModel(t, predictive(failingPredictor{}, 3*time.Hour)),
		"predictive, NaN":       mustModel(t, predictive(failingPredictor{nan: true}, 3*time.Hour)),
		"predictive, decaying":  mustModel(t, predictive(decaying{}, 5*time.Hour+time.Nanosecond)),
		"predictive, 1ns apart": mustModel(t, predictive(straightDecay{8000, 40}, time.Nanosecond*3600e9+1)),
	}
}

// realDueAt reports whether one of the customer's real due times (a
// segment threshold, the tier timer, the re-scoring) is exactly t.
func realDueAt(m *aggregate.Model, s *aggregate.State, t time.Time) bool {
	if !s.LastOrderAt.IsZero() && (s.LastOrderAt.Add(m.AtRiskAfter).Equal(t) || s.LastOrderAt.Add(m.LapsedAfter).Equal(t)) {
		return true
	}
	if p := m.Predictive; p != nil {
		if s.TierDue.Equal(t) || (p.RescoreEvery > 0 && !s.ScoredAt.IsZero() && s.ScoredAt.Add(p.RescoreEvery).Equal(t)) {
			return true
		}
	}
	return false
}

// TestStoredSegmentIsTheRuleAtTheClockUnderUnchangedThresholds: the
// correction NextDue makes for a stored segment that is not the rule's at
// the clock (thresholds changed since, 152202c) must never fire under
// unchanged thresholds, or every customer would publish extra segment
// events at clock + 1 ns. Random streams of one customer, read as the
// pipeline reads them (timers up to the stream time before each record,
// the record applied as of the stream time once read, a sweep up to the
// partition's stream time after it): orders, refunds, churns and
// reactivations, late ones (before the clock), ones at the same instant,
// ones exactly on a threshold, duplicate event ids and redeliveries. After
// every step the stored segment is the rule's at the clock, NextDue is
// never clock + 1 ns unless a real due time is exactly there, the segment
// chain is unbroken, and a sweep to a stream time loops a bounded number
// of times (the predictive model's scorings are counted).
func TestStoredSegmentIsTheRuleAtTheClockUnderUnchangedThresholds(t *testing.T) {
	var calls atomic.Int64
	models := invariantModels(t, &calls)
	for name, m := range models {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(152202, uint64(len(name))))
			for trial := 0; trial < 300; trial++ {
				runInvariantTrial(t, m, rng, &calls, trial)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func runInvariantTrial(t *testing.T, m *aggregate.Model, rng *rand.Rand, calls *atomic.Int64, trial int) {
	t.Helper()
	base := at("2026-01-01T00:00:00Z")
	var s aggregate.State
	var log []string // what happened, for the failure message
	var offset int64
	var ids []string
	var orders []string
	stream := time.Time{} // the partition's stream time
	segment := ""         // the segment the published chain ends at
	check := func(step string, fx *aggregate.Effects) {
		t.Helper()
		log = append(log, step)
		for _, c := range fx.Segments {
			if c.Previous != segment {
				t.Errorf("trial %d: chain broken: %q → %q after %q\n%s", trial, c.Previous, c.Segment, segment, strings.Join(log, "\n"))
			}
			segment = c.Segment
			log = append(log, fmt.Sprintf("  segment %q → %q @%s", c.Previous, c.Segment, c.Cause()))
		}
		if segment != s.Segment {
			t.Errorf("trial %d: chain ends at %q, stored %q\n%s", trial, segment, s.Segment, strings.Join(log, "\n"))
		}
		if s.Clock.IsZero() {
			return
		}
		if rule := m.SegmentAt(&s, s.Clock); rule != s.Segment {
			t.Errorf("trial %d: stored segment %q, the rule gives %q at the clock %s\n%s", trial, s.Segment, rule, s.Clock.Format(time.RFC3339Nano), strings.Join(log, "\n"))
		}
		if due, ok := m.NextDue(&s); ok && due.Equal(s.Clock.Add(time.Nanosecond)) && !realDueAt(m, &s, due) {
			t.Errorf("trial %d: NextDue corrects at clock + 1 ns (%s) under unchanged thresholds\n%s", trial, due.Format(time.RFC3339Nano), strings.Join(log, "\n"))
		}
	}
	// when picks an event time around the stream time: often late (before
	// it, and before the clock), sometimes exactly on a threshold of the
	// latest order, sometimes at the stream time itself.
	when := func() time.Time {
		ref := stream
		if ref.IsZero() {
			ref = base
		}
		switch rng.IntN(6) {
		case 0:
			return ref // the same instant
		case 1:
			if !s.LastOrderAt.IsZero() {
				after := m.AtRiskAfter
				if rng.IntN(2) == 0 {
					after = m.LapsedAfter
				}
				return s.LastOrderAt.Add(after + time.Duration(rng.IntN(3)-1)) // on a threshold, or 1 ns either side
			}
		case 2:
			return ref.Add(-time.Duration(rng.IntN(40)) * 30 * time.Minute) // late
		}
		return ref.Add(time.Duration(rng.IntN(20)) * 30 * time.Minute)
	}
	read := func(ev aggregate.Event, src aggregate.SourceOffset) {
		t.Helper()
		// As the pipeline reads a record (processor.applyCustomer): the
		// customer is brought to the stream time before the record, the
		// record applied as of the stream time once it is read.
		var fx aggregate.Effects
		before := stream
		calls.Store(0)
		m.AdvanceAll(&s, "c", before, &fx)
		now := before
		if ev.OccurredAt.After(now) {
			now = ev.OccurredAt
		}
		calls.Store(0)
		res := m.ApplyTo(&s, &ev, src, now, &fx)
		stream = now
		check(fmt.Sprintf("%v %s %s at %s read at %s: %v", ev.Kind, ev.EventID, ev.OrderID, ev.OccurredAt.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), res.Outcome), &fx)
	}
	for step := 0; step < 40; step++ {
		switch k := rng.IntN(10); {
		case k < 6:
			offset++
			id := fmt.Sprintf("e%d", offset)
			ev := aggregate.Event{EventID: id, CustomerID: "c", OccurredAt: when(), Currency: "SEK"}
			switch r := rng.IntN(10); {
			case r < 5 || len(orders) == 0:
				ev.Kind, ev.OrderID, ev.Amount = aggregate.OrderPlaced, "o-"+id, d(fmt.Sprintf("%d.00", 1+rng.IntN(3000)))
				orders = append(orders, ev.OrderID)
			case r < 7:
				ev.Kind, ev.OrderID, ev.Amount = aggregate.OrderRefunded, orders[rng.IntN(len(orders))], d("1.50")
			case r < 9:
				ev.Kind = aggregate.CustomerChurned
			default:
				ev.Kind = aggregate.CustomerReactivated
			}
			ids = append(ids, id)
			read(ev, aggregate.SourceOffset{Topic: aggregate.TopicOf(topicOf(ev.Kind)), Offset: offset})
		case k < 7 && len(ids) > 0:
			// A producer's duplicate: an id seen before, at a new offset.
			offset++
			ev := aggregate.Event{Kind: aggregate.CustomerReactivated, EventID: ids[rng.IntN(len(ids))], CustomerID: "c", OccurredAt: when()}
			read(ev, aggregate.SourceOffset{Topic: aggregate.TopicOf(topicLifecycle), Offset: offset})
		case k < 8 && offset > 0:
			// Kafka's redelivery of a record already applied.
			ev := aggregate.Event{Kind: aggregate.CustomerChurned, EventID: "redelivered", CustomerID: "c", OccurredAt: when()}
			read(ev, aggregate.SourceOffset{Topic: aggregate.TopicOf(topicLifecycle), Offset: 1})
		default:
			// The partition's stream time moves on (another customer's
			// record), and the sweep reaches this customer: often exactly
			// at one of its due times.
			next := stream.Add(time.Duration(rng.IntN(30)) * time.Hour)
			if due, ok := m.NextDue(&s); ok && rng.IntN(2) == 0 && due.After(stream) {
				next = due
			}
			if next.Before(stream) || stream.IsZero() {
				continue
			}
			stream = next
			var fx aggregate.Effects
			calls.Store(0)
			m.AdvanceAll(&s, "c", stream, &fx)
			check("sweep to "+stream.Format(time.RFC3339Nano), &fx)
		}
	}
}

// TestPredictiveCorrectionAfterChangedRulesEnds: with the predictive model
// on, a customer stored under other segment thresholds and re-scoring
// period (SPEC §9 rescore_every_days) is due at clock + 1 ns under the new
// ones; reaching a later stream time fires that correction once, then the
// re-scorings at the new period, and ends (each round of Advance's loop
// moves the clock), also when every scoring fails (a zero or NaN
// prediction, as config's adapter answers for a history the numerics cannot
// score). A shorter re-scoring period alone brings the customer's due time
// forward to its last scoring plus the new period.
func TestPredictiveCorrectionAfterChangedRulesEnds(t *testing.T) {
	var calls atomic.Int64
	model := func(p aggregate.Predictor, atRisk, lapsed, rescore time.Duration) *aggregate.Model {
		return mustModel(t, func(m *aggregate.Model) {
			m.AtRiskAfter, m.LapsedAfter = atRisk, lapsed
			m.Predictive = &aggregate.Predictive{Predictor: countingPredictor{p, &calls}, TimeUnit: time.Hour, RescoreEvery: rescore}
		})
	}
	for name, p := range map[string]aggregate.Predictor{
		"scoring":        straightDecay{8000, 40},
		"zero (failing)": failingPredictor{},
		"NaN":            failingPredictor{nan: true},
	} {
		t.Run(name, func(t *testing.T) {
			old := model(p, 10*time.Hour, 25*time.Hour, 7*time.Hour)
			c := newCustomer(t, old)
			c.applyAll(placed("e1", "100.00", "2026-01-01T00:00:00Z"))
			calls.Store(0)
			old.AdvanceAll(&c.s, testCustomer, at("2026-01-02T04:00:00Z"), &aggregate.Effects{})
			if c.s.Segment != aggregate.SegmentLapsed {
				t.Fatalf("under 10/25 hours: segment %q, want lapsed", c.s.Segment)
			}
			clock, scored := c.s.Clock, c.s.ScoredAt

			// Only the re-scoring period shorter: due at the last scoring
			// plus the new period (or earlier), never later.
			rescoreOnly := model(p, 10*time.Hour, 25*time.Hour, 2*time.Hour)
			if due, ok := rescoreOnly.NextDue(&c.s); !ok || due.After(scored.Add(2*time.Hour)) || !due.After(clock) {
				t.Fatalf("re-scoring every 2 h (was 7 h), scored at %s, clock %s: due %s (%v)", scored, clock, due, ok)
			}

			changed := model(p, 20*time.Hour, 100*time.Hour, 2*time.Hour)
			due, ok := changed.NextDue(&c.s)
			if !ok || !due.Equal(clock.Add(time.Nanosecond)) {
				t.Fatalf("under 20/100 hours: due %s (%v), want clock + 1 ns (%s)", due, ok, clock.Add(time.Nanosecond))
			}
			until := clock.Add(10 * time.Hour)
			var fx aggregate.Effects
			calls.Store(0)
			changed.AdvanceAll(&c.s, testCustomer, until, &fx)
			var segs []string
			for _, sc := range fx.Segments {
				segs = append(segs, sc.Previous+"→"+sc.Segment+"@"+sc.Cause())
			}
			want := []string{"lapsed→at_risk@timer:" + aggregate.TimeText(clock.Add(time.Nanosecond))}
			if strings.Join(segs, " ") != strings.Join(want, " ") {
				t.Fatalf("changes %q, want %q", segs, want)
			}
			if got := changed.SegmentAt(&c.s, c.s.Clock); got != c.s.Segment {
				t.Fatalf("stored %q, rule at the clock %q", c.s.Segment, got)
			}
			// Re-scored every 2 hours after the correction: the last
			// scoring is within 2 hours of until, and nothing is due
			// before until.
			if until.Sub(c.s.ScoredAt) > 2*time.Hour {
				t.Errorf("last scored at %s, want within 2 h of %s", c.s.ScoredAt, until)
			}
			if next, ok := changed.NextDue(&c.s); ok && !next.After(until) {
				t.Errorf("still due at %s after advancing to %s", next, until)
			}
			// A second advance to the same time changes nothing.
			fx = aggregate.Effects{}
			changed.AdvanceAll(&c.s, testCustomer, until, &fx)
			if len(fx.Segments)+len(fx.Tiers) != 0 {
				t.Errorf("a second advance made %d segment and %d tier changes", len(fx.Segments), len(fx.Tiers))
			}
		})
	}
}
