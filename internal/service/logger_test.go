package service

import (
	"context"
	"fmt"
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
