package testutil

import (
	"context"
	"testing"
	"time"
)

// Context is the test's context with a deadline: a test that hangs on a
// server fails after timeout with its goroutines' stacks instead of
// holding the whole run until go test's own limit. It ends with the test.
func Context(t testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// SkipShort skips the test under go test -short; why says what makes it
// long (a binary to build, a whole pipeline or benchmark to run), which
// go test -v shows. The quick suite leaves out every such test the same
// way.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
}
