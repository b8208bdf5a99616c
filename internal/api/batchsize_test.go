package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// longIDs are n distinct valid ids of the longest allowed length, the
// rest of each after its number made of fill.
func longIDs(t *testing.T, n int, fill string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id := fmt.Sprintf("%04d", i)
		for len(id)+len(fill) <= decode.MaxIDBytes {
			id += fill
		}
		id += strings.Repeat("x", decode.MaxIDBytes-len(id))
		if err := decode.CheckCustomerID(id); err != nil || len(id) != decode.MaxIDBytes {
			t.Fatalf("id %q (%d bytes): %v", id, len(id), err)
		}
		ids[i] = id
	}
	return ids
}

// asciiOnly is what an encoder that escapes every non-ASCII character
// (Python's json.dumps by default, ensure_ascii) writes for a body of ids.
func asciiOnly(ids []string) string {
	var b strings.Builder
	b.WriteString(`{"ids": [`)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('"')
		for _, r := range id {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r < 0x80:
				b.WriteRune(r)
			case r > 0xFFFF:
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
		b.WriteByte('"')
	}
	b.WriteString("]}")
	return b.String()
}

// TestBatchGetTakesAThousandLongestIdsAsEncodersWriteThem: SPEC §11 allows
// 1,000 ids per batch and an id may be 256 bytes, so a request of 1,000
// such ids is valid however a standard JSON encoder writes it: Go's
// encoding/json escapes each of < > & as six bytes (\u003c), Python's
// json.dumps each non-ASCII character (é as \u00e9, an emoji as a
// surrogate pair of twelve bytes), and a client may indent. None of these
// may be refused as too large; 1,001 ids are refused for their number.
func TestBatchGetTakesAThousandLongestIdsAsEncodersWriteThem(t *testing.T) {
	hs := newServer(t, api.Config{})
	goBody := func(ids []string, indent bool) string {
		var b []byte
		var err error
		if indent {
			b, err = json.MarshalIndent(map[string]any{"ids": ids}, "", "    ")
		} else {
			b, err = json.Marshal(map[string]any{"ids": ids})
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, body string
		code       int
		errHas     string
	}{
		{"Go, < > & escaped", goBody(longIDs(t, api.MaxBatch, "<&>"), false), 200, ""},
		{"Go, indented", goBody(longIDs(t, api.MaxBatch, "<&>"), true), 200, ""},
		{"every non-ASCII character escaped, é", asciiOnly(longIDs(t, api.MaxBatch, "é")), 200, ""},
		{"every non-ASCII character escaped, emoji", asciiOnly(longIDs(t, api.MaxBatch, "😀")), 200, ""},
		{"quotes and backslashes", goBody(longIDs(t, api.MaxBatch, `"\`), true), 200, ""},
		{"1,001 ids", goBody(longIDs(t, api.MaxBatch+1, "<&>"), false), 400, "at most 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "application/json", tc.body, nil)
			if code != tc.code {
				t.Fatalf("a body of %d bytes: %d %v, want %d", len(tc.body), code, doc["error"], tc.code)
			}
			if tc.errHas != "" {
				if !strings.Contains(fmt.Sprint(doc["error"]), tc.errHas) {
					t.Fatalf("error %q, want it to contain %q", doc["error"], tc.errHas)
				}
				return
			}
			if missing, _ := doc["missing"].([]any); len(missing) != api.MaxBatch {
				t.Errorf("%d ids missing, want all %d", len(missing), api.MaxBatch)
			}
		})
	}
}
