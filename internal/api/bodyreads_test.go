package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// holdBodySlots starts n batchGet requests whose bodies stop arriving
// (startBatchGetBody) against a server allowing n bodies at once, and
// returns once a further batchGet is refused: only then are all n slots
// surely taken (until then a further request may take a free one, and is
// answered 200). It returns the held connections with their whole bodies,
// and the 503's header and JSON body.
func holdBodySlots(t *testing.T, addr string, n int) (conns []net.Conn, body string, hdr http.Header, doc map[string]any) {
	t.Helper()
	for range n {
		var c net.Conn
		c, body = startBatchGetBody(t, addr)
		conns = append(conns, c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, h, d := testutil.CallJSON(t, "POST", "http://"+addr+"/v1/customers:batchGet", "application/json", `{"ids":["c-7"]}`, nil)
		if code == http.StatusServiceUnavailable {
			return conns, body, h, d
		}
		if code != http.StatusOK {
			t.Fatalf("a batchGet beside %d held bodies: %d %v, want 200 or 503", n, code, d)
		}
		if time.Now().After(deadline) {
			t.Fatalf("a batchGet beside %d held bodies is still answered 200 after 20 s: the bodies being read are not capped", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finishBatchGet sends the rest of a held body and reads the answer.
func finishBatchGet(t *testing.T, conn net.Conn, body string) (int, string) {
	t.Helper()
	if _, err := conn.Write([]byte(body[5:])); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer once the held body arrived: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// TestBodyReadsAreCapped: at most MaxBodyReads batchGet bodies are read at
// once (each may hold up to MaxBodyBytes of memory). With that many bodies
// still arriving, a further batchGet waits BodyReadWait and is answered 503
// with Retry-After: 1 and the API's JSON error; once one of the held bodies
// has arrived and been answered, its slot is free and a new batchGet is
// answered 200.
func TestBodyReadsAreCapped(t *testing.T) {
	const n = 3
	ln, _, _ := serveInBackground(t, api.Config{MaxBodyReads: n, BodyReadWait: 200 * time.Millisecond, ReadTimeout: 2 * time.Minute})
	addr := ln.Addr().String()
	conns, body, hdr, doc := holdBodySlots(t, addr, n)
	if hdr.Get("Retry-After") != "1" || hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("503 headers: Retry-After %q, Content-Type %q, Cache-Control %q; want 1, application/json, no-store",
			hdr.Get("Retry-After"), hdr.Get("Content-Type"), hdr.Get("Cache-Control"))
	}
	if msg := fmt.Sprint(doc["error"]); len(doc) != 1 || !strings.Contains(msg, "too many request bodies being read at once (at most 3)") {
		t.Errorf("503 body %v, want {\"error\": \"too many request bodies being read at once (at most 3); …\"}", doc)
	}
	// Still full: refused again.
	if code, h, d := testutil.CallJSON(t, "POST", "http://"+addr+"/v1/customers:batchGet", "application/json", `{"ids":["c-7"]}`, nil); code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" {
		t.Fatalf("with %d bodies still held: %d %v, want 503 with Retry-After", n, code, d)
	}
	// One held body arrives: it is answered in full, and its slot is
	// free before its answer is written.
	if code, got := finishBatchGet(t, conns[0], body); code != http.StatusOK || !strings.Contains(got, `"c-7":{`) {
		t.Fatalf("the held request, once its body arrived: %d %s", code, got)
	}
	code, _, d := testutil.CallJSON(t, "POST", "http://"+addr+"/v1/customers:batchGet", "application/json", `{"ids":["c-7","nobody"]}`, nil)
	if code != http.StatusOK || d["missing"] == nil {
		t.Fatalf("a batchGet once a slot is free: %d %v, want 200", code, d)
	}
	// The others, waited for all along, are answered too.
	for i, c := range conns[1:] {
		if code, got := finishBatchGet(t, c, body); code != http.StatusOK {
			t.Errorf("held request %d: %d %s", i+1, code, got)
		}
	}
}

// TestBodyReadCapLeavesGetsAlone: a GET has no body to read and takes no
// slot: with every slot held by a batchGet body still arriving, GET
// /v1/customers/{id} (and /healthz) are answered as usual.
func TestBodyReadCapLeavesGetsAlone(t *testing.T) {
	const n = 2
	ln, _, _ := serveInBackground(t, api.Config{MaxBodyReads: n, BodyReadWait: 200 * time.Millisecond, ReadTimeout: 2 * time.Minute})
	addr := ln.Addr().String()
	holdBodySlots(t, addr, n)
	for range 3 {
		code, hdr, doc := testutil.CallJSON(t, "GET", "http://"+addr+"/v1/customers/c-7", "", "", nil)
		if code != http.StatusOK || doc["tier"] != "gold" || hdr.Get("Retry-After") != "" {
			t.Fatalf("GET with every body slot held: %d %v, want c-7's fields", code, doc)
		}
	}
	if code, _, doc := testutil.CallJSON(t, "GET", "http://"+addr+"/healthz", "", "", nil); code != http.StatusOK {
		t.Fatalf("/healthz with every body slot held: %d %v", code, doc)
	}
}
