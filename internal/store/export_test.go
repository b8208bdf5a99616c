// Test hooks into the store's internals, for the package's external tests.

package store

import "context"

// HoldClears puts hold around every clear attempt of r's Clearer: hold
// gets the attempt's batch and the real attempt, to make or not. Call it
// before the clearer starts.
func (r *Redis) HoldClears(hold func(ctx context.Context, acked []Acked, clear func(context.Context, []Acked) error) error) {
	clear := r.clears.clear
	r.clears.clear = func(ctx context.Context, acked []Acked) error { return hold(ctx, acked, clear) }
}
