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

// TestPort: a port in an address setting is digits, 0 to 65535, whatever
// leading zeros it has; signs, blanks, names and overflow are not ports.
func TestPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"6379", 6379, true}, {"65535", 65535, true}, {"000080", 80, true},
		{"65536", 0, false}, {"99999999999999999999", 0, false}, {"", 0, false},
		{"+80", 0, false}, {"-1", 0, false}, {" 80", 0, false}, {"http", 0, false},
	} {
		if got, ok := Port(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("Port(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
