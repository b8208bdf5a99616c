package service

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"go.uber.org/zap"
)

// TestEvictionGuard: batches are held back from the check that finds an
// evicting policy until one finds none; a check that cannot tell changes
// nothing.
func TestEvictionGuard(t *testing.T) {
	risk := &store.EvictionPolicyError{Addr: "r:6379", Policy: "allkeys-lru", MaxMemory: 1 << 30}
	unknown := fmt.Errorf("%w: INFO refused", store.ErrEvictionPolicyUnknown)
	steps := []struct {
		check    error
		heldBack bool
	}{
		{unknown, false}, // nothing known yet
		{nil, false},
		{risk, true},
		{unknown, true}, // still the last finding
		{errors.New("redis unreachable"), true},
		{risk, true},
		{nil, false},
		{unknown, false},
	}
	var next error
	g := &evictionGuard{check: func(context.Context) error { return next }, log: zap.NewNop()}
	for i, step := range steps {
		next = step.check
		refreshed := g.refresh(context.Background())
		held := g.err()
		if (held != nil) != step.heldBack || (refreshed != nil) != step.heldBack {
			t.Fatalf("step %d (check %v): held back by %v, refresh %v; want held back %v", i, step.check, held, refreshed, step.heldBack)
		}
		if held != nil && !errors.Is(held, risk) {
			t.Fatalf("step %d: held back by %v, want %v", i, held, risk)
		}
	}
}
