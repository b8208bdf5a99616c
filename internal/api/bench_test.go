package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/api"
)

// BenchmarkHandlers measures the handlers with a real redis-server round
// trip, without an HTTP connection (the handler is called directly), so
// their CPU and allocations show apart from net/http's.
func BenchmarkHandlers(b *testing.B) {
	f := newFixture(b)
	s, err := api.New(api.Config{Redis: f.client})
	if err != nil {
		b.Fatal(err)
	}
	ids := []string{}
	for i := range 100 {
		ids = append(ids, fmt.Sprint("c-", i%3))
	}
	ids[0] = "c-000042"
	body, _ := json.Marshal(map[string]any{"ids": ids})
	cases := []struct{ name, method, path, body string }{
		{"get", "GET", "/v1/customers/c-000042", ""},
		{"batchGet100", "POST", "/v1/customers:batchGet", string(body)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
