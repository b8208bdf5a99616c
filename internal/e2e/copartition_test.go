package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// TestBinaryRefusesInputsOfDifferentPartitionCounts: the real binary,
// started against an orders topic of 6 partitions and a lifecycle topic
// of 3, exits with a non-zero code and a log line naming both topics and
// their counts (SPEC §1).
func TestBinaryRefusesInputsOfDifferentPartitionCounts(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 6, Topics: []string{settings.DefaultOrdersTopic, settings.DefaultChangesTopic, settings.DefaultSegmentsTopic, settings.DefaultDLQTopic}})
	if err := testutil.CreateTopic(ctx, brokers, settings.DefaultLifecycleTopic, 3); err != nil {
		t.Fatal(err)
	}
	rs := testutil.StartRedis(t)
	e := &env{brokers: brokers, redisURL: rs.URL()}
	cmd := exec.CommandContext(ctx, consumerBinary(t))
	for k, v := range e.envFor(map[string]string{"LTV_HTTP_ADDR": "127.0.0.1:0"}) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	checkNoRace(t, "consumer", string(out))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("the consumer ran with inputs of 6 and 3 partitions (err %v)\n%s", err, out)
	}
	if want := "orders has 6 and customer-lifecycle has 3"; !strings.Contains(string(out), want) {
		t.Fatalf("exit code %d, but the log does not say %q:\n%s", exit.ExitCode(), want, out)
	}
}
