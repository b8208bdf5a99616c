package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
)

type result struct {
	code           int
	stdout, stderr string
}

func runWith(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(ctx, args, getenv, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"Usage:", "Examples:", "producer-sim replay --in", "Exit codes"}},
		{[]string{"help"}, []string{"Usage:"}},
		{[]string{"generate", "-h"}, []string{"Examples:", "-duplicate-rate", "-bad-rate", "LTV_KAFKA_BROKERS", "-out", "-speed"}},
		{[]string{"replay", "--help"}, []string{"--in FILE.jsonl", "-in", "LTV_ORDERS_TOPIC"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runWith(t, t.Context(), nil, "", tt.args...)
			if r.code != exitOK {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"generate", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"--events", "ten"}, "invalid value"},
		{[]string{"generate", "--bad-rate", "1.5", "--out", "-"}, "--bad-rate must be in [0, 1], got 1.5"},
		{[]string{"generate", "--bad-rate", "-1", "--out", "-"}, "--bad-rate must be in [0, 1], got -1"},
		{[]string{"generate", "--speed", "NaN", "--out", "-"}, "--speed must be a finite number"},
		{[]string{"generate", "--purchase-shape", "0", "--out", "-"}, "--purchase-shape must not be 0"},
		{[]string{"generate", "--oversize-bytes", "0", "--out", "-"}, "--oversize-bytes must not be 0"},
		{[]string{"generate", "--currency=", "--out", "-"}, "--currency must not be empty"},
		{[]string{"generate", "--bad-rate", "0.5", "--late-rate", "0.5", "--out", "-"}, "add up"},
		{[]string{"generate", "--events", "0", "--out", "-"}, "--events must be at least 1"},
		{[]string{"generate", "--customers", "-3", "--out", "-"}, "--customers must be at least 1"},
		{[]string{"generate", "--start", "last tuesday", "--out", "-"}, "--start"},
		{[]string{"generate", "--start", "1969-12-31", "--out", "-"}, "outside the years 1970..9000"},
		// The zero time.Time, which the generator reads as "the default".
		{[]string{"generate", "--start", "0001-01-01", "--out", "-"}, "--start 0001-01-01T00:00:00Z is outside the years 1970..9000"},
		{[]string{"generate", "--start", "0001-01-01T01:00:00+01:00", "--out", "-"}, "--start 0001-01-01T00:00:00Z is outside the years 1970..9000"},
		{[]string{"generate", "--currency", "kronor", "--out", "-"}, "currency"},
		{[]string{"generate", "--speed", "-1", "--out", "-"}, "--speed"},
		{[]string{"generate", "extra"}, `unexpected argument "extra"`},
		{[]string{"generate", "--brokers", " , "}, "--brokers is empty"},
		{[]string{"replay"}, "--in is required"},
		{[]string{"generate", "--orders-topic", "bad topic"}, `--orders-topic (LTV_ORDERS_TOPIC): invalid topic name "bad topic"`},
		{[]string{"generate", "--lifecycle-topic", "orders"}, "both \"orders\""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runWith(t, t.Context(), nil, "", tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "-h' for usage") {
				t.Fatalf("stderr %q lacks %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Fatalf("stdout not empty: %q", r.stdout)
			}
		})
	}
}

func TestGenerateToFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	args := []string{"generate", "--events", "3000", "--customers", "300", "--seed", "5",
		"--duplicate-rate", "0.02", "--late-rate", "0.02", "--bad-rate", "0.02", "--refund-rate", "0"}
	r := runWith(t, t.Context(), nil, "", append(args, "--out", a)...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "producer-sim: generating 3,000 records of 300 customers (seed 5) → "+a) ||
		!strings.Contains(r.stderr, "producer-sim: done: 3,000 records") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	if r := runWith(t, t.Context(), nil, "", append(args, "--out", b, "--quiet")...); r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	da, db := readFile(t, a), readFile(t, b)
	if !bytes.Equal(da, db) {
		t.Fatal("same flags gave different files")
	}
	if n := bytes.Count(da, []byte("\n")); n != 3000 {
		t.Fatalf("%d lines", n)
	}
	for _, line := range bytes.Split(da, []byte("\n")) {
		// A bad record may name the type in a defect (a duplicated key).
		if !bytes.Contains(line, []byte(`"label":"bad"`)) && bytes.Contains(line, []byte(`order_refunded`)) {
			t.Fatalf("--refund-rate 0 must switch refunds off: %s", line)
		}
	}
	// stdout gives the same bytes.
	r = runWith(t, t.Context(), nil, "", append(args, "--out", "-", "--quiet")...)
	if r.code != exitOK || r.stdout != string(da) {
		t.Fatalf("exit %d; stdout differs from the file", r.code)
	}
	// Replaying the file into another file copies it byte for byte.
	c := filepath.Join(dir, "c.jsonl")
	r = runWith(t, t.Context(), nil, "", "replay", "--in", a, "--out", c)
	if r.code != exitOK || !bytes.Equal(readFile(t, c), da) {
		t.Fatalf("replay copy: exit %d, %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "(3,000 lines)") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	// And from stdin.
	r = runWith(t, t.Context(), nil, string(da), "replay", "--in", "-", "--out", "-", "--quiet")
	if r.code != exitOK || r.stdout != string(da) {
		t.Fatalf("replay from stdin: exit %d, %s", r.code, r.stderr)
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplayRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	good := `{"topic":"orders","key":"c-1","value":"{}"}`
	if err := os.WriteFile(bad, []byte(good+"\n"+`{"topic":"nope","key":"c-1","value":"{}"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"replay", "--in", filepath.Join(dir, "nope.jsonl"), "--out", "-"}, "no such file"},
		{"bad line", []string{"replay", "--in", bad, "--out", "-"}, `line 2: unknown topic "nope"`},
		{"directory", []string{"replay", "--in", dir, "--out", "-"}, "replay: " + dir + " is a directory"},
		// Said before Kafka is tried, as a missing file is.
		{"directory to kafka", []string{"replay", "--in", dir, "--brokers", "127.0.0.1:1"}, "replay: " + dir + " is a directory"},
		{"unwritable output", []string{"generate", "--events", "10", "--out", filepath.Join(dir, "no", "such", "dir.jsonl")}, "create output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWith(t, t.Context(), nil, "", tt.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, tt.want)
			}
			// A run that fails does not sum up as done.
			if strings.Contains(r.stderr, "done:") {
				t.Fatalf("stderr %q reports a failed run as done", r.stderr)
			}
		})
	}
}

func endOffsets(t *testing.T, ctx context.Context, brokers []string, topic string) int64 {
	t.Helper()
	ends, err := stream.EndOffsets(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}

// TestGenerateNotesFutureEvents: a stream whose purchase histories run
// past tomorrow says how many records a consumer would refuse as lying in
// the future; one that ends in the past says nothing.
func TestGenerateNotesFutureEvents(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	r := runWith(t, t.Context(), nil, "", "generate", "--events", "3000", "--customers", "10", "--seed", "1", "--out", out)
	if r.code != exitOK || !strings.Contains(r.stderr, "records are dated after") || !strings.Contains(r.stderr, "earlier --start") {
		t.Fatalf("100s of events per customer from 2020: exit %d, stderr %q; want the note", r.code, r.stderr)
	}
	r = runWith(t, t.Context(), nil, "", "generate", "--events", "3000", "--customers", "300", "--seed", "1", "--out", out)
	if r.code != exitOK || strings.Contains(r.stderr, "dated after") {
		t.Fatalf("10 events per customer: exit %d, stderr %q; want no note", r.code, r.stderr)
	}
}

// TestGenerateNotesOversizeWithinTheConsumerLimit: records labelled
// oversized but no larger than the consumer's limit are valid orders to
// such a consumer; generate says so. The default size, one byte over the
// default limit, gets no note. LTV_MAX_MESSAGE_BYTES in the environment
// is the limit a consumer started beside it would have.
func TestGenerateNotesOversizeWithinTheConsumerLimit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	for _, tc := range []struct {
		size, envLimit string
		note           string // "" for none
	}{
		{"", "", ""},
		{"1048577", "", ""},
		{"1048576", "", "within the consumer's default limit (LTV_MAX_MESSAGE_BYTES, 1048576)"},
		{"4096", "", "within the consumer's default limit"},
		{"4096", "4095", ""},
		{"4096", "4096", "within the consumer's limit (LTV_MAX_MESSAGE_BYTES, 4096)"},
		{"", "2097152", "within the consumer's limit (LTV_MAX_MESSAGE_BYTES, 2097152)"},
		{"4096", "lots", "within the consumer's default limit"},
		{"4096", "0", "within the consumer's default limit"},
	} {
		args := []string{"generate", "--events", "50", "--customers", "40", "--seed", "1", "--start", "2024-01-01", "--oversize-rate", "0.1", "--out", out}
		if tc.size != "" {
			args = append(args, "--oversize-bytes", tc.size)
		}
		r := runWith(t, t.Context(), map[string]string{"LTV_MAX_MESSAGE_BYTES": tc.envLimit}, "", args...)
		if r.code != exitOK {
			t.Fatalf("--oversize-bytes %q: exit %d, stderr %q", tc.size, r.code, r.stderr)
		}
		noted := strings.Contains(r.stderr, "--oversize-bytes") && strings.Contains(r.stderr, "within the consumer's")
		if tc.note == "" && noted || tc.note != "" && !strings.Contains(r.stderr, tc.note) {
			t.Errorf("--oversize-bytes %q, LTV_MAX_MESSAGE_BYTES %q: stderr %q, want note %q", tc.size, tc.envLimit, r.stderr, tc.note)
		}
	}
}

// TestReplayRefusesToOverwriteItsInput: --out naming the --in file (or
// a link to it) would empty it before a line is read.
func TestReplayRefusesToOverwriteItsInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	line := `{"topic":"orders","key":"c-1","value":"{}"}` + "\n"
	if err := os.WriteFile(in, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, link} {
		r := runWith(t, t.Context(), nil, "", "replay", "--in", in, "--out", out)
		if r.code != exitUsage || !strings.Contains(r.stderr, "is the --in file") {
			t.Errorf("--out %s: exit %d, stderr %q; want a usage error", out, r.code, r.stderr)
		}
	}
	if b, err := os.ReadFile(in); err != nil || string(b) != line {
		t.Fatalf("the input is now %q (%v)", b, err)
	}
}

// Kafka settings come from the environment, flags win, and the topics
// receive exactly the records generated.
func TestKafkaEnvAndFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "orders", "customer-lifecycle", "o2", "l2"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := strings.Join(c.ListenAddrs(), ",")

	// Environment only.
	env := map[string]string{"LTV_KAFKA_BROKERS": addr}
	r := runWith(t, ctx, env, "", "generate", "--events", "2000", "--customers", "200", "--churn-rate", "0.9", "--quiet")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	brokers := c.ListenAddrs()
	orders, lifecycle := endOffsets(t, ctx, brokers, "orders"), endOffsets(t, ctx, brokers, "customer-lifecycle")
	if orders+lifecycle != 2000 || lifecycle == 0 {
		t.Fatalf("orders %d + lifecycle %d != 2000", orders, lifecycle)
	}

	// Flags win over the environment; topics from the environment.
	file := filepath.Join(t.TempDir(), "s.jsonl")
	if r := runWith(t, ctx, nil, "", "generate", "--events", "500", "--out", file, "--quiet"); r.code != exitOK {
		t.Fatal(r.stderr)
	}
	env = map[string]string{"LTV_KAFKA_BROKERS": "127.0.0.1:1", "LTV_ORDERS_TOPIC": "o2", "LTV_LIFECYCLE_TOPIC": "l2"}
	r = runWith(t, ctx, env, "", "replay", "--in", file, "--brokers", addr, "--label-headers")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "topics o2, l2") || !strings.Contains(r.stderr, "done: 500 records") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	if n := endOffsets(t, ctx, brokers, "o2") + endOffsets(t, ctx, brokers, "l2"); n != 500 {
		t.Fatalf("o2 + l2 hold %d records, want 500", n)
	}

	// A missing topic fails early with a hint.
	r = runWith(t, ctx, map[string]string{"LTV_KAFKA_BROKERS": addr}, "", "generate", "--events", "10", "--orders-topic", "nope")
	if r.code != exitError || !strings.Contains(r.stderr, `topic "nope"`) || !strings.Contains(r.stderr, "--auto-create-topics") {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
}

// An interrupt stops cleanly: exit 0, and everything written is flushed
// as whole lines.
func TestInterrupt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.jsonl")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// One simulated hour per second: a few records a second.
	r := runWith(t, ctx, nil, "", "generate", "--events", "100000", "--speed", "3600", "--max-gap", "20ms", "--out", file)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("did not stop promptly")
	}
	if !strings.Contains(r.stderr, "interrupted: stopped cleanly after") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	data := readFile(t, file)
	lines := bytes.Count(data, []byte("\n"))
	if lines == 0 || lines >= 100000 || !bytes.HasSuffix(data, []byte("\n")) {
		t.Fatalf("%d lines", lines)
	}
	rd := sim.NewJSONLReader(bytes.NewReader(data))
	for range lines {
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
}

// The simulator reaches a broker that requires SASL/SCRAM over TLS with the
// consumer's LTV_KAFKA_* security variables; bad settings are usage errors.
func TestKafkaSecurityFromEnv(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	certs := testutil.NewTestTLS(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders", "customer-lifecycle"),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "sim", "sim-pw"), kfake.TLS(certs.Server))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	env := map[string]string{
		"LTV_KAFKA_BROKERS":        strings.Join(c.ListenAddrs(), ","),
		"LTV_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
		"LTV_KAFKA_SASL_USERNAME":  "sim",
		"LTV_KAFKA_SASL_PASSWORD":  "sim-pw",
		"LTV_KAFKA_TLS_CA_FILE":    certs.CAFile,
	}
	if r := runWith(t, ctx, env, "", "generate", "--events", "300", "--customers", "30", "--quiet"); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	env["LTV_KAFKA_SASL_PASSWORD"] = "wrong-pw"
	r := runWith(t, ctx, env, "", "generate", "--events", "10", "--quiet")
	if r.code == exitOK || strings.Contains(r.stderr, "wrong-pw") {
		t.Fatalf("wrong password: exit %d, stderr %s", r.code, r.stderr)
	}
	env["LTV_KAFKA_SASL_MECHANISM"] = "KERBEROS"
	if r := runWith(t, ctx, env, "", "generate", "--events", "10"); r.code != exitUsage || !strings.Contains(r.stderr, "KERBEROS") {
		t.Fatalf("bad mechanism: exit %d, stderr %s", r.code, r.stderr)
	}
}

// TestHugeChunk: --chunk larger than the stream writes everything in one
// produce call at the end; it used to reserve memory for that many
// messages first and crash with "out of memory".
func TestHugeChunk(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders", "customer-lifecycle"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	env := map[string]string{"LTV_KAFKA_BROKERS": strings.Join(c.ListenAddrs(), ",")}
	r := runWith(t, ctx, env, "", "generate", "--events", "50", "--customers", "10", "--chunk", "2000000000", "--quiet")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	brokers := c.ListenAddrs()
	if n := endOffsets(t, ctx, brokers, "orders") + endOffsets(t, ctx, brokers, "customer-lifecycle"); n != 50 {
		t.Fatalf("the topics hold %d records, want 50", n)
	}
}

// TestFileOutputIgnoresKafkaSecurity: writing JSON Lines (--out) uses no
// Kafka, so the consumer's Kafka security variables, which a developer's
// shell may hold for another cluster, cannot stop it; they used to be
// usage errors (exit 2) there too. Producing to Kafka still refuses them.
func TestFileOutputIgnoresKafkaSecurity(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"topic":"orders","key":"c-1","value":"{}"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envs := []struct {
		name string
		env  map[string]string
	}{
		{"missing CA file", map[string]string{"LTV_KAFKA_TLS_CA_FILE": filepath.Join(dir, "no-such-ca.pem")}},
		{"SASL without a password", map[string]string{"LTV_KAFKA_SASL_MECHANISM": "PLAIN"}},
		{"TLS not a boolean", map[string]string{"LTV_KAFKA_TLS": "yes-please"}},
	}
	for _, tt := range envs {
		t.Run(tt.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"generate", "--events", "20", "--customers", "5", "--quiet", "--out", filepath.Join(dir, "out.jsonl")},
				{"generate", "--events", "20", "--customers", "5", "--quiet", "--out", "-"},
				{"replay", "--in", in, "--quiet", "--out", "-"},
			} {
				if r := runWith(t, t.Context(), tt.env, "", args...); r.code != exitOK {
					t.Errorf("%v: exit %d, stderr %q; want 0", args, r.code, r.stderr)
				}
			}
			// Into Kafka the setting matters: a usage error before any
			// broker is asked.
			r := runWith(t, t.Context(), tt.env, "", "generate", "--events", "20", "--brokers", "127.0.0.1:1")
			if r.code != exitUsage {
				t.Errorf("into Kafka: exit %d, stderr %q; want %d", r.code, r.stderr, exitUsage)
			}
		})
	}
}

// TestRefusesTopicsNotCoPartitioned: SPEC §1 wants the two input topics
// co-partitioned, partition p of both holding the same customers; with
// different partition counts the same key lands on unrelated partitions
// and the consumer refuses to start. The simulator refuses too, before
// anything is written, naming both counts; it used to fill them. With
// --auto-create-topics too: it lets the broker create missing topics, not
// write into existing ones that do not match.
func TestRefusesTopicsNotCoPartitioned(t *testing.T) {
	tests := []struct {
		orders, lifecycle int32
		autoCreate        bool
		ok                bool
	}{
		{4, 4, false, true},
		{4, 4, true, true},
		{4, 2, false, false},
		{2, 3, false, false},
		{4, 2, true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%d-auto-create-%v", tt.orders, tt.lifecycle, tt.autoCreate), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(tt.orders, "orders"), kfake.SeedTopics(tt.lifecycle, "customer-lifecycle"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			brokers := c.ListenAddrs()
			args := []string{"generate", "--events", "200", "--customers", "20", "--churn-rate", "0.9", "--quiet"}
			if tt.autoCreate {
				args = append(args, "--auto-create-topics")
			}
			r := runWith(t, ctx, map[string]string{"LTV_KAFKA_BROKERS": strings.Join(brokers, ",")}, "", args...)
			written := endOffsets(t, ctx, brokers, "orders") + endOffsets(t, ctx, brokers, "customer-lifecycle")
			if tt.ok {
				if r.code != exitOK || written != 200 {
					t.Fatalf("exit %d, %d records written, stderr %q", r.code, written, r.stderr)
				}
				return
			}
			want := fmt.Sprintf(`"orders" has %d partitions and "customer-lifecycle" %d`, tt.orders, tt.lifecycle)
			if r.code != exitError || !strings.Contains(r.stderr, want) || written != 0 {
				t.Fatalf("exit %d, %d records written, stderr %q; want exit 1, none written and %q", r.code, written, r.stderr, want)
			}
		})
	}
}
