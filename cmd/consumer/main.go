// Command consumer is the LTV updater service: it reads order and lifecycle
// events from Kafka, keeps per-customer LTV state in Redis and publishes
// tier changes. Configuration: SPEC §7 (environment variables, flags that
// override them, and a YAML file named by LTV_CONFIG). Run with -h for the
// full list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	tuneGC()
	os.Exit(run())
}

// tuneGC trades memory the service has for CPU it lacks: the pipeline
// allocates per event but keeps little alive (tens of MB), so Go's default
// (collect whenever the heap doubles) runs the collector several times a
// second under load. Unless the operator set GOGC or GOMEMLIMIT, collect
// when the heap grows 4x, but never let it pass 128 MiB (the soft limit
// makes the collector work harder near it instead of growing further).
func tuneGC() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
		debug.SetMemoryLimit(128 << 20)
	}
}

func run() int {
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "consumer: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "consumer: logger: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := service.Run(ctx, cfg, service.Options{Logger: log}); err != nil {
		log.Error("consumer failed", zap.Error(err))
		return 1
	}
	return 0
}

func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if format == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}
