package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestSecretsStayOutOfLogs runs the service against a broker that requires
// SASL/SCRAM and a Redis that requires a password, first with the right
// secrets, then with wrong ones (failures are where secrets leak: error
// messages, retries, readiness reasons). Nothing it logs at debug level,
// and nothing /readyz answers, may contain a password.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const kafkaPW, redisPW = "kafka-Secret-4711", "redis-Secret-0815"
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{
		Partitions: 2, Topics: allTopics,
		Extra: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "ltv", kafkaPW)},
	})
	rs := testutil.StartRedis(t, "--requirepass", redisPW)

	cases := []struct {
		name               string
		kafkaPass, redisPW string
		wantReady          bool
	}{
		{"right secrets", kafkaPW, redisPW, true},
		{"wrong Redis password", kafkaPW, "wrong-" + redisPW, false},
		{"wrong Kafka password", "wrong-" + kafkaPW, redisPW, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"LTV_KAFKA_BROKERS":        joinComma(brokers),
				"LTV_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
				"LTV_KAFKA_SASL_USERNAME":  "ltv",
				"LTV_KAFKA_SASL_PASSWORD":  tc.kafkaPass,
				// The password in the URL as well as in the setting: both
				// paths must stay redacted.
				"LTV_REDIS_URL":      "redis://:" + tc.redisPW + "@" + rs.Addr() + "/0",
				"LTV_REDIS_PASSWORD": tc.redisPW,
			}
			cfg, err := config.Load([]string{"--http-addr", "127.0.0.1:0", "--kafka-session-timeout", "3s"},
				func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var logs testutil.SyncBuffer
			core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zapcore.DebugLevel)
			var addr string
			var addrMu sync.Mutex
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- service.Run(ctx, cfg, service.Options{Logger: zap.New(core), Listening: func(a string) {
					addrMu.Lock()
					addr = a
					addrMu.Unlock()
				}})
			}()
			var body string
			ready := false
			deadline := time.Now().Add(8 * time.Second)
			for time.Now().Before(deadline) {
				addrMu.Lock()
				a := addr
				addrMu.Unlock()
				if a != "" {
					if resp, err := http.Get("http://" + a + "/readyz"); err == nil {
						b, _ := io.ReadAll(resp.Body)
						_ = resp.Body.Close()
						body = string(b)
						ready = resp.StatusCode == http.StatusOK
						if ready == tc.wantReady && (ready || strings.Contains(body, "unreachable")) {
							break
						}
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(40 * time.Second):
				t.Fatal("service did not stop")
			}
			if ready != tc.wantReady {
				t.Errorf("ready = %v, want %v (readyz: %s)", ready, tc.wantReady, body)
			}
			out := logs.String()
			if out == "" {
				t.Fatal("no logs captured")
			}
			for _, secret := range []string{kafkaPW, redisPW} {
				if strings.Contains(out, secret) || strings.Contains(body, secret) {
					t.Errorf("a password appears in the logs or /readyz")
				}
			}
			if testing.Verbose() && os.Getenv("LTV_TEST_LOGS") != "" {
				t.Log(out, body)
			}
		})
	}
}
