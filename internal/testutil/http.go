package testutil

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// CallJSON makes a request with http.DefaultClient and returns the
// answer's status, its headers and, when it says it is JSON
// (Content-Type application/json), the object its body holds; a JSON
// answer that is not one fails the test, so a broken body cannot pass for
// a missing one. The read API's tests and those of the commands that serve
// it (ltvctl serve, the demo) check answers this way. hdr and contentType
// may be empty.
func CallJSON(t testing.TB, method, url, contentType, body string, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, url, err, raw)
		}
	}
	return res.StatusCode, res.Header, doc
}

// GetJSON is CallJSON for a plain GET: the status and the JSON object.
func GetJSON(t testing.TB, url string) (int, map[string]any) {
	t.Helper()
	code, _, doc := CallJSON(t, http.MethodGet, url, "", "", nil)
	return code, doc
}
