package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestDemoRunsEndToEnd runs the demo exactly as `make demo` does, smaller,
// and checks its summary adds up.
func TestDemoRunsEndToEnd(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--events", "3000", "--customers", "300", "--bad-rate", "0.01", "--lines-per-second", "5", "--rate", "0", "--api-addr", "127.0.0.1:0"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"embedded Kafka-protocol broker", "dashboard and read API on http://127.0.0.1:", "── summary", "events/s", "customers", "tier changes", "dead letters"} {
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

// TestDemoSummaryCountsFutureDeadLetters: with many events per customer
// the simulator's histories run past today, and the updater dead-letters
// every event dated more than max_future_skew (24 h) after its clock. The
// summary's dead letters must then still add up: the bad records plus the
// records dated that far ahead, which it says.
func TestDemoSummaryCountsFutureDeadLetters(t *testing.T) {
	var out, errOut bytes.Buffer
	// 100 events per customer from 2020 reach centuries ahead.
	code := run(context.Background(), []string{"--events", "3000", "--customers", "30", "--bad-rate", "0.01", "--rate", "0", "--lines-per-second", "0", "--api-addr", "127.0.0.1:0"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`dead letters\s+(\d+) \(bad records produced: (\d+), records dated more than 24h0m0s ahead of the clock: (\d+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no dead-letter line with the records dated ahead:\n%s", out.String())
	}
	dlq, _ := strconv.Atoi(m[1])
	bad, _ := strconv.Atoi(m[2])
	ahead, _ := strconv.Atoi(m[3])
	if ahead == 0 || bad == 0 || dlq != bad+ahead {
		t.Errorf("dead letters %d, bad records %d, dated ahead %d: they do not add up", dlq, bad, ahead)
	}
}

// TestDemoSummaryCountsEveryChange: the summary's tier and segment change
// counts are those the updater published. They come from the demo's own
// subscriber, which used to be given 300 ms after the updater caught up:
// at --rate 0 it was still thousands of records behind, and the summary
// said "segment changes 4025" with 10,334 on the topic.
func TestDemoSummaryCountsEveryChange(t *testing.T) {
	testutil.SkipShort(t, "runs the whole demo")
	var out, errOut testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--rate", "0", "--lines-per-second", "0", "--api-addr", "127.0.0.1:0", "--stay"}, &out, &errOut)
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "still serving the dashboard") {
		select {
		case code := <-exit:
			t.Fatalf("demo ended (exit %d):\n%s\n%s", code, out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no summary:\n%s", out.String())
		}
	}
	text := out.String()
	broker := regexp.MustCompile(`broker on (\S+),`).FindStringSubmatch(text)
	tiers := regexp.MustCompile(`tier changes\s+(\d+) \((\d+) up, (\d+) down\)`).FindStringSubmatch(text)
	segments := regexp.MustCompile(`segment changes (\d+) \((\d+) by timers`).FindStringSubmatch(text)
	if broker == nil || tiers == nil || segments == nil {
		t.Fatalf("summary lines missing:\n%s", text)
	}
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	for _, tt := range []struct {
		topic      string
		summary    string
		byTimer    string
		timerCount bool
	}{
		{"ltv-changes", tiers[1], "", false},
		{"ltv-segments", segments[1], segments[2], true},
	} {
		msgs, err := testutil.ReadAll(rctx, strings.Split(broker[1], ","), tt.topic)
		if err != nil {
			t.Fatal(err)
		}
		ids, timers := map[string]bool{}, 0
		for _, m := range msgs {
			var c struct {
				EventID  string `json:"event_id"`
				CausedBy string `json:"caused_by"`
			}
			if err := json.Unmarshal(m.Value, &c); err != nil {
				t.Fatal(err)
			}
			if !ids[c.EventID] && strings.HasPrefix(c.CausedBy, "timer:") {
				timers++
			}
			ids[c.EventID] = true
		}
		if got := strconv.Itoa(len(ids)); got != tt.summary {
			t.Errorf("%s holds %s distinct changes; the summary says %s", tt.topic, got, tt.summary)
		}
		if got := strconv.Itoa(timers); tt.timerCount && got != tt.byTimer {
			t.Errorf("%s holds %s changes by timers; the summary says %s", tt.topic, got, tt.byTimer)
		}
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d after Ctrl-C:\n%s", code, errOut.String())
	}
}

func TestDemoUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--no-such-flag"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d for a bad flag", code)
	}
	if code := run(context.Background(), []string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d for -h", code)
	}
}

// TestDemoRejectsBadValues: a value the demo cannot honour is a usage
// error (exit 2) that names the flag, before anything starts. The
// simulator reads 0 as "its default", so --events 0 used to simulate
// 10,000 records and --customers 0 a thousand customers (the summary then
// said "for 0 customers"); negative values failed with exit 1 after the
// broker and dashboard had started; a huge --rate crashed the demo out of
// memory.
func TestDemoRejectsBadValues(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--events", "0"}, "--events must be at least 1, got 0"},
		{[]string{"--events", "-5"}, "--events must be at least 1, got -5"},
		{[]string{"--customers", "0"}, "--customers must be at least 1, got 0"},
		{[]string{"--customers", "200000000"}, "--customers"},
		{[]string{"--duplicate-rate", "1.5"}, "--duplicate-rate must be in [0, 1], got 1.5"},
		{[]string{"--late-rate", "-0.1"}, "--late-rate must be in [0, 1], got -0.1"},
		{[]string{"--bad-rate", "NaN"}, "--bad-rate must be in [0, 1], got NaN"},
		{[]string{"--bad-rate", "0.5", "--late-rate", "0.5"}, "add up"},
		{[]string{"--rate", "-1"}, "--rate must be at least 0, got -1"},
		{[]string{"--lines-per-second", "-1"}, "--lines-per-second must be at least 0, got -1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append(tt.args, "--api-addr", "127.0.0.1:0"), &out, &errOut)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("the demo started before refusing its flags:\n%s", out.String())
			}
		})
	}
}

// TestDemoHugeRate: a --rate far above what the demo can produce only means
// "as fast as it goes"; it used to reserve memory for rate/20 messages and
// crash out of memory.
func TestDemoHugeRate(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--events", "300", "--customers", "30", "--rate", "100000000000", "--lines-per-second", "0", "--api-addr", "127.0.0.1:0"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "simulator: 300 records produced") {
		t.Fatalf("stdout:\n%s", out.String())
	}
}

// TestDemoStaysForTheDashboard runs the demo with --stay: after its
// summary the dashboard keeps answering, with the demo's figures, until
// the context ends; then the demo exits 0.
func TestDemoStaysForTheDashboard(t *testing.T) {
	testutil.SkipShort(t, "runs the whole demo")
	var out, errOut testutil.SyncBuffer // the running demo writes them while the test reads
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--events", "2000", "--customers", "200", "--rate", "0", "--lines-per-second", "1", "--api-addr", "127.0.0.1:0", "--stay"}, &out, &errOut)
	}()
	staying := regexp.MustCompile(`still serving the dashboard on (http://\S+/)`)
	deadline := time.Now().Add(2 * time.Minute)
	var m []string
	for m = staying.FindStringSubmatch(out.String()); m == nil; m = staying.FindStringSubmatch(out.String()) {
		select {
		case code := <-exit:
			t.Fatalf("demo ended (exit %d) instead of staying:\n%s\n%s", code, out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"still serving\" line:\n%s", out.String())
		}
	}
	customers := regexp.MustCompile(`(?m)^customers\s+(\d+)`).FindStringSubmatch(out.String())
	if customers == nil {
		t.Fatalf("no customer count:\n%s", out.String())
	}
	code, stats := testutil.GetJSON(t, m[1]+"v1/stats")
	if population, ok := stats["population"].(float64); code != 200 || !ok || strconv.FormatFloat(population, 'f', -1, 64) != customers[1] {
		t.Errorf("stats: %d, population %v; the summary says %s customers", code, stats["population"], customers[1])
	}
	// The paid channels carry the demo's illustrative acquisition costs,
	// so the Channels panel shows LTV:CAC; organic customers have none.
	ratios := map[string]any{}
	channels, _ := stats["channels"].([]any)
	for _, c := range channels {
		if row, ok := c.(map[string]any); ok {
			ratios[fmt.Sprint(row["channel"])] = row["ltv_cac"]
		}
	}
	if r, ok := ratios["paid_search"].(float64); !ok || r <= 0 {
		t.Errorf("paid_search LTV:CAC %v, want a ratio (channels %v)", ratios["paid_search"], channels)
	}
	if r, present := ratios["organic"]; !present || r != nil {
		t.Errorf("organic LTV:CAC %v (present %v), want null", r, present)
	}
	code, doc := testutil.GetJSON(t, m[1]+"v1/changes")
	changes, _ := doc["changes"].([]any)
	if code != 200 || len(changes) == 0 {
		t.Errorf("changes: %d, %d events", code, len(changes))
	}
	for _, c := range changes {
		if _, ok := c.(map[string]any); !ok {
			t.Errorf("changes: %v is not an event object", c)
		}
	}
	if code, _ := testutil.GetJSON(t, m[1]); code != 200 {
		t.Errorf("dashboard: %d", code)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d after Ctrl-C:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop after its context ended")
	}
}

// TestDemoCtrlCBeforeTheSummary: Ctrl-C while the simulator is still
// producing (or the updater still catching up) is the user stopping the
// demo, not a failure: it stops everything and exits 0 saying so. It used
// to print "demo: context canceled" and exit 1, with or without --stay.
func TestDemoCtrlCBeforeTheSummary(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		after string // Ctrl-C once stdout has this
	}{
		{"while producing", []string{"--events", "200000", "--customers", "2000", "--rate", "200"}, "dashboard and read API on"},
		{"while producing, --stay", []string{"--events", "200000", "--customers", "2000", "--rate", "200", "--stay"}, "dashboard and read API on"},
		{"while the updater catches up", []string{"--events", "60000", "--customers", "6000", "--rate", "0", "--lines-per-second", "0"}, "records produced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut testutil.SyncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			exit := make(chan int, 1)
			go func() { exit <- run(ctx, append(tt.args, "--api-addr", "127.0.0.1:0"), &out, &errOut) }()
			deadline := time.Now().Add(time.Minute)
			for !strings.Contains(out.String(), tt.after) {
				select {
				case code := <-exit:
					t.Fatalf("the demo ended (exit %d) before %q:\n%s\n%s", code, tt.after, out.String(), errOut.String())
				case <-time.After(10 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("no %q:\n%s\n%s", tt.after, out.String(), errOut.String())
				}
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			select {
			case code := <-exit:
				if code != 0 || errOut.String() != "" {
					t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, errOut.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the demo did not stop after Ctrl-C")
			}
			if !strings.Contains(out.String(), "interrupted") || strings.Contains(out.String(), "── summary") {
				t.Fatalf("stdout:\n%s", out.String())
			}
		})
	}
}
