package stream

import "testing"

// TestAnOlderReadingNeverUndoesANewerOne: readings of the limits overlap
// (the periodic one, one before a cut, one after a refusal), and their
// answers arrive in any order. Whatever the order of arrival, a topic
// ends with the value of the reading that started last, and a halving
// after a refusal is not undone by a reading that started before it.
func TestAnOlderReadingNeverUndoesANewerOne(t *testing.T) {
	tests := []struct {
		name   string
		arrive []topicLimit // in order of arrival
		want   int
		halved bool
	}{
		{"in order", []topicLimit{{bytes: 2000, read: true, reading: 1}, {bytes: 3000, read: true, reading: 2}}, 3000, false},
		{"newer answers first", []topicLimit{{bytes: 3000, read: true, reading: 2}, {bytes: 2000, read: true, reading: 1}}, 3000, false},
		{"halving, then an older reading's answer", []topicLimit{{bytes: 1500, halved: true, reading: 3}, {bytes: 3000, read: true, reading: 2}}, 1500, true},
		{"halving, then a newer reading's answer", []topicLimit{{bytes: 1500, halved: true, reading: 3}, {bytes: 2500, read: true, reading: 4}}, 2500, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewTopicLimits(LimitsConfig{Topics: []string{"dlq"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.arrive {
				l.set("dlq", v)
			}
			if got := l.Limit("dlq"); got != tc.want {
				t.Errorf("limit %d, want %d", got, tc.want)
			}
			if got := l.limits["dlq"].halved; got != tc.halved {
				t.Errorf("halved %v, want %v", got, tc.halved)
			}
		})
	}
}
