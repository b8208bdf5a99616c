package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"go.uber.org/zap"
)

// TestBatchHold: batches are held back from the check that finds a reason
// until one finds none; a check that cannot tell changes nothing.
func TestBatchHold(t *testing.T) {
	reason := &store.EvictionPolicyError{Addr: "r:6379", Policy: "allkeys-lru", MaxMemory: 1 << 30}
	unknown := errors.New("INFO refused")
	steps := []struct {
		check    error
		heldBack bool
	}{
		{unknown, false}, // nothing known yet
		{nil, false},
		{reason, true},
		{unknown, true}, // still the last finding
		{errors.New("redis unreachable"), true},
		{reason, true},
		{nil, false},
		{unknown, false},
	}
	var next error
	h := newTestHold(func() error { return next }, 0)
	for i, step := range steps {
		next = step.check
		refreshed := h.refresh(context.Background())
		held := h.err()
		if (held != nil) != step.heldBack || (refreshed != nil) != step.heldBack {
			t.Fatalf("step %d (check %v): held back by %v, refresh %v; want held back %v", i, step.check, held, refreshed, step.heldBack)
		}
		if held != nil && !errors.Is(held, reason) {
			t.Fatalf("step %d: held back by %v, want %v", i, held, reason)
		}
	}
}

// TestBatchHoldCadence: with nothing wrong a check runs once per interval;
// while a reason holds, or nothing is known, at every call, so a fix is
// noticed at once.
func TestBatchHoldCadence(t *testing.T) {
	checks := 0
	var next error
	h := newTestHold(func() error { checks++; return next }, time.Hour)
	for range 3 {
		_ = h.refreshIfDue(context.Background())
	}
	if checks != 1 {
		t.Fatalf("%d checks with nothing wrong, want 1 per interval", checks)
	}
	next = &store.EvictionPolicyError{Policy: "allkeys-lru"}
	_ = h.refresh(context.Background())
	checks = 0
	for range 3 {
		if h.refreshIfDue(context.Background()) == nil {
			t.Fatal("not held back")
		}
	}
	if checks != 3 {
		t.Fatalf("%d checks while held back, want 3", checks)
	}
	next = nil
	if err := h.refreshIfDue(context.Background()); err != nil {
		t.Fatalf("still held back by %v", err)
	}
}

func newTestHold(check func() error, every time.Duration) *batchHold {
	return &batchHold{what: "test", log: zap.NewNop(), every: every,
		check:    func(context.Context) error { return check() },
		isReason: errorIs[*store.EvictionPolicyError]}
}
