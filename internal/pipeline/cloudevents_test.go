package pipeline_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

func pairs(hs []pipeline.Header) [][2]string {
	out := make([][2]string, len(hs))
	for i, h := range hs {
		out[i] = [2]string{h.Key, string(h.Value)}
	}
	return out
}

// awkward ids: quotes, backslashes, the keys the scan looks for, HTML
// characters, control characters and non-ASCII text, in customer ids and
// causes alike.
var awkward = []string{
	"c-000042",
	`c-"quoted"`,
	`c-\back\slash\`,
	`c-","occurred_at":"1999-01-01T00:00:00Z","emitted_at":"x`,
	`","emitted_at":"`,
	"c-<&>",
	"c-\x01\n\t",
	"kund-åäö-顧客",
	strings.Repeat("x", 300),
}

// sameAttrs compares the in-place reading of a document with its JSON
// parse ("" when they agree and both succeed).
func sameAttrs(doc []byte) string {
	ft, fi, fm, ok1 := pipeline.CEAttrs(doc, false)
	st, si, sm, ok2 := pipeline.CEAttrs(doc, true)
	if !ok1 || !ok2 || !bytes.Equal(ft, st) || !bytes.Equal(fi, si) || !bytes.Equal(fm, sm) {
		return fmt.Sprintf("%s: in place %q %q %q (%v), parsed %q %q %q (%v)", doc, ft, fi, fm, ok1, st, si, sm, ok2)
	}
	return ""
}

func TestCEHeadersAgreeWithTheDocument(t *testing.T) {
	emitted := time.Date(2026, 3, 1, 12, 0, 0, 512_000_000, time.UTC)
	source := []byte(pipeline.DefaultEventSource)
	type doc struct {
		name     string
		customer string
		value    []byte
		wantType string
	}
	var docs []doc
	for _, id := range awkward {
		for _, at := range []time.Time{
			time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.FixedZone("x", 3600)),
		} {
			c := aggregate.Change{CustomerID: id, PreviousTier: "silver", Tier: "gold", Up: true,
				LTV: money.MustParse("5230.10"), Orders: 10, CausedBy: id + "-cause", OccurredAt: at}
			docs = append(docs, doc{"change " + id, id, c.AppendJSON(nil, emitted), aggregate.SchemaChange})
			s := aggregate.SegmentChange{CustomerID: id, Previous: "active", Segment: "at_risk", Orders: 7,
				LastOrderAt: at.Add(-90 * 24 * time.Hour), Tier: "gold", ByTimer: true, OccurredAt: at}
			docs = append(docs, doc{"segment " + id, id, s.AppendJSON(nil, emitted), aggregate.SchemaSegment})
		}
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			hs, ok := pipeline.CEHeaders(nil, d.value, []byte(d.customer), source)
			if !ok {
				t.Fatalf("no headers for %s", d.value)
			}
			h, err := testutil.CheckCloudEvent(pairs(hs), []byte(d.customer), d.value, pipeline.DefaultEventSource)
			if err != nil {
				t.Fatalf("%v\n%s", err, d.value)
			}
			if h["ce_type"] != d.wantType {
				t.Fatalf("ce_type %q, want %q", h["ce_type"], d.wantType)
			}
			// The in-place reading and the JSON parse give the same.
			if err := sameAttrs(d.value); err != "" {
				t.Fatal(err)
			}
		})
	}
}

// Random ids of bytes the scan cares about: the in-place reading never
// disagrees with a JSON parse.
func TestCEAttrsInPlaceMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`"\,:{}abc_-` + "\x00\x1f")
	randID := func() string {
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for i := 0; i < 2000; i++ {
		at := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2)))
		c := aggregate.Change{CustomerID: randID(), Tier: "bronze", Up: true, CausedBy: randID(), OccurredAt: at}
		value := c.AppendJSON(nil, at.Add(time.Hour))
		if err := sameAttrs(value); err != "" {
			t.Fatal(err)
		}
	}
}

func TestCEHeadersOfOtherDocuments(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		ok       bool
		wantID   string
		wantTime string
	}{
		{"fields in another order", `{"occurred_at":"2026-03-01T12:00:00Z","event_id":"e-1","schema":"ltv.change.v1","customer_id":"c"}`, true, "e-1", "2026-03-01T12:00:00Z"},
		{"short id", `{"schema":"ltv.change.v1","event_id":"e-2","customer_id":"c","occurred_at":"2026-03-01T12:00:00Z","emitted_at":"2026-03-01T12:00:01Z"}`, true, "e-2", "2026-03-01T12:00:00Z"},
		{"no occurred_at", `{"schema":"ltv.change.v1","event_id":"e-3"}`, false, "", ""},
		{"time not RFC 3339", `{"schema":"ltv.change.v1","event_id":"e-4","occurred_at":"yesterday"}`, false, "", ""},
		{"no schema", `{"event_id":"e-5","occurred_at":"2026-03-01T12:00:00Z"}`, false, "", ""},
		{"not JSON", `{"schema":"ltv.change.v1","event_id":"`, false, "", ""},
		{"empty", ``, false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []pipeline.Header{{Key: "before", Value: []byte("x")}}
			hs, ok := pipeline.CEHeaders(dst, []byte(c.doc), []byte("c"), []byte("/s"))
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				if len(hs) != 1 {
					t.Fatalf("headers added for a document without attributes: %v", hs)
				}
				return
			}
			got := map[string]string{}
			for _, h := range hs {
				got[h.Key] = string(h.Value)
			}
			if got[pipeline.HeaderCEID] != c.wantID || got[pipeline.HeaderCETime] != c.wantTime || got["before"] != "x" || len(hs) != 1+pipeline.CEHeaderCount {
				t.Fatalf("headers %v", got)
			}
		})
	}
}

