package aggregate_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// TestSegmentsFollowChangedThresholds: a customer stored under one pair of
// segment thresholds and loaded under another (LTV_CONFIG changed across a
// restart) takes the new rule's segment when its partition's stream time
// next passes its clock, including a lapsed customer whose longer
// thresholds make it at risk again, which no ordinary due time would
// reach. Under unchanged thresholds nothing of this fires.
func TestSegmentsFollowChangedThresholds(t *testing.T) {
	days := func(n int) time.Duration { return time.Duration(n) * aggregate.Day }
	thresholds := func(atRisk, lapsed int) *aggregate.Model {
		return mustModel(t, func(m *aggregate.Model) { m.AtRiskAfter, m.LapsedAfter = days(atRisk), days(lapsed) })
	}
	cases := []struct {
		name string
		// before runs under the default thresholds (90/180 days).
		before        func(l *segmentLog)
		atRisk, after int
		until         string
		want          []string // changes made under the new thresholds
		wantSegment   string
		wantDue       string // "" when no timer is left
	}{
		{
			name:   "shorter: due at the new threshold",
			before: func(l *segmentLog) { l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z")) },
			atRisk: 30, after: 60, until: "2026-02-15T00:00:00Z",
			want:        []string{"new→at_risk@timer:2026-01-31T00:00:00Z"},
			wantSegment: aggregate.SegmentAtRisk, wantDue: "2026-03-02T00:00:00Z",
		},
		{
			name: "shorter, clock already past the new threshold: changed just after the clock",
			before: func(l *segmentLog) {
				l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
				l.event(refunded("r1", "1.00", "2026-03-01T00:00:00Z")) // the clock moves, the segment stays new
			},
			atRisk: 30, after: 60, until: "2026-03-01T00:00:01Z",
			want:        []string{"new→at_risk@timer:2026-03-01T00:00:00.000000001Z"},
			wantSegment: aggregate.SegmentAtRisk, wantDue: "2026-03-02T00:00:00Z", // 60 days
		},
		{
			name: "longer: a lapsed customer is at risk again",
			before: func(l *segmentLog) {
				l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
				l.advance("2026-07-01T00:00:00Z") // at risk, then lapsed under 90/180
			},
			atRisk: 120, after: 365, until: "2026-07-10T00:00:00Z",
			want:        []string{"lapsed→at_risk@timer:2026-06-30T00:00:00.000000001Z"},
			wantSegment: aggregate.SegmentAtRisk, wantDue: "2027-01-01T00:00:00Z",
		},
		{
			name: "longer: an at-risk customer is new again, then at risk at the new threshold",
			before: func(l *segmentLog) {
				l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
				l.advance("2026-04-05T00:00:00Z") // at risk at 90 days
			},
			atRisk: 100, after: 200, until: "2026-04-20T00:00:00Z",
			want: []string{
				"at_risk→new@timer:2026-04-01T00:00:00.000000001Z",
				"new→at_risk@timer:2026-04-11T00:00:00Z",
			},
			wantSegment: aggregate.SegmentAtRisk, wantDue: "2026-07-20T00:00:00Z",
		},
		{
			name: "unchanged: nothing fires before the due time",
			before: func(l *segmentLog) {
				l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
				l.advance("2026-04-05T00:00:00Z")
			},
			atRisk: 90, after: 180, until: "2026-06-29T00:00:00Z",
			wantSegment: aggregate.SegmentAtRisk, wantDue: "2026-06-30T00:00:00Z",
		},
		{
			name: "churned customers keep their segment",
			before: func(l *segmentLog) {
				l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
				l.event(churned("c1", "2026-01-02T00:00:00Z"))
			},
			atRisk: 1, after: 2, until: "2027-01-01T00:00:00Z",
			wantSegment: aggregate.SegmentChurned,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newSegmentLog(t)
			tc.before(l)
			l.out = nil
			l.c.m = thresholds(tc.atRisk, tc.after)
			l.advance(tc.until)
			if !reflect.DeepEqual(l.out, tc.want) {
				t.Errorf("changes\n got %q\nwant %q", l.out, tc.want)
			}
			if l.c.s.Segment != tc.wantSegment {
				t.Errorf("segment %q, want %q", l.c.s.Segment, tc.wantSegment)
			}
			if got := l.c.m.SegmentAt(&l.c.s, at(tc.until)); got != l.c.s.Segment {
				t.Errorf("stored %q, the rule gives %q at %s", l.c.s.Segment, got, tc.until)
			}
			due, ok := l.c.m.NextDue(&l.c.s)
			switch {
			case tc.wantDue == "" && ok:
				t.Errorf("due at %s, want none", due)
			case tc.wantDue != "" && (!ok || !due.Equal(at(tc.wantDue))):
				t.Errorf("due %s (%v), want %s", due, ok, tc.wantDue)
			}
			// Advancing again to the same time changes nothing: each
			// correction fires once.
			l.out = nil
			l.advance(tc.until)
			if len(l.out) != 0 {
				t.Errorf("a second advance changed %q", l.out)
			}
		})
	}
}

