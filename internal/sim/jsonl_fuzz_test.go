package sim

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzJSONLReader: a replay file is a developer's hand-edited input. Any
// bytes give records or *JSONLError values naming a line, never a panic;
// and every record read back from what JSONLWriter writes of it is the
// same record (a replay of a replayed file is the same stream).
func FuzzJSONLReader(f *testing.F) {
	for _, seed := range []string{
		`{"topic":"orders","key":"c-1","value":"{}","ts":"2026-01-01T00:00:00Z"}` + "\n",
		`{"topic":"customer-lifecycle","key_b64":"/w==","value_b64":"AAE=","label":"bad","bad_reason":"x"}` + "\n",
		`{"topic":"orders","key":"","value":""}` + "\n\n  \n" + `{"topic":"orders"}`,
		"{\"topic\":\"orders\",\"value\":null}\r\n",
		`{"topic":"nope"}`,
		`not json`,
		`{"topic":"orders","ts":"yesterday"}`,
		`{"topic":"orders","key":"a","key_b64":"YQ=="}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		jr := NewJSONLReader(bytes.NewReader(data))
		var recs []Record
		for range 10_000 {
			rec, err := jr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var lineErr *JSONLError
			if errors.As(err, &lineErr) {
				if lineErr.Line < 1 || !strings.HasPrefix(err.Error(), "line ") {
					t.Fatalf("error %q names line %d", err, lineErr.Line)
				}
				continue
			}
			if err != nil {
				t.Fatalf("error %v is not a *JSONLError", err)
			}
			recs = append(recs, rec)
		}
		var buf bytes.Buffer
		w := NewJSONLWriter(&buf)
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatalf("write %+v: %v", r, err)
			}
		}
		back := NewJSONLReader(&buf)
		for i, want := range recs {
			got, err := back.Next()
			if err != nil {
				t.Fatalf("record %d written back: %v\n%s", i, err, buf.String())
			}
			if !reflect.DeepEqual(normalised(got), normalised(want)) {
				t.Fatalf("record %d changed in a round trip:\n got  %+v\n want %+v", i, got, want)
			}
		}
	})
}

// normalised makes nil and empty byte slices compare equal, and times by
// their instant.
func normalised(r Record) Record {
	if len(r.Key) == 0 {
		r.Key = nil
	}
	if len(r.Value) == 0 {
		r.Value = nil
	}
	r.OccurredAt = r.OccurredAt.UTC()
	return r
}
