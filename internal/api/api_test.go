package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// public42 is a customer's public fields as the updater writes them.
var public42 = map[string]string{
	"orders": "2", "revenue": "599.05", "gross_profit": "232.92", "refunds": "0.00",
	"first_order_at": "2026-03-01T12:00:00Z", "last_order_at": "2026-09-01T12:00:00Z",
	"aov": "299.53", "frequency": "2.0000", "tenure_days": "184.00", "churned": "0",
	"ltv": "698.75", "tier": "bronze", "updated_at": "2026-11-23T07:31:45Z",
	"channel": `e"mail <x>`, "segment": "active", "segment_since": "2026-09-01T12:00:00Z",
}

// customer42 is the whole customer hash as the updater writes it:
// public42 and private bookkeeping (binary _g, _p).
var customer42 = withFields(public42, map[string]string{"_g": "\x00\x01\xfe\xffbinary", "_p": "1"})

// want42 is customer42 as the API returns it: public42, every value the
// string Redis holds, and nothing of the private fields.
var want42 = asJSON(public42)

// withFields is a copy of base with the fields of extra added.
func withFields(base, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	maps.Copy(out, extra)
	return out
}

// asJSON is a hash as a decoded JSON object of strings.
func asJSON(h map[string]string) map[string]any {
	out := make(map[string]any, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// fixture is a redis-server holding a few customers, and a server over it.
type fixture struct {
	redis  *testutil.RedisServer
	admin  *redis.Client
	client redis.UniversalClient
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	rs := testutil.StartRedis(t)
	f := &fixture{redis: rs, admin: rs.Client(), client: rs.StoreClient()}
	ctx := context.Background()
	hashes := map[string]map[string]string{
		"c-000042": customer42,
		// Churned, with the predictive fields, no channel.
		"c-7": {"orders": "11", "revenue": "25000.00", "churned": "1", "ltv": "9000.00", "tier": "gold",
			"p_alive": "0.0000", "expected_orders": "0.0000", "expected_spend": "120.50", "predicted_clv": "0.00",
			"scored_at": "2026-10-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z", "_g": "x"},
		"a/b åäö": {"orders": "1", "tier": "bronze", "updated_at": "2026-11-01T00:00:00Z"},
		// Only private fields: not a customer anyone can read.
		"ghost": {"_g": "x"},
		// Hand-edited into something the updater never writes.
		"broken": {"orders": "two", "tier": "bronze"},
	}
	for id, h := range hashes {
		if err := f.admin.HSet(ctx, store.Key(id), h).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) server(t *testing.T, cfg api.Config) *httptest.Server {
	t.Helper()
	if cfg.Redis == nil {
		cfg.Redis = f.client
	}
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs
}

// clientWithoutAccess is a store client of a Redis user that may read
// only other:* keys, none of the customers.
func (f *fixture) clientWithoutAccess(t *testing.T) redis.UniversalClient {
	t.Helper()
	if err := f.admin.Do(context.Background(), "ACL", "SETUSER", "nobody", "reset", "on", ">pw", "~other:*", "+@read", "+@connection").Err(); err != nil {
		t.Fatal(err)
	}
	c, err := store.NewClient(store.Config{URL: f.redis.URL(), Username: "nobody", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newServer is a server over a fresh fixture, for the tests that need
// nothing else of the fixture.
func newServer(t *testing.T, cfg api.Config) *httptest.Server {
	t.Helper()
	return newFixture(t).server(t, cfg)
}

func TestGetCustomer(t *testing.T) {
	hs := newServer(t, api.Config{})
	cases := []struct {
		name, path string
		code       int
		want       map[string]any // the whole body on 200
		errHas     string
	}{
		{"known", "c-000042", 200, want42, ""},
		{"predictive fields, churned, no channel", "c-7", 200, map[string]any{
			"orders": "11", "revenue": "25000.00", "churned": "1", "ltv": "9000.00", "tier": "gold",
			"p_alive": "0.0000", "expected_orders": "0.0000", "expected_spend": "120.50", "predicted_clv": "0.00",
			"scored_at": "2026-10-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"}, ""},
		{"escaped slash and UTF-8", "a%2Fb%20%C3%A5%C3%A4%C3%B6", 200, map[string]any{
			"orders": "1", "tier": "bronze", "updated_at": "2026-11-01T00:00:00Z"}, ""},
		{"unknown", "c-404", 404, nil, `unknown customer "c-404"`},
		{"private fields only", "ghost", 404, nil, "unknown customer"},
		{"stored value the updater never writes: returned as Redis holds it", "broken", 200, map[string]any{"orders": "two", "tier": "bronze"}, ""},
		{"breaks the hash tag", "%7Dc", 400, nil, "hash tag"},
		{"only white space", "%20%20", 400, nil, "only white space"},
		{"control character", "c%01", 400, nil, "control character"},
		{"too long", strings.Repeat("x", 257), 400, nil, "longer than 256 bytes"},
		{"not UTF-8", "c%FF", 400, nil, "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/"+tc.path, "", "", nil)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, doc)
			}
			if hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", hdr)
			}
			if tc.want != nil && !reflect.DeepEqual(doc, tc.want) {
				t.Fatalf("body\n got %v\nwant %v", doc, tc.want)
			}
			if tc.errHas != "" && !strings.Contains(fmt.Sprint(doc["error"]), tc.errHas) {
				t.Fatalf("error %q, want it to contain %q", doc["error"], tc.errHas)
			}
		})
	}
}

func TestBatchGet(t *testing.T) {
	hs := newServer(t, api.Config{MaxBodyBytes: 64 << 10})
	many := func(n int) string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("c-%d", i)
		}
		b, _ := json.Marshal(map[string]any{"ids": ids})
		return string(b)
	}
	cases := []struct {
		name, contentType, body string
		code                    int
		customers               []string // ids returned, in order
		missing                 []string
		errHas                  string
	}{
		{"found, missing and repeated", "application/json", `{"ids":["c-7","nobody","c-000042","c-7","ghost"]}`, 200,
			[]string{"c-7", "c-000042"}, []string{"nobody", "ghost"}, ""},
		{"all missing", "", `{"ids":["x","y"]}`, 200, []string{}, []string{"x", "y"}, ""},
		{"charset parameter", "application/json; charset=utf-8", `{"ids":["c-7"]}`, 200, []string{"c-7"}, []string{}, ""},
		{"1000 ids", "application/json", many(1000), 200, []string{"c-7"}, nil, ""},
		{"1001 ids", "application/json", many(1001), 400, nil, nil, "at most 1000"},
		{"empty list", "application/json", `{"ids":[]}`, 400, nil, nil, `"ids" is empty`},
		{"no ids", "application/json", `{}`, 400, nil, nil, `no "ids"`},
		{"unknown field", "application/json", `{"ids":["c-7"],"fields":["ltv"]}`, 400, nil, nil, `unknown field "fields"`},
		{"not JSON", "application/json", `ids=c-7`, 400, nil, nil, "invalid character"},
		// Wrong types are named in the request's terms, not encoding/json's
		// ("cannot unmarshal number into Go value of type string"), and a
		// null id is not read as the empty string.
		{"ids not strings", "application/json", `{"ids":["c-7",7]}`, 400, nil, nil, "ids[1] must be a string, not a number"},
		{"a null id", "application/json", `{"ids":["c-7",null]}`, 400, nil, nil, "ids[1] must be a string, not null"},
		{"an object as id", "application/json", `{"ids":[{"id":"c-7"}]}`, 400, nil, nil, "ids[0] must be a string, not an object"},
		{"ids a string", "application/json", `{"ids":"c-7"}`, 400, nil, nil, `"ids" must be an array of strings, not a string`},
		{"ids an object", "application/json", `{"ids":{"c-7":true}}`, 400, nil, nil, `"ids" must be an array of strings, not an object`},
		{"empty body", "application/json", ``, 400, nil, nil, "empty body"},
		{"data after the object", "application/json", `{"ids":["c-7"]} {}`, 400, nil, nil, "data after the JSON object"},
		{"invalid id", "application/json", `{"ids":["c-7","}x"]}`, 400, nil, nil, "ids[1]: customer_id must not start with '}'"},
		{"invalid UTF-8", "application/json", "{\"ids\":[\"c\xff\"]}", 400, nil, nil, "not valid UTF-8"},
		{"lone high surrogate", "application/json", `{"ids":["c\ud800"]}`, 400, nil, nil, `lone surrogate \ud800`},
		{"lone low surrogate", "application/json", `{"ids":["c\uDC00x"]}`, 400, nil, nil, `lone surrogate \udc00`},
		{"surrogate pair and escaped backslash", "application/json", `{"ids":["c\ud83d\ude00","c\\ud800"]}`, 200, []string{}, []string{"c😀", `c\ud800`}, ""},
		{"key spelled otherwise", "application/json", `{"IDS":["c-7"]}`, 400, nil, nil, `unknown field "IDS"`},
		{"ids twice", "application/json", `{"ids":["x"],"ids":["c-7"]}`, 400, nil, nil, `"ids" given twice`},
		{"ids null", "application/json", `{"ids":null}`, 400, nil, nil, `no "ids"`},
		{"an array", "application/json", `["c-7"]`, 400, nil, nil, "not a JSON object"},
		// curl -d sends JSON as a form; some libraries send a string as
		// text/plain: the body is read as JSON all the same.
		{"curl -d's form content type", "application/x-www-form-urlencoded", `{"ids":["c-7"]}`, 200, []string{"c-7"}, []string{}, ""},
		{"text/plain", "text/plain; charset=utf-8", `{"ids":["c-7"]}`, 200, []string{"c-7"}, []string{}, ""},
		{"a +json type", "application/merge-patch+json", `{"ids":["c-7"]}`, 200, []string{"c-7"}, []string{}, ""},
		{"a real form", "application/x-www-form-urlencoded", `ids=c-7`, 400, nil, nil, "invalid character"},
		{"multipart form", "multipart/form-data; boundary=x", `{"ids":["c-7"]}`, 415, nil, nil, "send application/json"},
		{"XML", "application/xml", `{"ids":["c-7"]}`, 415, nil, nil, "send application/json"},
		{"unparsable content type", "json;;", `{"ids":["c-7"]}`, 415, nil, nil, "send application/json"},
		{"too large", "application/json", `{"ids":["` + strings.Repeat("x", 70<<10) + `"]}`, 413, nil, nil, "larger than 65536 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", tc.contentType, tc.body, nil)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, doc)
			}
			if tc.errHas != "" {
				if !strings.Contains(fmt.Sprint(doc["error"]), tc.errHas) {
					t.Fatalf("error %q, want it to contain %q", doc["error"], tc.errHas)
				}
				return
			}
			var got []string
			for id := range doc["customers"].(map[string]any) {
				got = append(got, id)
			}
			sort.Strings(got)
			want := slices.Clone(tc.customers)
			sort.Strings(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("customers %v, want %v", got, tc.customers)
			}
			if tc.missing != nil && fmt.Sprint(doc["missing"]) != fmt.Sprint(tc.missing) {
				t.Errorf("missing %v, want %v", doc["missing"], tc.missing)
			}
			if tc.name == "found, missing and repeated" {
				if c := doc["customers"].(map[string]any)["c-000042"].(map[string]any); !reflect.DeepEqual(c, want42) {
					t.Errorf("c-000042 in a batch\n got %v\nwant %v", c, want42)
				}
			}
		})
	}
}

