package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemoRunsEndToEnd runs the demo exactly as `make demo` does, smaller,
// and checks its summary adds up.
func TestDemoRunsEndToEnd(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"--events", "3000", "--customers", "300", "--bad-rate", "0.01", "--lines-per-second", "5", "--rate", "0"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"embedded Kafka-protocol broker", "── summary", "events/s", "customers", "tier changes", "dead letters"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`dead letters\s+(\d+) \(bad records produced: (\d+)\)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no dead-letter line:\n%s", text)
	}
	dlq, _ := strconv.Atoi(m[1])
	bad, _ := strconv.Atoi(m[2])
	if dlq != bad || bad == 0 {
		t.Errorf("dead letters %d, bad records %d", dlq, bad)
	}
	if !regexp.MustCompile(`(?m)^  bronze\s+\d+`).MatchString(text) {
		t.Errorf("no per-tier counts:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^  lapsed\s+\d+`).MatchString(text) {
		t.Errorf("no per-segment counts:\n%s", text)
	}
	if m := regexp.MustCompile(`segment changes (\d+) \((\d+) by timers`).FindStringSubmatch(text); m == nil || m[2] == "0" {
		t.Errorf("no segment changes by timers:\n%s", text)
	}
	if !strings.Contains(text, "◆ ") {
		t.Errorf("no segment change lines:\n%s", text)
	}
}

func TestDemoUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--no-such-flag"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d for a bad flag", code)
	}
	if code := run([]string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d for -h", code)
	}
}
