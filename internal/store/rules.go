// The rules the timer index was derived under, and re-deriving it when
// they change (docs/operations.md, "Changing the model's settings").

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// TimerRulesKey is the hash recording the settings that make customers'
// due times (SPEC §8: at_risk_after_days, lapsed_after_days; §9:
// rescore_every_days, and whether the predictive model is on at all): the
// timer index holds due times derived under them. When a consumer starts under other values, the index is behind
// its rule, and the customers are re-indexed once (Reindex).
const TimerRulesKey = "ltv:timer_rules"

// timerRulesPassKey is the lease of the one consumer that re-indexes
// after a change of the rules; it expires if that consumer dies.
const timerRulesPassKey = "ltv:timer_rules:pass" //nolint:gosec // a key name, not a credential

// TimerRules are the settings a model's due times depend on, as recorded
// in TimerRulesKey (Go duration text, so any value the configuration
// accepts is recorded exactly).
type TimerRules struct {
	AtRiskAfter  time.Duration
	LapsedAfter  time.Duration
	RescoreEvery time.Duration // 0 without the predictive model or re-scoring
	// Predictive says the predictive model is on: turned on, every
	// customer is due to be scored; turned off, to drop its prediction.
	Predictive bool
}

// TimerRulesOf gives the model's timer rules.
func TimerRulesOf(m *aggregate.Model) TimerRules {
	r := TimerRules{AtRiskAfter: m.AtRiskAfter, LapsedAfter: m.LapsedAfter, Predictive: m.Predictive != nil}
	if m.Predictive != nil {
		r.RescoreEvery = m.Predictive.RescoreEvery
	}
	return r
}

var timerRuleFields = []string{"at_risk_after", "lapsed_after", "rescore_every", "predictive"}

func (r TimerRules) values() []string {
	predictive := "off"
	if r.Predictive {
		predictive = "on"
	}
	return []string{r.AtRiskAfter.String(), r.LapsedAfter.String(), r.RescoreEvery.String(), predictive}
}

// String renders the rules for logs.
func (r TimerRules) String() string {
	v := r.values()
	return "at_risk_after=" + v[0] + " lapsed_after=" + v[1] + " rescore_every=" + v[2] + " predictive=" + v[3]
}

// RecordedTimerRules returns the rules recorded in TimerRulesKey, with
// same saying whether they equal rules. None recorded (a first start, or
// a state written by a build before the key existed, perhaps under other
// settings) is not the same: the walk that follows finds nothing to do on
// an empty database and re-derives an older one. A recorded field that is
// not a duration reads as zero (which no valid configuration has), so it
// is taken as a change.
func (r *Redis) RecordedTimerRules(ctx context.Context, rules TimerRules) (recorded TimerRules, same bool, err error) {
	want := rules.values()
	got, err := r.client.HMGet(ctx, TimerRulesKey, timerRuleFields...).Result()
	if err != nil {
		return TimerRules{}, false, fmt.Errorf("timer rules: %w", err)
	}
	same = true
	durations := []*time.Duration{&recorded.AtRiskAfter, &recorded.LapsedAfter, &recorded.RescoreEvery}
	for i, v := range got {
		s, _ := v.(string)
		if i < len(durations) {
			*durations[i], _ = time.ParseDuration(s)
		} else {
			recorded.Predictive = s == "on"
		}
		same = same && s == want[i]
	}
	return recorded, same, nil
}

// fieldValues interleaves the rules' field names with values, for HSET.
func fieldValues(values []string) []any {
	args := make([]any, 0, 2*len(values))
	for i, v := range values {
		args = append(args, timerRuleFields[i], v)
	}
	return args
}

// SetTimerRules records rules once the index is derived under them.
func (r *Redis) SetTimerRules(ctx context.Context, rules TimerRules) error {
	if err := r.client.HSet(ctx, TimerRulesKey, fieldValues(rules.values())...).Err(); err != nil {
		return fmt.Errorf("timer rules: %w", err)
	}
	return nil
}

// ErrLeaseLost says another consumer holds the re-indexing lease: this
// one's expired before it renewed it.
var ErrLeaseLost = errors.New("re-indexing lease lost")

var renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// TakeReindexLease makes owner the one consumer that re-indexes, for ttl
// unless renewed; false when another holds it.
func (r *Redis) TakeReindexLease(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	ok, err := r.client.SetNX(ctx, timerRulesPassKey, owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("re-indexing lease: %w", err)
	}
	return ok, nil
}

// RenewReindexLease extends owner's lease by ttl, or returns ErrLeaseLost.
func (r *Redis) RenewReindexLease(ctx context.Context, owner string, ttl time.Duration) error {
	n, err := renewLeaseScript.Run(ctx, r.client, []string{timerRulesPassKey}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("re-indexing lease: %w", err)
	}
	if n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// ReleaseReindexLease gives up owner's lease, if it still holds it.
func (r *Redis) ReleaseReindexLease(ctx context.Context, owner string) error {
	if err := releaseLeaseScript.Run(ctx, r.client, []string{timerRulesPassKey}, owner).Err(); err != nil {
		return fmt.Errorf("re-indexing lease: %w", err)
	}
	return nil
}

// Reindex brings customers' index entries forward to their due times
// under m: each customer with a due time gets it in its partition's index
// (the input partition of its latest applied record) unless its entry is
// already earlier (ZADD LT). An entry is never moved later nor removed
// here, so a consumer writing the same customer meanwhile loses nothing:
// an entry earlier than due only loads the customer once more when stream
// time reaches it, which fires nothing and moves the entry on (see the
// index's comment in timers.go). It returns how many entries it wrote.
func (r *Redis) Reindex(ctx context.Context, m *aggregate.Model, snaps []Snapshot) (int, error) {
	n := 0
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range snaps {
			st := &snaps[i].State
			if len(st.Applied) == 0 {
				continue
			}
			due, ok := m.NextDue(st)
			if !ok {
				continue
			}
			part := st.Applied[len(st.Applied)-1].Partition
			p.ZAddLT(ctx, TimersKey(part), redis.Z{Score: timeScore(due), Member: snaps[i].CustomerID})
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reindex %d customers: %w", n, err)
	}
	return n, nil
}