// TestBatchGetServesTheRestPastAForeignKey: a customer key that holds
// something other than a hash (written by another program) is reported
// under "errors" for its id alone; the rest of the batch is answered.
// A failure of the whole read (here an ACL) still fails the request.
func TestBatchGetServesTheRestPastAForeignKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.admin.Set(ctx, store.Key("c-string"), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	hs := f.server(t, api.Config{})
	url := hs.URL + "/v1/customers:batchGet"
	code, _, doc := testutil.CallJSON(t, "POST", url, "", `{"ids":["c-7","c-string","nobody"]}`, nil)
	if code != 200 {
		t.Fatalf("status %d: %v", code, doc)
	}
	if _, ok := doc["customers"].(map[string]any)["c-7"]; !ok || len(doc["customers"].(map[string]any)) != 1 {
		t.Errorf("customers %v, want c-7 alone", doc["customers"])
	}
	if fmt.Sprint(doc["missing"]) != "[nobody]" {
		t.Errorf("missing %v, want [nobody]", doc["missing"])
	}
	errs, _ := doc["errors"].(map[string]any)
	if msg := fmt.Sprint(errs["c-string"]); len(errs) != 1 || !strings.Contains(msg, "ltv:{c-string} is not a hash") {
		t.Errorf("errors %v, want c-string's alone", doc["errors"])
	}
	code, _, doc = testutil.CallJSON(t, "POST", url, "", `{"ids":["c-7"]}`, nil)
	if _, has := doc["errors"]; code != 200 || has {
		t.Errorf("a batch without foreign keys: %d %v, want no \"errors\"", code, doc)
	}
	// A single GET says what the batch says of the key (not Redis's bare
	// reply behind "redis refused the read", which reads as an ACL
	// problem).
	code, _, doc = testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-string", "", "", nil)
	if code != 500 || doc["error"] != errs["c-string"] {
		t.Errorf("GET of the foreign key: %d %v, want a 500 saying %q", code, doc, errs["c-string"])
	}

	c := f.clientWithoutAccess(t)
	code, _, doc = testutil.CallJSON(t, "POST", f.server(t, api.Config{Redis: c}).URL+"/v1/customers:batchGet", "", `{"ids":["c-7","c-string"]}`, nil)
	if code != 500 || !strings.Contains(fmt.Sprint(doc["error"]), "NOPERM") {
		t.Errorf("a batch the ACL refuses: %d %v, want a 500 naming NOPERM", code, doc)
	}
}

