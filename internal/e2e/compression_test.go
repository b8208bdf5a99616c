package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// TestCompressedInput feeds records compressed with each codec Kafka
// producers use (the Java producer's compression.type, librdkafka's
// compression.codec): the fetchers read every one.
func TestCompressedInput(t *testing.T) {
	e := newEnv(t, 3)
	startService(t, e.config(t))
	ctx := testutil.Context(t, 60*time.Second)
	codecs := []compress.Compression{compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd}
	for i, c := range codecs {
		w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Compression: c, BatchTimeout: time.Millisecond}
		cust := fmt.Sprintf("c-%d", i)
		v := orderValue(cust, "e1", "2000.00")
		if err := w.WriteMessages(ctx, kafka.Message{Topic: settings.DefaultOrdersTopic, Key: []byte(cust), Value: v}); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	if err := testutil.WaitCaughtUp(ctx, e.brokers, settings.DefaultGroupID, settings.DefaultOrdersTopic); err != nil {
		t.Fatal(err)
	}
	for i := range codecs {
		if got := e.rc.HGet(ctx, fmt.Sprintf("ltv:{c-%d}", i), "tier").Val(); got != "gold" {
			t.Errorf("codec %v: tier %q", codecs[i], got)
		}
	}
}
