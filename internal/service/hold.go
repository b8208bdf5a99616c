package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// batchHold holds batches back while a check finds a reason the state
// could go wrong without a trace: Redis may evict it, or an input log is
// not the one it was built from. A batch held back is only late; one
// written then could be lost, or its events skipped, for good. Batches go
// on by themselves once a check finds the reason gone.
type batchHold struct {
	// check returns a reason to hold batches back (an error isReason
	// accepts), another error when it cannot tell, or nil.
	check    func(context.Context) error
	isReason func(error) bool
	// every is how often refreshIfDue checks while nothing is wrong; while
	// a reason holds or nothing is known it checks at every call.
	every time.Duration
	log   *zap.Logger
	what  string // what is checked, for logs

	mu      sync.Mutex
	reason  error // nil: batches may go on
	unknown bool  // the last check could not tell
	next    time.Time
}

// refreshIfDue checks if a check is due, and returns the reason batches are
// held back, or nil.
func (h *batchHold) refreshIfDue(ctx context.Context) error {
	h.mu.Lock()
	due := h.reason != nil || h.unknown || !time.Now().Before(h.next)
	h.mu.Unlock()
	if due {
		return h.refresh(ctx)
	}
	return h.err()
}

// refresh checks now and returns the reason batches are held back, or
// nil. A check that cannot tell keeps what the last one found.
func (h *batchHold) refresh(ctx context.Context) error {
	err := h.check(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil && h.isReason(err):
		if h.reason == nil || h.reason.Error() != err.Error() {
			h.log.Error("batches held back", zap.String("check", h.what), zap.Error(err))
		}
		h.reason, h.unknown = err, false
	case err != nil:
		if !h.unknown && ctx.Err() == nil {
			h.log.Warn("check could not tell; going on with what it last found", zap.String("check", h.what), zap.Error(err))
		}
		h.unknown = true
	default:
		if h.reason != nil {
			h.log.Info("batches go on again", zap.String("check", h.what))
		}
		h.reason, h.unknown = nil, false
		h.next = time.Now().Add(h.every)
	}
	return h.reason
}

// errorIs reports whether err is, or wraps, an error of type T (a
// batchHold's isReason).
func errorIs[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// err is the reason batches are held back, or nil.
func (h *batchHold) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reason
}