// TestChangedThresholdsWaitForStreamTimeBeyondTheClock: a customer whose
// clock is the partition's stream time is corrected only once stream time
// moves on, so the correction's cause (timer:<clock + 1ns>) never repeats
// the cause of the change that set its old segment.
func TestChangedThresholdsWaitForStreamTimeBeyondTheClock(t *testing.T) {
	l := newSegmentLog(t)
	l.event(placed("e1", "10.00", "2026-01-01T00:00:00Z"))
	l.advance("2026-06-30T00:00:00Z") // lapsed by the timer due at this very time
	l.c.m = mustModel(t, func(m *aggregate.Model) { m.AtRiskAfter, m.LapsedAfter = 100*aggregate.Day, 365*aggregate.Day })
	l.out = nil
	l.advance("2026-06-30T00:00:00Z")
	if len(l.out) != 0 || l.c.s.Segment != aggregate.SegmentLapsed {
		t.Fatalf("at the clock itself: changes %q, segment %q", l.out, l.c.s.Segment)
	}
	if due, ok := l.c.m.NextDue(&l.c.s); !ok || !due.Equal(at("2026-06-30T00:00:00.000000001Z")) {
		t.Fatalf("due %s (%v), want a nanosecond after the clock", due, ok)
	}
	l.advance("2026-07-01T00:00:00Z")
	want := []string{"lapsed→at_risk@timer:2026-06-30T00:00:00.000000001Z"}
	if !reflect.DeepEqual(l.out, want) {
		t.Fatalf("changes\n got %q\nwant %q", l.out, want)
	}
}

// TestNextDueReadsTheRuleAsSegmentAtDoes: NextDue finds the rule's segment
// at the clock together with the next threshold (segmentRule, which
// SegmentAt reads too); on states around every boundary (a nanosecond either side of each
// threshold, churned or not, zero to three orders), a stored segment
// equal to SegmentAt's draws no correction, and any other one does.
func TestNextDueReadsTheRuleAsSegmentAtDoes(t *testing.T) {
	m := mustModel(t, func(m *aggregate.Model) { m.AtRiskAfter, m.LapsedAfter = 10*aggregate.Day, 20*aggregate.Day+1 })
	last := at("2026-01-01T00:00:00Z")
	var clocks []time.Time
	for _, after := range []time.Duration{0, m.AtRiskAfter, m.LapsedAfter, 400 * aggregate.Day} {
		clocks = append(clocks, last.Add(after-1), last.Add(after), last.Add(after+1))
	}
	segments := []string{"", aggregate.SegmentNew, aggregate.SegmentActive, aggregate.SegmentAtRisk, aggregate.SegmentLapsed, aggregate.SegmentChurned}
	for orders := int64(0); orders <= 3; orders++ {
		for _, churn := range []bool{false, true} {
			for _, clock := range clocks {
				s := aggregate.State{Orders: orders, Clock: clock}
				if orders > 0 {
					s.FirstOrderAt, s.LastOrderAt = last, last
				}
				if churn {
					s.LastChurnAt = last.Add(aggregate.Day)
				}
				rule := m.SegmentAt(&s, clock)
				// A threshold a nanosecond after the clock is due then
				// anyway.
				natural := m.SegmentAt(&s, clock.Add(time.Nanosecond)) != rule
				for _, stored := range segments {
					s.Segment = stored
					due, ok := m.NextDue(&s)
					corrected := ok && due.Equal(clock.Add(time.Nanosecond))
					if stored != rule && !corrected || stored == rule && corrected && !natural {
						t.Errorf("orders %d, churned %v, clock %s, stored %q, rule %q: NextDue %s %v",
							orders, churn, clock.Format(time.RFC3339Nano), stored, rule, due.Format(time.RFC3339Nano), ok)
					}
				}
			}
		}
	}
}
