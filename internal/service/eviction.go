package service

import (
	"context"
	"errors"
	"sync"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"go.uber.org/zap"
)

// evictionGuard holds batches back while Redis may evict the state (a
// memory limit with an allkeys-* policy): a batch written then could be
// lost without a trace, while one held back is only late, and goes on by
// itself once the policy is fixed.
type evictionGuard struct {
	check func(context.Context) error // store.Redis.CheckEvictionPolicy
	log   *zap.Logger

	mu      sync.Mutex
	risk    *store.EvictionPolicyError // nil: batches may go on
	unknown bool                       // the last check could not tell
}

// refresh checks the policy and returns the eviction risk it found (nil if
// none). A check that cannot tell (INFO refused by a proxy or an ACL, or
// Redis unreachable) keeps what the last one found.
func (g *evictionGuard) refresh(ctx context.Context) error {
	err := g.check(ctx)
	var risk *store.EvictionPolicyError
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case errors.As(err, &risk):
		if g.risk == nil || *g.risk != *risk {
			g.log.Error("redis may evict customer state; batches are held back until it cannot", zap.Error(risk))
		}
		g.risk, g.unknown = risk, false
		return risk
	case err != nil:
		if !g.unknown && ctx.Err() == nil {
			g.log.Warn("redis eviction policy not readable; make sure it is noeviction", zap.Error(err))
		}
		g.unknown = true
	default:
		if g.risk != nil {
			g.log.Info("redis eviction policy is safe again; batches go on", zap.String("policy", "no allkeys-* with a memory limit"))
		}
		g.risk, g.unknown = nil, false
	}
	if g.risk != nil {
		return g.risk
	}
	return nil
}

// err is the reason batches are held back, or nil.
func (g *evictionGuard) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.risk != nil {
		return g.risk
	}
	return nil
}
