package main

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "redis unreachable")
	}))
	defer srv.Close()
	noEnv := func(string) string { return "" }

	var errOut strings.Builder
	if code := healthcheck([]string{"--url", srv.URL + "/readyz"}, noEnv, &errOut); code != 0 {
		t.Fatalf("ready: exit %d, %s", code, errOut.String())
	}
	status = http.StatusServiceUnavailable
	errOut.Reset()
	if code := healthcheck([]string{"--url", srv.URL + "/readyz"}, noEnv, &errOut); code != 1 || !strings.Contains(errOut.String(), "redis unreachable") {
		t.Fatalf("not ready: exit %d, %q", code, errOut.String())
	}
	if code := healthcheck([]string{"--url", "http://127.0.0.1:1/readyz", "--timeout", "200ms"}, noEnv, io.Discard); code != 1 {
		t.Fatalf("unreachable: exit %d", code)
	}
	if code := healthcheck([]string{"--bogus"}, noEnv, io.Discard); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// TestProbeAddr: the healthcheck probes the listen address's own host, or
// loopback when it listens on all of them.
func TestProbeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":                ":8080",
		":9000":           "127.0.0.1:9000",
		"0.0.0.0:9100":    "127.0.0.1:9100",
		"[::]:9100":       "127.0.0.1:9100",
		"127.0.0.2:18099": "127.0.0.2:18099",
		"[::1]:8080":      "[::1]:8080",
		"pod.local:8080":  "pod.local:8080",
		"127.0.0.1:0":     ":8080",
		"garbage":         ":8080",
	} {
		if want == ":8080" {
			want = "127.0.0.1:8080"
		}
		if got := probeAddr(in); got != want {
			t.Errorf("probeAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultMemoryLimitGrowsWithWhatIsInFlight(t *testing.T) {
	const mib = 1 << 20
	cache := store.DefaultCacheBytes
	workers, batch := stream.DefaultWorkers, stream.DefaultMaxBatch
	for _, tt := range []struct {
		name                  string
		cache, workers, batch int
		want                  int64
	}{
		{"the defaults", cache, workers, batch, 176 * mib},
		{"a bigger cache adds itself", 1 << 30, workers, batch, 1024*mib + 128*mib},
		{"the cache off leaves its share to the loads", 0, workers, batch, 176 * mib},
		{"a smaller cache likewise", 16 * mib, workers, batch, 176 * mib},
		{"twice the workers", cache, 2 * workers, batch, 48*mib + 256*mib},
		{"three times the batch", cache, workers, 3 * batch, 48*mib + 384*mib},
		{"fewer workers keep the base", cache, 1, batch, 176 * mib},
		{"smaller batches keep the base", cache, workers, 100, 176 * mib},
		{"the largest settings do not overflow", cache, config.MaxWorkers, config.MaxMaxBatch, 48*mib + 128*mib*config.MaxWorkers*config.MaxMaxBatch/8000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultMemoryLimit(tt.cache, tt.workers, tt.batch); got != tt.want {
				t.Errorf("defaultMemoryLimit(%d, %d, %d) = %d MiB, want %d MiB", tt.cache, tt.workers, tt.batch, got/mib, tt.want/mib)
			}
		})
	}
}

// settingsWith is the default configuration's memory-relevant settings,
// with the given number of workers.
func settingsWith(workers int) *config.Config {
	return &config.Config{StateCacheBytes: store.DefaultCacheBytes, Workers: workers, MaxBatch: stream.DefaultMaxBatch}
}

func TestGCSettingsLeaveWhatTheOperatorSet(t *testing.T) {
	cfg := settingsWith(stream.DefaultWorkers)
	for _, tt := range []struct {
		name      string
		env       map[string]string
		wantGC    int
		wantLimit int64
	}{
		{"nothing set", nil, 400, 176 << 20},
		{"GOGC set", map[string]string{"GOGC": "100"}, 0, 176 << 20},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 400, 0},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gc, limit := gcSettings(cfg, func(k string) string { return tt.env[k] })
			if gc != tt.wantGC || limit != tt.wantLimit {
				t.Errorf("gcSettings = %d, %d; want %d, %d", gc, limit, tt.wantGC, tt.wantLimit)
			}
		})
	}
}

func TestAnOperatorsLimitBelowTheDefaultIsReported(t *testing.T) {
	const mib = 1 << 20
	defaults, eight := settingsWith(stream.DefaultWorkers), settingsWith(8)
	for _, tt := range []struct {
		name  string
		cfg   *config.Config
		limit int64
		below bool
	}{
		{"the deployment's 200 MiB with the defaults", defaults, 200 * mib, false},
		{"exactly the default", defaults, 176 * mib, false},
		{"a little below", defaults, 176*mib - 1, true},
		{"200 MiB for 8 workers", eight, 200 * mib, true},
		{"no limit at all", eight, math.MaxInt64, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, below := belowDefaultLimit(tt.cfg, tt.limit)
			if below != tt.below || want != defaultMemoryLimit(tt.cfg.StateCacheBytes, tt.cfg.Workers, tt.cfg.MaxBatch) {
				t.Errorf("belowDefaultLimit(%d MiB) = %d MiB, %v; want below %v", tt.limit/mib, want/mib, below, tt.below)
			}
		})
	}
}
