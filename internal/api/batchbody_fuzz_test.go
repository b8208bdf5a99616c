package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParseBatchBody: whatever the body, parseBatchBody does not panic,
// and a body it accepts is valid UTF-8 JSON whose only key is "ids",
// whose ids are those encoding/json reads from it, and whose ids, encoded
// again, are accepted as the same ids.
func FuzzParseBatchBody(f *testing.F) {
	for _, seed := range []string{
		`{"ids":["c-7","nobody"]}`, `{"ids":[]}`, `{}`, `{"ids":null}`, `{"IDS":["x"]}`, `{"ids":["x"],"ids":["y"]}`,
		`{"ids":["c\ud83d\ude00","c\\ud800"]}`, `{"ids":["c\ud800"]}`, `{"ids":["\\\ud800"]}`, `{"ids":["a"]} {}`, `["a"]`,
		"{\"ids\":[\"c\xff\"]}", `{"ids":[7]}`, `{"ids":"x"}`, ` {"ids" : [ "a" , "b" ] } `, `{"ids":["\u0000"]}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseBatchBody(body)
		if err != nil {
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted %q, which is not valid UTF-8 JSON", body)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
		}
		for k := range obj {
			if k != "ids" {
				t.Fatalf("accepted %q, with key %q", body, k)
			}
		}
		var ids []string
		if raw, ok := obj["ids"]; ok {
			if err := json.Unmarshal(raw, &ids); err != nil {
				t.Fatalf("accepted %q, whose ids encoding/json refuses: %v", body, err)
			}
		}
		if len(ids) != len(req.IDs) || (len(ids) > 0 && !reflect.DeepEqual(ids, req.IDs)) {
			t.Fatalf("%q: ids %q, encoding/json reads %q", body, req.IDs, ids)
		}
		again, _ := json.Marshal(map[string][]string{"ids": req.IDs})
		req2, err := parseBatchBody(again)
		if err != nil || len(req2.IDs) != len(req.IDs) || (len(req.IDs) > 0 && !reflect.DeepEqual(req2.IDs, req.IDs)) {
			t.Fatalf("%q: its ids %q encoded again as %s read back as %q (%v)", body, req.IDs, again, req2.IDs, err)
		}
	})
}