// TestReadOnlyACLUser runs the API as a Redis user that may only read
// ltv:* keys (the setup docs/read-api.md gives) and checks every endpoint
// that reads Redis works, while the user can write nothing.
func TestReadOnlyACLUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.admin.Do(ctx, "ACL", "SETUSER", "ltv-api", "reset", "on", ">api-pw", "~ltv:*", "resetchannels",
		"+@read", "+@connection", "-@dangerous").Err(); err != nil {
		t.Fatal(err)
	}
	ro, err := store.NewClient(store.Config{URL: f.redis.URL(), Username: "ltv-api", Password: "api-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	// The user really is read-only, and only for ltv:*.
	if err := ro.HSet(ctx, store.Key("c-7"), "tier", "platinum").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the ACL user could write: %v", err)
	}
	if err := ro.Get(ctx, "other:key").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the ACL user could read outside ltv:*: %v", err)
	}
	hs := f.server(t, api.Config{Redis: ro, Stats: statsProvider(t, ro)})
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-000042", "", "", nil); code != 200 || !reflect.DeepEqual(doc, want42) {
		t.Errorf("get: %d %v", code, doc)
	}
	if code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "application/json", `{"ids":["c-7","nobody"]}`, nil); code != 200 || len(doc["customers"].(map[string]any)) != 1 {
		t.Errorf("batchGet: %d %v", code, doc)
	}
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/healthz", "", "", nil); code != 200 {
		t.Errorf("healthz: %d %v", code, doc)
	}
	// Five keys, three customers: ghost holds no public field (GET answers
	// 404 for it) and broken's orders cannot be parsed; both are counted
	// under skipped, not in the population.
	code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/stats", "", "", nil)
	skipped, _ := doc["skipped"].(map[string]any)
	if code != 200 || doc["population"] != 3.0 || skipped["no_public_fields"] != 1.0 || skipped["unreadable"] != 1.0 || skipped["not_hash"] != 0.0 {
		t.Errorf("stats: %d %v", code, doc)
	}
}

