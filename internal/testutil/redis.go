// Package testutil starts real servers for tests: redis-server processes
// and in-process Kafka-protocol brokers (franz-go's kfake) on free loopback
// ports, stopped automatically with t.Cleanup.
package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// RedisServer is a redis-server child process owned by a test.
type RedisServer struct {
	Port int
	Dir  string
	Args []string
	t    testing.TB
	cmd  *exec.Cmd
}

// Addr is host:port.
func (r *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the redis:// URL of database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr() + "/0" }

// Client returns a client closed at cleanup.
func (r *RedisServer) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisBinary finds redis-server or fails the test with how to get it:
// the test suite needs a real server and must not silently skip.
func RedisBinary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found on PATH: run `make test` (it installs it) or `apt-get install -y redis-server`")
	}
	return path
}

// StartRedis starts a fresh, non-persistent redis-server on a free port.
// Extra arguments are passed through (for example "--cluster-enabled", "yes").
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	r := &RedisServer{Port: FreePort(t), Dir: t.TempDir(), Args: extra, t: t}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server on its port and waits until it answers.
func (r *RedisServer) Start() {
	r.t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.Dir, "--protected-mode", "no", "--logfile", filepath.Join(r.Dir, "redis.log"),
	}, r.Args...)
	r.cmd = exec.Command(RedisBinary(r.t), args...)
	r.cmd.Stdout, r.cmd.Stderr = os.Stderr, os.Stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
			r.t.Fatalf("redis-server on %s did not answer: %v\n%s", r.Addr(), err, log)
		}
		time.Sleep(20 * time.Millisecond)
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

// Shutdown stops the server with SIGTERM, as an operator would, and waits.
func (r *RedisServer) Shutdown() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, like a Redis that is hung or far too slow. Resume undoes it.
func (r *RedisServer) Pause() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (r *RedisServer) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

// Stop kills the server (like a crash: no save) and waits for it.
func (r *RedisServer) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot die otherwise
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// String describes the server for logs.
func (r *RedisServer) String() string { return fmt.Sprintf("redis-server %s", r.Addr()) }
