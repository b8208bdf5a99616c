package settings

import (
	"reflect"
	"testing"
	"time"
)

func TestPositive(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
	}{{0, time.Second}, {-5, time.Second}, {time.Millisecond, time.Millisecond}} {
		v := tc.in
		Positive(&v, time.Second)
		if v != tc.want {
			t.Errorf("Positive(%v) = %v, want %v", tc.in, v, tc.want)
		}
	}
	n := 7
	Positive(&n, 3)
	if n != 7 {
		t.Errorf("a set count was replaced: %d", n)
	}
}

func TestIfZero(t *testing.T) {
	s := ""
	IfZero(&s, "ltv-dlq")
	if s != "ltv-dlq" {
		t.Errorf("empty string kept: %q", s)
	}
	s = "mine"
	IfZero(&s, "ltv-dlq")
	if s != "mine" {
		t.Errorf("a set string was replaced: %q", s)
	}
}

func TestSplitList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"a", []string{"a"}},
		{"a, b,,c ", []string{"a", "b", "c"}},
		{"redis://h1:6379/0,redis://h2:6379/0", []string{"redis://h1:6379/0", "redis://h2:6379/0"}},
	} {
		if got := SplitList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
