package service

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/localredis"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRedisLogsGoToTheLogger: go-redis's own lines (here a failed dial)
// reach the service's logger at debug level, named go-redis, instead of
// raw lines on stderr.
func TestRedisLogsGoToTheLogger(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	RouteRedisLogs(zap.New(core))
	t.Cleanup(func() { RouteRedisLogs(zap.NewNop()) })
	port, err := localredis.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("a ping to a closed port succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterLoggerName("go-redis").Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	entries := logs.FilterLoggerName("go-redis").All()
	if len(entries) == 0 {
		t.Fatal("no go-redis line reached the logger")
	}
	if e := entries[0]; e.Level != zapcore.DebugLevel || !strings.Contains(e.Message, "dial") {
		t.Errorf("first go-redis line %v %q, want a debug line about the dial", e.Level, e.Message)
	}
}

// TestLoggerWritesNoStackTraces: an error line (the consumer's last one
// when it cannot start, "consumer failed") says what went wrong on one
// line, in either format, without a Go stack trace after it; a warning
// (the console format's development settings) neither.
func TestLoggerWritesNoStackTraces(t *testing.T) {
	for _, tc := range []struct{ format, level string }{
		{"json", "error"}, {"console", "error"}, {"json", "warn"}, {"console", "warn"},
	} {
		t.Run(tc.format+"/"+tc.level, func(t *testing.T) {
			out := captureStderr(t, func() {
				log, err := NewLogger("info", tc.format)
				if err != nil {
					t.Fatal(err)
				}
				if tc.level == "error" {
					log.Error("consumer failed", zap.Error(fmt.Errorf("http listen :8080: address already in use")))
				} else {
					log.Warn("redis not ready at start; will retry")
				}
				_ = log.Sync()
			})
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || strings.Contains(out, "stacktrace") ||
				strings.Contains(out, ".go:") && strings.Contains(out, "\t/") {
				t.Errorf("want one line without a stack trace, got:\n%s", out)
			}
		})
	}
}

// captureStderr runs f with os.Stderr sent to a file and returns what f
// wrote there (zap opens "stderr" as os.Stderr when a logger is built).
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	file, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	saved := os.Stderr
	os.Stderr = file
	func() {
		defer func() { os.Stderr = saved }()
		f()
	}()
	data, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