// TestNoPermissionIsAClearError: a Redis user without read access gets a
// 500 saying what to fix, not a 503 that suggests waiting.
func TestNoPermissionIsAClearError(t *testing.T) {
	f := newFixture(t)
	c := f.clientWithoutAccess(t)
	hs := f.server(t, api.Config{Redis: c})
	code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-7", "", "", nil)
	if code != 500 || !strings.Contains(fmt.Sprint(doc["error"]), "NOPERM") || !strings.Contains(fmt.Sprint(doc["error"]), "ACL user") {
		t.Fatalf("%d %v", code, doc)
	}
}

// startReplyingRedis is a TCP server that speaks just enough RESP to
// answer every command with the error reply reply (HELLO gets "unknown
// command", so the client falls back to RESP2, as with an old server).
func startReplyingRedis(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					// A command is an array of bulk strings: *n, then $len and the bytes n times.
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					var n int
					if _, err := fmt.Sscanf(line, "*%d", &n); err != nil {
						return
					}
					var name string
					for i := 0; i < n; i++ {
						if _, err := r.ReadString('\n'); err != nil {
							return
						}
						arg, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if i == 0 {
							name = strings.ToUpper(strings.TrimSpace(arg))
						}
					}
					out := "-" + reply + "\r\n"
					if name == "HELLO" {
						out = "-ERR unknown command 'HELLO'\r\n"
					}
					if _, err := io.WriteString(conn, out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestRedisNotReadyYetIsA503: a Redis that is restarting answers LOADING
// until its dataset is in memory. That passes by itself, as an unreachable
// Redis does, so it is a 503 (try again), not the 500 of a refusal that
// needs an operator.
func TestRedisNotReadyYetIsA503(t *testing.T) {
	for _, reply := range []string{"LOADING Redis is loading the dataset in memory", "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", "CLUSTERDOWN The cluster is down"} {
		t.Run(strings.Fields(reply)[0], func(t *testing.T) {
			c, err := store.NewClient(store.Config{URL: "redis://" + startReplyingRedis(t, reply) + "/0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			s, err := api.New(api.Config{Redis: c, Stats: statsProvider(t, c)})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(s)
			t.Cleanup(hs.Close)
			if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/stats", "", "", nil); code != 503 || !strings.Contains(fmt.Sprint(doc["error"]), reply) {
				t.Errorf("stats: %d %v, want a 503 naming the reply", code, doc)
			}
			if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-7", "", "", nil); code != 503 || !strings.Contains(fmt.Sprint(doc["error"]), reply) {
				t.Errorf("get: %d %v, want a 503 naming the reply", code, doc)
			}
			if code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "application/json", `{"ids":["c-7","c-8"]}`, nil); code != 503 {
				t.Errorf("batchGet: %d %v, want 503", code, doc)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	hs := f.server(t, api.Config{HealthTimeout: time.Second})
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/healthz", "", "", nil); code != 200 || doc["status"] != "ok" {
		t.Fatalf("up: %d %v", code, doc)
	}
	f.redis.Stop()
	code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/healthz", "", "", nil)
	if code != 503 || !strings.Contains(fmt.Sprint(doc["error"]), "redis unreachable") {
		t.Fatalf("down: %d %v", code, doc)
	}
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-7", "", "", nil); code != 503 || !strings.Contains(fmt.Sprint(doc["error"]), "redis unavailable") {
		t.Fatalf("get while down: %d %v", code, doc)
	}
}

// A path the mux cleans (an id of "." or "..", unescaped) is redirected
// with its Location, as net/http does, and says how to escape the id.
func TestUncleanPathIsRedirected(t *testing.T) {
	hs := newServer(t, api.Config{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(hs.URL + "/v1/customers/.")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 3 || res.Header.Get("Location") != "/v1/customers" || !strings.Contains(string(body), "%2E") {
		t.Fatalf("%d, Location %q: %s", res.StatusCode, res.Header.Get("Location"), body)
	}
}

func TestRoutesMethodsAndMetrics(t *testing.T) {
	hs := newServer(t, api.Config{})
	cases := []struct {
		method, path string
		code         int
		errHas       string
		allow        string
	}{
		{"GET", "/v1/customers/c-7", 200, "", ""},
		{"GET", "/v1/customers/c-404", 404, "unknown customer", ""},
		{"GET", "/v1/nothing", 404, "no such endpoint: /v1/nothing", ""},
		{"DELETE", "/v1/customers/c-7", 405, "method DELETE is not allowed", "GET, HEAD"},
		{"GET", "/v1/customers:batchGet", 405, "method GET is not allowed", "POST"},
		{"OPTIONS", "/v1/customers/c-7", 405, "not allowed", "GET, HEAD"},
		{"GET", "/v1/stats", 503, "statistics are not available", ""},
		{"GET", "/v1/changes", 503, "recent changes are not available", ""},
	}
	for _, tc := range cases {
		code, hdr, doc := testutil.CallJSON(t, tc.method, hs.URL+tc.path, "", "", nil)
		if code != tc.code || !strings.Contains(fmt.Sprint(doc["error"]), tc.errHas) || hdr.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %v (Allow %q), want %d with %q (Allow %q)", tc.method, tc.path, code, doc, hdr.Get("Allow"), tc.code, tc.errHas, tc.allow)
		}
	}
	res, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`ltv_api_requests_total{code="200",route="GET /v1/customers/{id}"} 1`,
		`ltv_api_requests_total{code="404",route="GET /v1/customers/{id}"} 1`,
		`ltv_api_requests_total{code="404",route="unmatched"} 1`,
		`ltv_api_requests_total{code="405",route="unmatched"} 3`,
		`ltv_api_request_duration_seconds_count{code="200",route="GET /v1/customers/{id}"} 1`,
		`ltv_api_request_duration_seconds_bucket{code="200",route="GET /v1/customers/{id}",le="0.0001"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name      string
		origins   []string
		origin    string
		allowed   string // Access-Control-Allow-Origin expected
		preflight int
	}{
		{"off", nil, "https://shop.example.com", "", 405},
		{"listed origin", []string{"https://shop.example.com"}, "https://shop.example.com", "https://shop.example.com", 204},
		{"other origin", []string{"https://shop.example.com"}, "https://evil.example.com", "", 403},
		{"any origin", []string{"*"}, "https://evil.example.com", "*", 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hs := f.server(t, api.Config{CORSOrigins: tc.origins})
			hdr := map[string]string{"Origin": tc.origin}
			_, h, _ := testutil.CallJSON(t, "GET", hs.URL+"/v1/customers/c-7", "", "", hdr)
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.allowed {
				t.Errorf("GET: Access-Control-Allow-Origin %q, want %q", got, tc.allowed)
			}
			hdr["Access-Control-Request-Method"] = "POST"
			code, h, _ := testutil.CallJSON(t, "OPTIONS", hs.URL+"/v1/customers:batchGet", "", "", hdr)
			if code != tc.preflight {
				t.Errorf("preflight status %d, want %d", code, tc.preflight)
			}
			if code == 204 && (h.Get("Access-Control-Allow-Methods") != "GET, POST" || h.Get("Access-Control-Allow-Headers") != "Content-Type") {
				t.Errorf("preflight headers %v", h)
			}
		})
	}
}

func TestDashboardIsServed(t *testing.T) {
	hs := newServer(t, api.Config{})
	cases := []struct{ path, contentType, has string }{
		{"/", "text/html", `<script src="/dashboard/app.js"`},
		{"/dashboard/app.js", "text/javascript", "async function refresh()"},
		{"/dashboard/style.css", "text/css", ".bar-row"},
	}
	for _, tc := range cases {
		res, err := http.Get(hs.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(string(body), tc.has) {
			t.Errorf("%s: %d %q", tc.path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
	if code, _, _ := testutil.CallJSON(t, "GET", hs.URL+"/dashboard/nope.js", "", "", nil); code != 404 {
		t.Errorf("missing asset: %d", code)
	}
}

// TestServeTimeoutsAndShutdown runs Serve on a real listener: a client
// that sends half a request header is cut off after ReadHeaderTimeout,
// and cancelling the context shuts the server down, returning nil.
func TestServeTimeoutsAndShutdown(t *testing.T) {
	ln, cancel, done := serveInBackground(t, api.Config{ReadHeaderTimeout: 300 * time.Millisecond})
	url := "http://" + ln.Addr().String()
	if code, _, _ := testutil.CallJSON(t, "GET", url+"/v1/customers/c-7", "", "", nil); code != 200 {
		t.Fatalf("status %d", code)
	}
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /v1/customers/c-7 HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the slow client was not cut off: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("slow client cut off after %s", took)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

// TestHungRedisIsA503InTime: with Redis frozen (SIGSTOP), every read
// answers 503 within its bound instead of leaving the client to the
// server's write timeout, /healthz within its 2 s.
func TestHungRedisIsA503InTime(t *testing.T) {
	f := newFixture(t)
	client, err := store.NewClient(store.Config{URL: f.redis.URL(), ContextDeadlines: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	hs := f.server(t, api.Config{Redis: client, RedisTimeout: time.Second})
	f.redis.Pause()
	t.Cleanup(f.redis.Resume)
	for _, tc := range []struct {
		name, method, path, body string
		within                   time.Duration
	}{
		{"get", "GET", "/v1/customers/c-7", "", 2 * time.Second},
		{"batch", "POST", "/v1/customers:batchGet", `{"ids":["c-7","c-000042"]}`, 2 * time.Second},
		{"healthz", "GET", "/healthz", "", 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, _, doc := testutil.CallJSON(t, tc.method, hs.URL+tc.path, "application/json", tc.body, nil)
			if took := time.Since(start); code != 503 || took > tc.within {
				t.Fatalf("%d after %s (%v), want 503 within %s", code, took.Round(time.Millisecond), doc, tc.within)
			}
		})
	}
}

// TestShutdownLetsRequestsInFlightFinish: a request whose body is still
// arriving when Serve's context ends is answered in full (a rolling
// deploy must not turn requests into errors), and no new connection is
// accepted.
func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	ln, cancel, done := serveInBackground(t, api.Config{})
	conn, body := startBatchGetBody(t, ln.Addr().String())
	time.Sleep(200 * time.Millisecond) // the request is being read
	cancel()
	time.Sleep(200 * time.Millisecond) // shutdown has begun
	if _, err := conn.Write([]byte(body[5:])); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the request in flight: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(got), `"c-7":{`) {
		t.Fatalf("request in flight answered %d %s", resp.StatusCode, got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// serveInBackground runs Serve over a fresh fixture on a loopback
// listener until cancel is called; done receives Serve's result.
func serveInBackground(t *testing.T, cfg api.Config) (ln net.Listener, cancel context.CancelFunc, done chan error) {
	t.Helper()
	cfg.Redis = newFixture(t).client
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done = make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return ln, cancel, done
}

// TestRedisDownThenBackRecoversByItself: while Redis is down every
// endpoint that reads it answers 503 with a JSON error; once it is back
// (a restart, here with its data written again) the same server answers
// 200 without being restarted, the statistics included (a failed
// computation is not cached).
func TestRedisDownThenBackRecoversByItself(t *testing.T) {
	f := newFixture(t)
	hs := f.server(t, api.Config{Stats: statsProvider(t, f.client), HealthTimeout: time.Second})
	type call struct{ name, method, path, body string }
	calls := []call{
		{"get", "GET", "/v1/customers/c-7", ""},
		{"batch", "POST", "/v1/customers:batchGet", `{"ids":["c-7","nobody"]}`},
		{"stats", "GET", "/v1/stats", ""},
		{"healthz", "GET", "/healthz", ""},
	}
	f.redis.Stop()
	for _, c := range calls {
		code, hdr, doc := testutil.CallJSON(t, c.method, hs.URL+c.path, "application/json", c.body, nil)
		if code != 503 || hdr.Get("Content-Type") != "application/json" || doc["error"] == nil {
			t.Errorf("%s while Redis is down: %d %v, want 503 with a JSON error", c.name, code, doc)
		}
	}
	f.redis.Start()
	if err := f.admin.HSet(context.Background(), store.Key("c-7"), "orders", "11", "tier", "gold").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		code, _, doc := testutil.CallJSON(t, c.method, hs.URL+c.path, "application/json", c.body, nil)
		if code != 200 {
			t.Errorf("%s once Redis is back: %d %v, want 200", c.name, code, doc)
		}
	}
	if code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/stats", "", "", nil); code != 200 || doc["population"] != 1.0 {
		t.Errorf("stats once Redis is back: %d %v, want the one customer written since", code, doc)
	}
}

// TestSlowBodyIsA408: a batchGet body that has not arrived within the
// server's ReadTimeout is answered 408 with a JSON error, and the
// connection is not held open past it.
func TestSlowBodyIsA408(t *testing.T) {
	ln, _, _ := serveInBackground(t, api.Config{ReadTimeout: 500 * time.Millisecond})
	conn, _ := startBatchGetBody(t, ln.Addr().String())
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body that stopped arriving: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(got), "not received in time") {
		t.Fatalf("answered %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %s", took)
	}
}

// slowStats is a StatsSource whose computation takes longer than the
// server may take to write an answer (a large population read in full).
type slowStats struct{ takes time.Duration }

func (s slowStats) Stats(ctx context.Context) (*report.Stats, error) {
	select {
	case <-time.After(s.takes):
		return nil, errors.New("slowStats never finishes in time")
	case <-ctx.Done():
		return nil, fmt.Errorf("stats: %w", ctx.Err())
	}
}

// TestSlowStatsIsA503BeforeTheWriteTimeout: while the statistics take
// longer to compute than the server may take to write an answer, a
// request for them gets a 503 saying so in JSON, in time, instead of a
// connection cut by the write timeout with no answer at all.
func TestSlowStatsIsA503BeforeTheWriteTimeout(t *testing.T) {
	ln, _, _ := serveInBackground(t, api.Config{WriteTimeout: 1500 * time.Millisecond, Stats: slowStats{takes: 4 * time.Second}})
	start := time.Now()
	res, err := http.Get("http://" + ln.Addr().String() + "/v1/stats")
	if err != nil {
		t.Fatalf("no answer after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), "not ready") {
		t.Fatalf("%d %q %s, want a 503 saying the statistics are not ready", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After")
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("answered after %s, past the write timeout", took)
	}
}

// TestShutdownEndsAWaitForStatistics: a GET /v1/stats waiting for a long
// computation when the server is told to stop is answered 503 at once,
// and Serve returns nil within its shutdown time instead of failing
// after it with the request still open (ltvctl serve would exit 1 on
// SIGTERM).
func TestShutdownEndsAWaitForStatistics(t *testing.T) {
	ln, cancel, done := serveInBackground(t, api.Config{Stats: slowStats{takes: time.Minute}, ShutdownTimeout: 2 * time.Second})
	answered := make(chan int, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/v1/stats")
		if err != nil {
			answered <- -1
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		answered <- res.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the request is waiting
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	select {
	case code := <-answered:
		if code != http.StatusServiceUnavailable {
			t.Errorf("the waiting request got %d, want 503", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting request got no answer")
	}
}

// TestStatsNoPermissionIsAClearError: a Redis user that may not list or
// read the customers gets a 500 from /v1/stats saying what to fix, as a
// GET does, not the 503 of a Redis that is down, which suggests waiting.
func TestStatsNoPermissionIsAClearError(t *testing.T) {
	f := newFixture(t)
	c := f.clientWithoutAccess(t)
	hs := f.server(t, api.Config{Redis: c, Stats: statsProvider(t, c)})
	code, _, doc := testutil.CallJSON(t, "GET", hs.URL+"/v1/stats", "", "", nil)
	if code != 500 || !strings.Contains(fmt.Sprint(doc["error"]), "NOPERM") || !strings.Contains(fmt.Sprint(doc["error"]), "ACL user") {
		t.Fatalf("%d %v, want a 500 naming NOPERM and the ACL user", code, doc)
	}
}

// startBatchGetBody opens a connection to the server at addr and sends a
// batchGet request whose body stops after its first 5 bytes; it returns
// the connection (closed when the test ends) and the whole body.
func startBatchGetBody(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	body := `{"ids":["c-7"]}`
	head := fmt.Sprintf("POST /v1/customers:batchGet HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := conn.Write([]byte(head + body[:5])); err != nil {
		t.Fatal(err)
	}
	return conn, body
}
