package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestChunksBoundCountAndTopicBytes(t *testing.T) {
	msg := func(topic string, n int) pipeline.Message {
		return pipeline.Message{Topic: topic, Key: []byte("k"), Value: []byte(strings.Repeat("v", n))}
	}
	var small []pipeline.Message
	for i := 0; i < 10; i++ {
		small = append(small, msg("a", 10))
	}
	one := recordSize(1, 10, nil)
	same := func(msgs []pipeline.Message, limit int) []int {
		out := make([]int, len(msgs))
		for i := range out {
			out[i] = limit
		}
		return out
	}
	mixed := []pipeline.Message{msg("a", 10), msg("b", 10), msg("a", 10), msg("b", 10), msg("a", 10)}
	tests := []struct {
		name     string
		msgs     []pipeline.Message
		limits   []int
		maxCount int
		want     [][2]int
	}{
		{"count", small, same(small, 1<<20), 4, [][2]int{{0, 4}, {4, 8}, {8, 10}}},
		{"topic bytes", small, same(small, recordBatchOverhead+3*one), 100, [][2]int{{0, 3}, {3, 6}, {6, 9}, {9, 10}}},
		{"topics count apart", mixed, []int{recordBatchOverhead + 2*one, 1 << 20, recordBatchOverhead + 2*one, 1 << 20, recordBatchOverhead + 2*one},
			100, [][2]int{{0, 4}, {4, 5}}},
		{"one message larger than the limit goes alone", []pipeline.Message{msg("a", 10), msg("a", 5000), msg("a", 10)}, same(small[:3], 1000), 100,
			[][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{"one message", small[:1], same(small[:1], 1), 1, [][2]int{{0, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := chunks(tc.msgs, tc.limits, tc.maxCount)
			if len(got) != len(tc.want) {
				t.Fatalf("chunks = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("chunks = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// batchBytes encodes msgs as one Kafka v2 record batch the way a producer
// sends it (franz-go's wire types, not this package's arithmetic) and
// returns its size as a broker measures it against max.message.bytes.
func batchBytes(t *testing.T, msgs ...pipeline.Message) int {
	t.Helper()
	var recs []byte
	for i, m := range msgs {
		r := kmsg.Record{
			TimestampDelta64: 1 << 40, // larger than any real delta: the bound must hold anyway
			OffsetDelta:      int32(i),
			Key:              m.Key,
			Value:            m.Value,
		}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the body after a one-byte zero length
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{Magic: 2, NumRecords: int32(len(msgs)), Records: recs}
	out := b.AppendTo(nil)
	return len(out)
}

func TestRecordSizeBoundsTheWireSize(t *testing.T) {
	cases := []pipeline.Message{
		{Key: []byte("c-000042"), Value: []byte(`{"x":1}`)},
		{Key: nil, Value: nil},
		{Key: []byte(strings.Repeat("k", 200)), Value: []byte(strings.Repeat("v", 70000)),
			Headers: []pipeline.Header{{Key: "error", Value: []byte("bad json")}, {Key: "topic", Value: []byte("orders")}}},
		{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 3<<20)},
	}
	for i, m := range cases {
		wire := batchBytes(t, m)
		est := recordBatchOverhead + recordSize(len(m.Key), len(m.Value), m.Headers)
		if est < wire || est > wire+16 {
			t.Errorf("case %d: estimate %d, wire %d: must bound it from above, tightly", i, est, wire)
		}
	}
}

func TestFitCutsToTheLimit(t *testing.T) {
	value := bytes.Repeat([]byte("x"), 2<<20)
	sum := sha256.Sum256(value)
	source := []pipeline.Header{{Key: "error", Value: []byte("value of 2097152 bytes exceeds the 1048576-byte limit")},
		{Key: "topic", Value: []byte("orders")}, {Key: "partition", Value: []byte("3")}, {Key: "offset", Value: []byte("17")}}
	header := func(m pipeline.Message, k string) string {
		for _, h := range m.Headers {
			if h.Key == k {
				return string(h.Value)
			}
		}
		return "<absent>"
	}
	for _, limit := range []int{1 << 10, 64 << 10, 1048588, 2<<20 + 200} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			m := pipeline.Message{Topic: "ltv-dlq", Key: []byte("c-1"), Value: value, Headers: append([]pipeline.Header(nil), source...)}
			cut, err := fit(&m, limit)
			if err != nil {
				t.Fatal(err)
			}
			if wire := batchBytes(t, m); wire > limit {
				t.Fatalf("batch of %d bytes exceeds the limit %d", wire, limit)
			}
			if !cut {
				if !bytes.Equal(m.Value, value) || len(m.Headers) != len(source) {
					t.Fatal("a message that fits was changed")
				}
				return
			}
			if !bytes.HasPrefix(value, m.Value) || len(m.Value) == 0 {
				t.Fatalf("cut value of %d bytes is not a non-empty prefix of the original", len(m.Value))
			}
			if limit-batchBytes(t, m) > 32 {
				t.Fatalf("cut too much: %d bytes left unused", limit-batchBytes(t, m))
			}
			if header(m, "truncated") != "true" || header(m, "original_size") != "2097152" ||
				header(m, "original_sha256") != hex.EncodeToString(sum[:]) || header(m, "offset") != "17" || string(m.Key) != "c-1" {
				t.Fatalf("headers/key of the cut copy: %v %q", m.Headers, m.Key)
			}
		})
	}
}

func TestFitCutsTheKeyWhenAnEmptyValueIsTooLarge(t *testing.T) {
	m := pipeline.Message{Topic: "ltv-dlq", Key: bytes.Repeat([]byte("k"), 4000), Value: []byte("v")}
	if _, err := fit(&m, 1024); err != nil {
		t.Fatal(err)
	}
	if wire := batchBytes(t, m); wire > 1024 || len(m.Value) != 0 || len(m.Key) == 0 || m.Value == nil {
		t.Fatalf("wire %d, value %q, key of %d bytes", wire, m.Value, len(m.Key))
	}
	var keySize string
	for _, h := range m.Headers {
		if h.Key == HeaderOriginalKeySize {
			keySize = string(h.Value)
		}
	}
	if keySize != "4000" {
		t.Fatalf("original_key_size = %q", keySize)
	}
}

func TestFitRefusesWhenNothingFits(t *testing.T) {
	m := pipeline.Message{Topic: "ltv-dlq", Key: []byte("k"), Value: []byte("v"),
		Headers: []pipeline.Header{{Key: "error", Value: bytes.Repeat([]byte("e"), 300)}}}
	if _, err := fit(&m, 200); err == nil || !strings.Contains(err.Error(), "accepts at most 200 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestFitKeepsNullValuesNull(t *testing.T) {
	m := pipeline.Message{Topic: "ltv-dlq", Key: []byte("k"), Value: nil}
	if cut, err := fit(&m, 1<<20); cut || err != nil || m.Value != nil {
		t.Fatalf("cut %v err %v value %v", cut, err, m.Value)
	}
}

// ceMessage is a change event as the pipeline hands it over: CloudEvents
// headers in front of a JSON value.
func ceMessage(id string, value []byte) pipeline.Message {
	return pipeline.Message{Topic: "ltv-changes", Key: []byte(id), Value: value, Headers: []pipeline.Header{
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("3b0f6c1e-5a2d-8c4e-9f10-2a7b3c4d5e6f")},
		{Key: "ce_source", Value: []byte("/ltv-stream/ltv-updater")}, {Key: "ce_type", Value: []byte("ltv.change.v1")},
		{Key: "ce_time", Value: []byte("2026-03-01T12:00:00Z")}, {Key: "ce_subject", Value: []byte(id)},
		{Key: "content-type", Value: []byte("application/json")},
	}}
}

// A change event cut to fit a (tiny) topic limit keeps its CloudEvents
// headers, in front of the truncation headers, and the headers count
// toward the limit. Cutting a copy of one message leaves the message and
// its neighbour, whose headers share one array (as the pipeline hands them
// over), as they were: the caller may publish them again.
func TestFitKeepsTheCloudEventsHeadersOfACutChangeEvent(t *testing.T) {
	value := []byte(`{"schema":"ltv.change.v1","customer_id":"` + strings.Repeat("x", 2000) + `"}`)
	a, b := ceMessage("c-1", value), ceMessage("c-2", value)
	n := len(a.Headers)
	shared := append(append([]pipeline.Header(nil), a.Headers...), b.Headers...)
	a.Headers, b.Headers = shared[:n:n], shared[n:]
	msgs := []pipeline.Message{a, b}
	for _, limit := range []int{1024, 1500, 4096} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			before := slices.Clone(shared)
			m := msgs[0]
			cut, err := fit(&m, limit)
			if err != nil {
				t.Fatal(err)
			}
			if wire := batchBytes(t, m); wire > limit {
				t.Fatalf("batch of %d bytes exceeds the limit %d", wire, limit)
			}
			if want := limit < 4096; cut != want {
				t.Fatalf("cut = %v, want %v", cut, want)
			}
			if cut && (len(m.Headers) != n+3 || m.Headers[n].Key != HeaderTruncated || m.Headers[n+1].Key != HeaderOriginalSize) {
				t.Fatalf("headers of the cut copy: %v", m.Headers)
			}
			for j, h := range msgs[0].Headers {
				if m.Headers[j].Key != h.Key || !bytes.Equal(m.Headers[j].Value, h.Value) {
					t.Fatalf("header %d = %s:%q, want %s:%q", j, m.Headers[j].Key, m.Headers[j].Value, h.Key, h.Value)
				}
			}
			for j := range shared {
				if shared[j].Key != before[j].Key || !bytes.Equal(shared[j].Value, before[j].Value) {
					t.Fatalf("the shared headers changed at %d: %v", j, shared[j])
				}
			}
			if len(msgs[0].Value) != len(value) || len(msgs[0].Headers) != n || len(msgs[1].Headers) != n {
				t.Fatal("the caller's messages changed")
			}
		})
	}
}
