package service_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/service"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestStoppedServiceLeavesNoKafkaMetadataLoop: once Run (the updater) or
// ServeAPI (the read API) has returned, no metadata loop of a kafka-go
// transport it made keeps dialling the brokers. The demo and the tests run
// them inside a process that goes on; in the e2e suite such loops outlived
// their brokers and decoded a later redis-server's replies on the same
// port as Kafka responses, allocating gigabytes.
func TestStoppedServiceLeavesNoKafkaMetadataLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, cfg *config.Config) error
	}{
		{"updater", func(ctx context.Context, cfg *config.Config) error {
			return service.Run(ctx, cfg, service.Options{})
		}},
		{"read API", func(ctx context.Context, cfg *config.Config) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			// Its changes feed talks to Kafka once someone asks for changes.
			go func() {
				for ctx.Err() == nil {
					if res, err := http.Get("http://" + ln.Addr().String() + "/v1/changes"); err == nil {
						res.Body.Close()
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
			return service.ServeAPI(ctx, cfg, ln, service.APIOptions{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 2, Topics: []string{
				settings.DefaultOrdersTopic, settings.DefaultLifecycleTopic, settings.DefaultChangesTopic,
				settings.DefaultSegmentsTopic, settings.DefaultDLQTopic}})
			redisURL := testutil.StartRedis(t).URL()
			cfg, err := config.Load([]string{"--http-addr", "127.0.0.1:0"}, func(k string) string {
				switch k {
				case "LTV_KAFKA_BROKERS":
					return strings.Join(brokers, ",")
				case "LTV_REDIS_URL":
					return redisURL
				}
				return ""
			}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			// Only the loops the component makes are counted: the shared
			// transports' are closed first.
			testutil.CloseSharedKafkaTransports()
			before := testutil.KafkaMetadataLoops()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tc.run(ctx, cfg) }()
			// Running: it has a transport talking to the brokers.
			deadline := time.Now().Add(20 * time.Second)
			for testutil.KafkaMetadataLoops() <= before {
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no metadata loop started within 20 s: the check below would prove nothing (returned: %v)", <-done)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("did not return within 30 s of its context ending")
			}
			testutil.CloseSharedKafkaTransports()
			deadline = time.Now().Add(5 * time.Second) // a loop ends at its next wake-up
			for testutil.KafkaMetadataLoops() > before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := testutil.KafkaMetadataLoops(); n > before {
				t.Errorf("%d metadata loops left after it returned (%d before it started)", n, before)
			}
		})
	}
}
