package stream_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// silentBroker listens on a local port, accepts every connection and
// never answers: a broker whose requests hang until the caller gives up.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestReadIfUnreadWaitsForOneReadingAtMost: publishes that each have a
// dead letter to cut to a limit never read call ReadIfUnread at once,
// while the broker does not answer. The first of them reads the limits,
// for at most the reading's timeout (5 s); the others wait for that
// reading and share its outcome. None starts a reading of its own after
// it, or a publish would wait for two readings in a row (10 s) or more
// before its batch could go out.
func TestReadIfUnreadWaitsForOneReadingAtMost(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	limits, err := stream.NewTopicLimits(stream.LimitsConfig{Brokers: []string{silentBroker(t)}, Topics: []string{"dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	const publishes = 3
	waited := make([]time.Duration, publishes)
	var wg sync.WaitGroup
	for i := range waited {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			limits.ReadIfUnread(ctx, "dlq")
			waited[i] = time.Since(start)
		}()
	}
	wg.Wait()
	// One reading's timeout, with room for a loaded machine.
	const bound = 8 * time.Second
	for i, d := range waited {
		if d > bound {
			t.Errorf("publish %d waited %v for the topic limits, more than one reading (%v)", i, d.Round(time.Millisecond), bound)
		}
	}
	if got := limits.Limit("dlq"); got != stream.DefaultAssumedMaxMessageBytes {
		t.Errorf("limit %d, want the assumed %d", got, stream.DefaultAssumedMaxMessageBytes)
	}
}
