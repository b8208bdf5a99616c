package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/localredis"
)

// consumerProcess is the real consumer binary, run as its own process so
// its memory and CPU are measured apart from the broker and the harness.
type consumerProcess struct {
	cmd      *exec.Cmd
	httpAddr string
	started  time.Time
	logPath  string
	waited   bool
	// exited is closed when the process has ended; exitErr is then its
	// exit status. stopping marks an exit the harness asked for.
	exited   chan struct{}
	exitErr  error
	stopping atomic.Bool
	// peak is the last VmHWM read while the process ran (it only grows).
	peak int64
}

// samplePeak records the consumer's resident-set high-water mark; call it
// periodically while the process runs (the value is gone after exit).
func (p *consumerProcess) samplePeak() {
	if v, err := peakRSS(p.cmd.Process.Pid); err == nil && v > p.peak {
		p.peak = v
	}
}

// consumerSettings are the environment the binary gets (SPEC §7 names).
type consumerSettings struct {
	brokers  []string
	redisURL string
	group    string
	extraEnv []string
}

func startConsumer(cfg Config, s consumerSettings, logName string) (*consumerProcess, error) {
	port, err := localredis.FreePort()
	if err != nil {
		return nil, err
	}
	p := &consumerProcess{httpAddr: "127.0.0.1:" + strconv.Itoa(port), logPath: filepath.Join(cfg.WorkDir, logName)}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("consumer log: %w", err)
	}
	defer logf.Close()
	p.cmd = exec.Command(cfg.ConsumerBinary)
	p.cmd.Env = append(os.Environ(),
		"LTV_KAFKA_BROKERS="+strings.Join(s.brokers, ","),
		"LTV_REDIS_URL="+s.redisURL,
		"LTV_GROUP_ID="+s.group,
		"LTV_ORDERS_TOPIC="+cfg.OrdersTopic,
		"LTV_LIFECYCLE_TOPIC="+cfg.LifecycleTopic,
		"LTV_CHANGES_TOPIC="+cfg.ChangesTopic,
		"LTV_SEGMENTS_TOPIC="+cfg.SegmentsTopic,
		"LTV_DLQ_TOPIC="+cfg.DLQTopic,
		"LTV_LOG_LEVEL=warn",
	)
	p.cmd.Env = append(p.cmd.Env, cfg.ConsumerEnv...)
	p.cmd.Env = append(p.cmd.Env, s.extraEnv...)
	// Last, so it wins over -consumer-env: the harness polls this address
	// (pprof, when enabled, is served on it too).
	p.cmd.Env = append(p.cmd.Env, "LTV_HTTP_ADDR="+p.httpAddr)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	localredis.TieToParent(p.cmd)
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start consumer %s: %w", cfg.ConsumerBinary, err)
	}
	p.exited = make(chan struct{})
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	cfg.Log("consumer pid %d, http %s, log %s", p.cmd.Process.Pid, p.httpAddr, p.logPath)
	return p, nil
}

// guard returns a context that ends when the consumer exits without being
// asked to (a crash, a bad setting, a port in use), so no phase waits
// minutes for commits that can no longer come; context.Cause says why.
func (p *consumerProcess) guard(ctx context.Context) (context.Context, context.CancelFunc) {
	gctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-p.exited:
			if !p.stopping.Load() {
				cancel(fmt.Errorf("consumer exited early: %w (log: %s)", p.exitErr, p.logPath))
			}
		case <-gctx.Done():
		}
	}()
	return gctx, func() { cancel(nil) }
}

// waitReady polls /readyz until the consumer reports ready, for at most
// two minutes.
func (p *consumerProcess) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, 2*time.Minute, errors.New("not ready after 2 minutes"))
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAddr+"/readyz", nil)
		if res, err := client.Do(req); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("consumer not ready: %w (log: %s)", context.Cause(ctx), p.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// usage is what the kernel accounted to the finished process.
type usage struct {
	peakRSS int64 // bytes
	cpu     time.Duration
}

// stop sends SIGTERM (the consumer drains, commits and exits 0) and returns
// its resource usage.
func (p *consumerProcess) stop() (usage, error) {
	if p.waited {
		return usage{}, errors.New("consumer already stopped")
	}
	p.samplePeak()
	p.stopping.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-p.exited:
		err = p.exitErr
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		err = fmt.Errorf("consumer ignored SIGTERM for 60 s: %w", p.exitErr)
	}
	p.waited = true
	u := usage{peakRSS: p.peak}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err != nil {
		return u, fmt.Errorf("consumer exit: %w (log: %s)", err, p.logPath)
	}
	return u, nil
}

// kill ends the process without waiting for a drain (cleanup after an
// error).
func (p *consumerProcess) kill() {
	if p == nil || p.waited {
		return
	}
	p.stopping.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.waited = true
}
