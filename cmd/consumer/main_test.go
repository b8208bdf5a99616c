package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "redis unreachable")
	}))
	defer srv.Close()
	noEnv := func(string) string { return "" }

	var errOut strings.Builder
	if code := healthcheck([]string{"--url", srv.URL + "/readyz"}, noEnv, &errOut); code != 0 {
		t.Fatalf("ready: exit %d, %s", code, errOut.String())
	}
	status = http.StatusServiceUnavailable
	errOut.Reset()
	if code := healthcheck([]string{"--url", srv.URL + "/readyz"}, noEnv, &errOut); code != 1 || !strings.Contains(errOut.String(), "redis unreachable") {
		t.Fatalf("not ready: exit %d, %q", code, errOut.String())
	}
	if code := healthcheck([]string{"--url", "http://127.0.0.1:1/readyz", "--timeout", "200ms"}, noEnv, io.Discard); code != 1 {
		t.Fatalf("unreachable: exit %d", code)
	}
	if code := healthcheck([]string{"--bogus"}, noEnv, io.Discard); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// TestProbeAddr: the healthcheck probes the listen address's own host, or
// loopback when it listens on all of them.
func TestProbeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":                ":8080",
		":9000":           "127.0.0.1:9000",
		"0.0.0.0:9100":    "127.0.0.1:9100",
		"[::]:9100":       "127.0.0.1:9100",
		"127.0.0.2:18099": "127.0.0.2:18099",
		"[::1]:8080":      "[::1]:8080",
		"pod.local:8080":  "pod.local:8080",
		"127.0.0.1:0":     ":8080",
		"garbage":         ":8080",
	} {
		if want == ":8080" {
			want = "127.0.0.1:8080"
		}
		if got := probeAddr(in); got != want {
			t.Errorf("probeAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
