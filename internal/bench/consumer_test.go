package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	cfg := Config{ConsumerBinary: bin, WorkDir: t.TempDir(), Log: func(string, ...any) {}}
	proc, err := startConsumer(cfg, consumerSettings{}, "consumer.log")
	if err != nil {
		t.Fatal(err)
	}
	defer proc.kill()
	ctx, stop := proc.guard(context.Background())
	defer stop()
	_, err = waitCommitted(ctx, []string{"127.0.0.1:1"}, "g", []string{"t"}, 10*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "consumer exited early") || !strings.Contains(err.Error(), "consumer.log") {
		t.Fatalf("want an early-exit error naming the log, got %v", err)
	}
}

// An exit the harness asked for (stop) does not cancel the guarded context.
func TestGuardIgnoresARequestedStop(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "consumer")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ConsumerBinary: bin, WorkDir: dir, Log: func(string, ...any) {}}
	proc, err := startConsumer(cfg, consumerSettings{}, "consumer.log")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := proc.guard(context.Background())
	defer stop()
	_, _ = proc.stop() // sleep dies of the SIGTERM: an exit status, but a requested one
	time.Sleep(50 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("guard cancelled after a requested stop: %v", context.Cause(ctx))
	}
}
