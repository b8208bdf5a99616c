package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func sameRecord(a, b Record) bool {
	return a.Topic == b.Topic && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		a.OccurredAt.Equal(b.OccurredAt) && a.Label == b.Label && a.BadReason == b.BadReason
}

func TestJSONLRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		rec  Record
		want string // substring of the line
	}{
		{"plain", Record{Topic: TopicOrders, Key: []byte("c-000042"), Value: []byte(`{"a":"b"}`), OccurredAt: at, Label: LabelValid}, `"value":"{\"a\":\"b\"}"`},
		{"lifecycle late", Record{Topic: TopicLifecycle, Key: []byte("c-1"), Value: []byte(`{}`), OccurredAt: at, Label: LabelLate}, `"topic":"customer-lifecycle"`},
		{"invalid UTF-8 value", Record{Topic: TopicOrders, Key: []byte("c-1"), Value: []byte("{\"x\":\"\xff\xfe\"}"), OccurredAt: at, Label: LabelBad, BadReason: "invalid_utf8: bytes ff fe"}, `"value_b64":"`},
		{"invalid UTF-8 key", Record{Topic: TopicOrders, Key: []byte("c-\xc3"), Value: []byte(`{}`), OccurredAt: at, Label: LabelBad}, `"key_b64":"`},
		{"control characters", Record{Topic: TopicOrders, Key: []byte("k"), Value: []byte("a\nb\r\tc\x00\x1f\\\"/"), OccurredAt: at, Label: LabelBad}, `a\nb\r\tc\u0000\u001f\\\"/`},
		{"unicode", Record{Topic: TopicOrders, Key: []byte("kund-å"), Value: []byte(`{"reason":"flyttade 🚚 \u2028"}`), OccurredAt: at, Label: LabelValid}, `🚚`},
		{"empty value and key", Record{Topic: TopicOrders, Key: []byte{}, Value: []byte{}, OccurredAt: at, Label: LabelDuplicate}, `"value":""`},
		{"no time", Record{Topic: TopicOrders, Key: []byte("k"), Value: []byte("v"), Label: LabelValid}, `"label":"valid"`},
		{"large", Record{Topic: TopicOrders, Key: []byte("k"), Value: bytes.Repeat([]byte(`"x"`), 400000), OccurredAt: at, Label: LabelBad, BadReason: "oversized: 1200000 bytes"}, `\"x\"\"x\"`},
	}
	var file bytes.Buffer
	w := NewJSONLWriter(&file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var one bytes.Buffer
			if err := WriteJSONL(&one, tt.rec); err != nil {
				t.Fatal(err)
			}
			line := one.String()
			if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
				t.Fatalf("not one line: %q", line)
			}
			if !strings.Contains(line, tt.want) {
				t.Fatalf("line %.200q does not contain %q", line, tt.want)
			}
			// Each line is ordinary JSON that jq or encoding/json can read.
			var m map[string]any
			if err := json.Unmarshal(one.Bytes(), &m); err != nil {
				t.Fatalf("line is not JSON: %v", err)
			}
			got, err := NewJSONLReader(&one).Next()
			if err != nil {
				t.Fatal(err)
			}
			if !sameRecord(got, tt.rec) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.rec)
			}
			if err := w.Write(tt.rec); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The whole file reads back in order, then io.EOF.
	r := NewJSONLReader(&file)
	for i, tt := range tests {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !sameRecord(got, tt.rec) {
			t.Fatalf("record %d differs", i)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

// A generated stream with every fault survives the trip through a file
// byte for byte.
func TestJSONLRoundTripGenerated(t *testing.T) {
	recs, _ := generate(t, faultyConfig(91, 5000, 300))
	var buf bytes.Buffer
	sink := NewJSONLSink(&buf)
	for _, r := range recs {
		if err := sink.Write(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != len(recs) {
		t.Fatalf("%d lines for %d records", n, len(recs))
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"value_b64"`)) {
		t.Fatal("expected some invalid UTF-8 values")
	}
	r := NewJSONLReader(&buf)
	for i, want := range recs {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !sameRecord(got, want) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

func TestJSONLReaderErrors(t *testing.T) {
	good := `{"topic":"orders","key":"c-1","value":"{}","ts":"2025-01-01T00:00:00Z","label":"valid"}`
	tests := []struct {
		name string
		line string
		want string
	}{
		{"not JSON", `hello`, "invalid JSON"},
		{"truncated", `{"topic":"orders","key":"c-1"`, "invalid JSON"},
		{"array", `["orders"]`, "one JSON object"},
		{"trailing data", good + ` {}`, "data after the object"},
		{"missing topic", `{"key":"c-1","value":"{}"}`, `missing "topic"`},
		{"unknown topic", `{"topic":"ltv-changes","key":"c-1","value":"{}"}`, `unknown topic "ltv-changes"`},
		{"missing key", `{"topic":"orders","value":"{}"}`, `missing "key"`},
		{"missing value", `{"topic":"orders","key":"c-1"}`, `missing "value"`},
		{"both values", `{"topic":"orders","key":"c-1","value":"{}","value_b64":"e30="}`, `both "value" and "value_b64"`},
		{"bad base64", `{"topic":"orders","key":"c-1","value_b64":"!!"}`, `"value_b64"`},
		{"bad ts", `{"topic":"orders","key":"c-1","value":"{}","ts":"yesterday"}`, `"ts" "yesterday" is not RFC 3339`},
		{"bad label", `{"topic":"orders","key":"c-1","value":"{}","label":"ok"}`, `unknown label "ok"`},
		{"unknown member", `{"topic":"orders","key":"c-1","value":"{}","vaule":"x"}`, `unknown member "vaule"`},
		{"duplicate member", `{"topic":"orders","topic":"orders","key":"c-1","value":"{}"}`, `duplicate member "topic"`},
		{"number member", `{"topic":"orders","key":1,"value":"{}"}`, `member "key" must be a string`},
		{"invalid UTF-8", "{\"topic\":\"orders\",\"key\":\"c-1\",\"value\":\"\xff\"}", "invalid UTF-8"},
		{"raw control char", "{\"topic\":\"orders\",\"key\":\"c\x01\",\"value\":\"{}\"}", "invalid character '\\x01' in string literal"},
		{"bad escape", `{"topic":"orders","key":"c\q","value":"{}"}`, "invalid character 'q' in string escape code"},
		{"unterminated", `{"topic":"orders","key":"c-1","value":"{}`, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// good line, blank line, CRLF good line, then the bad one on line 4
			input := good + "\n\n" + good + "\r\n" + tt.line + "\n" + good + "\n"
			r := NewJSONLReader(strings.NewReader(input))
			for i := 0; i < 2; i++ {
				if _, err := r.Next(); err != nil {
					t.Fatalf("good line: %v", err)
				}
			}
			_, err := r.Next()
			var jerr *JSONLError
			if !errors.As(err, &jerr) {
				t.Fatalf("got %v, want a *JSONLError", err)
			}
			if jerr.Line != 4 || !strings.HasPrefix(err.Error(), "line 4: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q (line %d), want line 4 and %q", err, jerr.Line, tt.want)
			}
			// Reading continues after a bad line.
			if _, err := r.Next(); err != nil {
				t.Fatalf("after the bad line: %v", err)
			}
		})
	}
}

func TestJSONLEscapes(t *testing.T) {
	line := `{"topic":"orders","key":"c-\u00e5\ud83d\ude9a\/","value":"\"\\\b\f\n\r\t\u0041\ud800x"}`
	rec, err := NewJSONLReader(strings.NewReader(line)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rec.Key), "c-å🚚/"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	if got, want := string(rec.Value), "\"\\\b\f\n\r\tA\uFFFDx"; got != want {
		t.Errorf("value %q, want %q", got, want)
	}
	if rec.Label != LabelValid || !rec.OccurredAt.IsZero() {
		t.Errorf("defaults: %+v", rec)
	}
}