func TestEventSource(t *testing.T) {
	for group, want := range map[string]string{
		"ltv-updater":     "/ltv-stream/ltv-updater",
		"team a/updater":  "/ltv-stream/team%20a%2Fupdater",
		"grupp-å":         "/ltv-stream/grupp-%C3%A5",
		`"<quoted>"{|}^\`: "/ltv-stream/%22%3Cquoted%3E%22%7B%7C%7D%5E%5C",
	} {
		got := pipeline.EventSourceFor(group)
		if got != want {
			t.Errorf("pipeline.EventSourceFor(%q) = %q, want %q", group, got, want)
		}
		if err := pipeline.ValidateEventSource(got); err != nil {
			t.Errorf("pipeline.EventSourceFor(%q) is refused: %v", group, err)
		}
	}
	for s, ok := range map[string]bool{
		"/ltv-stream/ltv-updater":              true,
		"https://ltv.example.com/updater/eu-1": true,
		"urn:ltv:updater:eu-1":                 true,
		"":                                     false,
		"/with space":                          false,
		"/tab\t":                               false,
		"/quote\"":                             false,
		"/åäö":                                 false,
		"http://[::1":                          false,
	} {
		if err := pipeline.ValidateEventSource(s); (err == nil) != ok {
			t.Errorf("pipeline.ValidateEventSource(%q) = %v, want ok %v", s, err, ok)
		}
	}
}

// BenchmarkCEHeaders is the cost the CloudEvents headers add to each
// published change event (compare BenchmarkAppendJSON in
// internal/aggregate: building the document itself).
func BenchmarkCEHeaders(b *testing.B) {
	c := aggregate.Change{CustomerID: "c-000042", PreviousTier: "silver", Tier: "gold", Up: true,
		LTV: money.MustParse("5230.10"), Orders: 10, CausedBy: "8f1c4a2e-0b7d-4c51-9a3e-1d2f3a4b5c6d",
		OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	doc := c.AppendJSON(nil, time.Now())
	key, source := []byte(c.CustomerID), []byte(pipeline.DefaultEventSource)
	dst := make([]pipeline.Header, 0, pipeline.CEHeaderCount)
	b.ReportAllocs()
	for b.Loop() {
		var ok bool
		if dst, ok = pipeline.CEHeaders(dst[:0], doc, key, source); !ok {
			b.Fatal("no headers")
		}
	}
}

// ceOf checks a published message's CloudEvents headers against its body
// and returns them.
func ceOf(t *testing.T, m pipeline.Message, source string) map[string]string {
	t.Helper()
	h, err := testutil.CheckCloudEvent(pairs(m.Headers), m.Key, m.Value, source)
	if err != nil {
		t.Fatalf("%s message %s: %v", m.Topic, m.Value, err)
	}
	return h
}

// A change event's first publication fails (as a crash between the Redis
// write and the produce would leave it); its re-emission, an hour of wall
// clock later, carries exactly the headers of the first attempt. Dead
// letters carry no CloudEvents headers. The source is the configured one.
func TestProcessPublishesCloudEventsAndReemitsTheSameHeaders(t *testing.T) {
	const source = "https://ltv.example.com/updater/eu-1"
	clock := &manualClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	p, pub, _ := setupConfig(t, func(c *pipeline.Config) { c.Now, c.EventSource = clock.Now, source })
	batch := []pipeline.Record{
		orderRec(0, "e1", `c-"5"`, "6000.00", "2026-01-01T00:00:00.25Z"),
		{Topic: "orders", Partition: 0, Offset: 1, Key: []byte("c-x"), Value: []byte(`{not json`)},
	}
	pub.fail = errors.New("broker down")
	if _, err := p.Process(ctxT(t), batch); err == nil {
		t.Fatal("publish failure not reported")
	}
	pub.fail = nil
	clock.Advance(time.Hour)
	if _, err := p.Process(ctxT(t), batch); err != nil {
		t.Fatal(err)
	}
	if len(pub.attempts) != 2 {
		t.Fatalf("%d publish attempts, want 2", len(pub.attempts))
	}
	first := map[string]map[string]string{} // ce_id → headers
	types := map[string]int{}
	for i, attempt := range pub.attempts {
		events := 0
		for _, m := range attempt {
			if m.Topic == "ltv-dlq" {
				for _, h := range m.Headers {
					if strings.HasPrefix(h.Key, "ce_") || h.Key == pipeline.HeaderContentType {
						t.Fatalf("dead letter with header %s", h.Key)
					}
				}
				continue
			}
			events++
			h := ceOf(t, m, source)
			if h["ce_time"] != "2026-01-01T00:00:00.25Z" || h["ce_subject"] != `c-"5"` {
				t.Fatalf("ce_time %q, ce_subject %q", h["ce_time"], h["ce_subject"])
			}
			if i == 0 {
				first[h["ce_id"]] = h
				types[h["ce_type"]]++
				continue
			}
			if diff := testutil.SameHeaders(first[h["ce_id"]], h); diff != "" {
				t.Fatalf("re-emitted %s with other headers: %s", h["ce_id"], diff)
			}
		}
		if events != 2 {
			t.Fatalf("attempt %d published %d change events, want 2 (tier and segment)", i+1, events)
		}
	}
	if types[aggregate.SchemaChange] != 1 || types[aggregate.SchemaSegment] != 1 {
		t.Fatalf("ce_type counts %v", types)
	}
}

func TestProcessorRefusesABadEventSource(t *testing.T) {
	_, _, _, err := newProcessor(t, func(c *pipeline.Config) { c.EventSource = "not a uri" })
	if err == nil || !strings.Contains(err.Error(), "event source") {
		t.Fatalf("got %v", err)
	}
}
