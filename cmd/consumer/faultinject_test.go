//go:build faultinject

package main

import (
	"strings"
	"testing"
)

func TestParseFaults(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]float64
		err  string
	}{
		{"", map[string]float64{}, ""},
		{"after-save:0.01, after-publish:1", map[string]float64{"save": 0.01, "publish": 1}, ""},
		{"after-save:2", nil, `"after-save:2" is not`},
		{"after-commit:0.1", nil, "is not after-save:P"},
		{"after-save", nil, "is not after-save:P"},
	}
	for _, tc := range cases {
		got, err := parseFaults(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, want an error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: got %v %v, want %v", tc.in, got, err, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s = %v, want %v", tc.in, k, got[k], v)
			}
		}
	}
}
