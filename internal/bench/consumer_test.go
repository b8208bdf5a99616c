package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// A consumer that dies on its own (here: a binary that exits at once, as
// the real one does when its HTTP port is taken) must end the phase with
// the reason, not leave it waiting for commits that never come.
func TestGuardEndsWhenTheConsumerExitsEarly(t *testing.T) {
	bin, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false binary")
	}
	_, ctx := guardedConsumer(t, bin, t.TempDir())
	_, err = waitCommitted(ctx, []string{"127.0.0.1:1"}, "g", []string{"t"}, 10*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "consumer exited early") || !strings.Contains(err.Error(), "consumer.log") {
		t.Fatalf("want an early-exit error naming the log, got %v", err)
	}
}

// An exit the harness asked for (stop) does not cancel the guarded context.
//
// In a synctest bubble, synctest.Wait returns only once the guard's
// goroutine has seen the exit and finished (or blocks for good), so the
// check below runs after the guard has decided, not after a guessed delay.
func TestGuardIgnoresARequestedStop(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "consumer")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		proc, ctx := guardedConsumer(t, bin, dir)
		_, _ = proc.stop() // sleep dies of the SIGTERM: an exit status, but a requested one
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatalf("guard cancelled after a requested stop: %v", context.Cause(ctx))
		}
	})
}

// guardedConsumer starts bin as the consumer and guards it; the guard and
// the process end with the test.
func guardedConsumer(t *testing.T, bin, dir string) (*consumerProcess, context.Context) {
	t.Helper()
	cfg := Config{ConsumerBinary: bin, WorkDir: dir, Log: func(string, ...any) {}}
	proc, err := startConsumer(cfg, consumerSettings{}, "consumer.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.kill)
	ctx, stop := proc.guard(context.Background())
	t.Cleanup(stop)
	return proc, ctx
}

func TestNextPollApproachesTheEndInShorterSteps(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name             string
		prevLag, lag     int64
		since, min, want time.Duration
	}{
		{"first poll", -1, 1000, 0, 10 * ms, noProgressPoll},
		{"no progress", 500, 500, 100 * ms, 10 * ms, noProgressPoll},
		{"lag grew", 500, 600, 100 * ms, 10 * ms, noProgressPoll},
		{"far from the end: capped", 1_000_000, 960_000, 1000 * ms, 10 * ms, maxPoll},
		{"half the eta", 10_000, 6_000, 100 * ms, 10 * ms, 75 * ms}, // 6000 left at 40/ms: 150 ms
		{"near the end: the minimum", 1_000, 100, 100 * ms, 10 * ms, 10 * ms},
		{"a minimum above the cap wins", -1, 5, 0, 300 * ms, 300 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextPoll(tt.prevLag, tt.lag, tt.since, tt.min); got != tt.want {
				t.Fatalf("nextPoll(%d, %d, %v, %v) = %v, want %v", tt.prevLag, tt.lag, tt.since, tt.min, got, tt.want)
			}
		})
	}
}
