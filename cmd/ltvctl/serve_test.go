package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// serveEnv starts a redis-server holding one customer and a broker with
// the output topics, and returns the settings ltvctl serve needs.
func serveEnv(t *testing.T) map[string]string {
	t.Helper()
	rs := testutil.StartRedis(t)
	if err := rs.Client().HSet(context.Background(), store.Key("c-1"), "orders", "3", "tier", "silver", "ltv", "1200.00", "revenue", "1500.00", "gross_profit", "600.00", "first_order_at", "2026-01-10T10:00:00Z", "last_order_at", "2026-06-10T10:00:00Z", "churned", "0", "segment", "active", "_g", "x").Err(); err != nil {
		t.Fatal(err)
	}
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{"ltv-changes", "ltv-segments"}})
	return map[string]string{"LTV_REDIS_URL": rs.URL(), "LTV_KAFKA_BROKERS": strings.Join(brokers, ","),
		"LTV_API_ADDR": "127.0.0.1:0", "LTV_LOG_LEVEL": "warn"}
}

var urlLine = regexp.MustCompile(`read API and dashboard on (http://\S+/)`)

// checkServing asserts the endpoints of a running ltvctl serve answer.
func checkServing(t *testing.T, base string) {
	t.Helper()
	if code, doc := testutil.GetJSON(t, base+"v1/customers/c-1"); code != 200 || doc["tier"] != "silver" || doc["orders"] != "3" || doc["_g"] != nil {
		t.Errorf("customer: %d %v", code, doc)
	}
	if code, doc := testutil.GetJSON(t, base+"healthz"); code != 200 {
		t.Errorf("healthz: %d %v", code, doc)
	}
	if code, doc := testutil.GetJSON(t, base+"v1/changes"); code != 200 || len(doc["changes"].([]any)) != 0 {
		t.Errorf("changes: %d %v", code, doc)
	}
	if code, doc := testutil.GetJSON(t, base+"v1/stats"); code != 200 || doc["population"] != 1.0 || doc["tiers"].(map[string]any)["silver"] != 1.0 {
		t.Errorf("stats: %d %v", code, doc)
	}
	if code, _ := testutil.GetJSON(t, base); code != 200 {
		t.Errorf("dashboard: %d", code)
	}
}

// startServe runs `ltvctl serve` in process and returns its base URL and
// a stop function that ends it and returns its exit code.
func startServe(t *testing.T, env map[string]string, args ...string) (string, func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	exit := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, pw, io.Discard)
		_ = pw.Close()
		exit <- code
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL printed: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := urlLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no URL in %q", line)
	}
	return m[1], func() int {
		cancel()
		select {
		case code := <-exit:
			return code
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not return after its context ended")
			return -1
		}
	}
}

