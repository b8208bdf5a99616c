// Package testutil starts real servers for tests: redis-server processes
// and in-process Kafka-protocol brokers (franz-go's kfake) on free loopback
// ports, stopped automatically with t.Cleanup.
package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/localredis"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/redis/go-redis/v9"
)

// FreePort returns a loopback TCP port that was free a moment ago
// (localredis.FreePort, failing the test on error).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := localredis.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// RedisServer is a redis-server child process owned by a test: a
// localredis.Server whose failures fail the test.
type RedisServer struct {
	*localredis.Server
	t testing.TB
}

// Client returns a client closed at cleanup.
func (r *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// StoreClient returns a client for the server made by store.NewClient, as
// the service makes it; it is closed at cleanup.
func (r *RedisServer) StoreClient() redis.UniversalClient {
	r.t.Helper()
	c, err := store.NewClient(store.Config{URL: r.URL()})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Store returns a store with the default settings over a StoreClient:
// the store the updater, the read API and ltvctl make from the same URL.
func (r *RedisServer) Store() *store.Redis {
	r.t.Helper()
	return store.NewRedis(r.StoreClient(), store.Config{})
}

// StartRedis starts a fresh, non-persistent redis-server on a free port.
// Without redis-server on PATH it fails the test with how to get it: the
// suites need a real server and must not silently skip.
// Extra arguments are passed through (for example "--cluster-enabled", "yes").
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	return startRedisWith(t, func(*localredis.Server) {}, extra...)
}

// startRedisWith is StartRedis with set applied to the server before it
// starts.
func startRedisWith(t testing.TB, set func(*localredis.Server), extra ...string) *RedisServer {
	t.Helper()
	s, err := localredis.New(t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	set(s)
	r := &RedisServer{Server: s, t: t}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server on its port and waits until it answers.
func (r *RedisServer) Start() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.Server.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
}

// StartPersistentRedis starts a redis-server that keeps its data across
// Restart (append-only file, fsync on every write), for tests that stop
// and start Redis mid-stream.
func StartPersistentRedis(t testing.TB) *RedisServer {
	return StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
}

// Restart stops the server gracefully (it flushes its data) and starts it
// again after down.
func (r *RedisServer) Restart(down time.Duration) {
	r.t.Helper()
	r.Shutdown()
	time.Sleep(down)
	r.Start()
}
