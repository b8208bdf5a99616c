package config

import (
	"strings"
	"testing"
)

// TestYAMLBadLadderNamesTiers: every ladder SPEC §5 cannot mean is refused
// at start with an error that names the setting (`tiers`, or `hysteresis`)
// and says what is wrong, never a crash and never a ladder quietly
// different from the one written.
func TestYAMLBadLadderNamesTiers(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty name", "tiers:\n  - {name: '', min: 0}\n", []string{"tiers", "empty name"}},
		{"no name", "tiers:\n  - {min: 0}\n", []string{"tiers", "empty name"}},
		{"null name", "tiers:\n  - {name: ~, min: 0}\n", []string{"tiers", "empty name"}},
		{"blank name", "tiers:\n  - {name: '  ', min: 0}\n", []string{"tiers", "empty name"}},
		{"blank name in a mapping", "tiers: {' ': 0, gold: 5}\n", []string{"tiers", "empty name"}},
		{"empty name in a mapping", "tiers: {'': 0}\n", []string{"tiers", "empty name"}},
		{"null name in a mapping", "tiers: {~: 0, gold: 5}\n", []string{"tiers", "empty name"}},
		{"name twice", "tiers:\n  - {name: a, min: 0}\n  - {name: a, min: 10}\n", []string{"tiers", `"a"`, "twice"}},
		{"threshold twice", "tiers:\n  - {name: a, min: 10}\n  - {name: b, min: 10.0}\n", []string{"tiers", `"a"`, `"b"`, "same threshold 10"}},
		{"threshold twice in a mapping", "tiers: {a: 0, b: 7, c: 7}\n", []string{"tiers", `"b"`, `"c"`, "same threshold 7"}},
		{"two thresholds in one cent", "tiers: {a: 0, b: 10.001, c: 10.009}\n", []string{"tiers", `"b" can never be held`, "2 decimal places"}},
		{"negative threshold", "tiers:\n  - {name: a, min: -0.01}\n", []string{"tiers", `"a"`, "negative", "-0.01"}},
		{"negative threshold in a mapping", "tiers: {a: 0, b: -5}\n", []string{"tiers", `"b"`, "negative"}},
		{"no tier", "tiers: []\n", []string{"tiers", "at least one tier"}},
		{"not a number", "tiers: {a: ten}\n", []string{"tiers.a", "not a decimal"}},
		{"hysteresis below 0", "hysteresis: -0.01\n", []string{"hysteresis", "[0,1)"}},
		{"hysteresis 1", "hysteresis: 1\n", []string{"hysteresis", "[0,1)"}},
		{"hysteresis not a number", "hysteresis: 5%\n", []string{"hysteresis", "not a decimal"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f File
			err := ParseFile([]byte(c.yaml), &f)
			if err == nil {
				var m any
				m, err = f.Model()
				if err == nil {
					t.Fatalf("accepted; model %+v", m)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