// TestServe runs `ltvctl serve` in process: it prints its URL, answers,
// and returns 0 when its context ends. Its own settings come from flags or
// from their environment variables, the flag winning.
func TestServe(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		cac      string // the channel's cac in /v1/stats
		maxLimit int    // the largest ?limit= of /v1/changes (the changes depth)
		currency string // the currency /v1/stats names
	}{
		{"flags", nil, []string{"--stats-refresh", "1s", "--cac", "(none)=100", "--changes-depth", "7"}, "100.00", 7, "SEK"},
		{"environment", map[string]string{"LTV_STATS_REFRESH": "1s", "LTV_CAC": "(none)=100, email=5", "LTV_CHANGES_DEPTH": "5", "LTV_STATS_SAMPLE_LIMIT": "-1"}, nil, "100.00", 5, "SEK"},
		{"flag over environment", map[string]string{"LTV_CAC": "(none)=100", "LTV_CHANGES_DEPTH": "5"}, []string{"--cac", "(none)=200", "--changes-depth", "9"}, "200.00", 9, "SEK"},
		{"configured base currency", map[string]string{"LTV_CAC": "(none)=100", "LTV_CONFIG": testutil.WriteFile(t, "ltv.yaml", "base_currency: EUR\n")}, nil, "100.00", 100, "EUR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := serveEnv(t)
			for k, v := range tc.env {
				env[k] = v
			}
			base, stop := startServe(t, env, tc.args...)
			checkServing(t, base)
			// --cac reaches the statistics: c-1 (no channel) has ltv 1200.00.
			if _, doc := testutil.GetJSON(t, base+"v1/stats"); !strings.Contains(fmt.Sprint(doc["channels"]), "[map[cac:"+tc.cac+" channel: customers:1") {
				t.Errorf("channels: %v, want cac %s", doc["channels"], tc.cac)
			}
			// The statistics name the base currency their amounts are in.
			if _, doc := testutil.GetJSON(t, base+"v1/stats"); doc["currency"] != tc.currency {
				t.Errorf("currency %v, want %s", doc["currency"], tc.currency)
			}
			if code, doc := testutil.GetJSON(t, fmt.Sprintf("%sv1/changes?limit=%d", base, tc.maxLimit)); code != 200 {
				t.Errorf("limit at the changes depth: %d %v", code, doc)
			}
			if code, _ := testutil.GetJSON(t, fmt.Sprintf("%sv1/changes?limit=%d", base, tc.maxLimit+1)); code != 400 {
				t.Errorf("limit above the changes depth: %d, want 400", code)
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// TestServeStopsOnSIGTERM runs the built binary and sends it SIGTERM: it
// shuts down and exits 0.
func TestServeStopsOnSIGTERM(t *testing.T) {
	testutil.SkipShort(t, "builds the binary")
	env := serveEnv(t)
	bin := testutil.BuildBinary(t, ".")
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, stdout); done <- cmd.Wait() }()
	m := urlLine.FindStringSubmatch(line)
	if err != nil || m == nil {
		_ = cmd.Process.Kill()
		t.Fatalf("no URL printed (%v): %q\n%s", err, line, stderr.String())
	}
	checkServing(t, m[1])
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(m[1], "http://"), "/"), time.Second); err == nil {
		t.Error("still listening after exit")
	}
}

func TestServeErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		errHas string
	}{
		{"bad refresh", []string{"serve", "--stats-refresh", "0s"}, nil, 2, "--stats-refresh"},
		{"bad sample limit", []string{"serve", "--stats-sample-limit", "-5"}, nil, 2, "--stats-sample-limit"},
		{"bad LTV_STATS_REFRESH", []string{"serve"}, map[string]string{"LTV_STATS_REFRESH": "soon"}, 2, "LTV_STATS_REFRESH"},
		{"bad LTV_STATS_MAX_STALE", []string{"serve"}, map[string]string{"LTV_STATS_MAX_STALE": "soon"}, 2, "--stats-max-stale (LTV_STATS_MAX_STALE)"},
		{"negative max stale", []string{"serve", "--stats-max-stale", "-1m"}, nil, 2, "--stats-max-stale (LTV_STATS_MAX_STALE)"},
		{"bad LTV_STATS_SAMPLE_LIMIT", []string{"serve"}, map[string]string{"LTV_STATS_SAMPLE_LIMIT": "0"}, 2, "LTV_STATS_SAMPLE_LIMIT"},
		{"bad LTV_CHANGES_DEPTH", []string{"serve"}, map[string]string{"LTV_CHANGES_DEPTH": "many"}, 2, "LTV_CHANGES_DEPTH"},
		{"bad LTV_CAC", []string{"serve"}, map[string]string{"LTV_CAC": "email"}, 2, `LTV_CAC "email": want channel=amount`},
		{"bad --cac", []string{"serve", "--cac", "email"}, map[string]string{"LTV_CAC": "email=5"}, 2, `--cac "email": want channel=amount`},
		{"bad CORS origin", []string{"serve"}, map[string]string{"LTV_API_CORS_ORIGINS": "shop.example.com"}, 2, "--api-cors-origins (LTV_API_CORS_ORIGINS)"},
		{"bad shared setting", []string{"serve"}, map[string]string{"LTV_WORKERS": "0"}, 2, "--workers (LTV_WORKERS)"},
		{"empty api address", []string{"serve", "--api-addr", " "}, nil, 2, "--api-addr (LTV_API_ADDR)"},
		{"api address without a port", []string{"serve"}, map[string]string{"LTV_API_ADDR": "bogus"}, 2, `--api-addr (LTV_API_ADDR): "bogus" is not host:port`},
		{"address in use", []string{"serve"}, map[string]string{"LTV_API_ADDR": busy.Addr().String()}, 1, "listen " + busy.Addr().String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := ltvctl(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.errHas) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.errHas)
			}
		})
	}
}
