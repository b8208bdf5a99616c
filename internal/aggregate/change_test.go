package aggregate_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// uuidV8 is the shape of a change event id: RFC 9562 layout, version 8,
// variant 10xx.
var uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// specChange is the example of SPEC §5.
func specChange() aggregate.Change {
	return aggregate.Change{
		CustomerID:   "c-000042",
		PreviousTier: "silver",
		Tier:         "gold",
		Up:           true,
		LTV:          d("5230.1"),
		PreviousLTV:  d("4990"),
		AOV:          d("523.01"),
		Frequency:    d("4"),
		Orders:       10,
		Churned:      false,
		CausedBy:     "8f1c-0001",
		// 14:00 at +02:00 is 12:00Z; the event must say so in UTC.
		OccurredAt: time.Date(2026, 3, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
	}
}

func TestChangeEventID(t *testing.T) {
	base := specChange()
	// Golden value, computed outside Go: the first 16 bytes of
	// SHA-256("ltv.change.v1\x00c-000042\x008f1c-0001") with the version
	// and variant bits set. Pinned so that a refactor cannot silently change
	// the ids of re-emitted events.
	const golden = "d446899a-6240-8b39-bdaf-e219f8f7a325"
	if got := base.EventID(); got != golden {
		t.Errorf("EventID() = %s, want %s", got, golden)
	}
	if first, again := base.EventID(), base.EventID(); first != again {
		t.Fatal("EventID not deterministic")
	}

	// Ids too long for the hash input's stack buffer take the heap path;
	// the id must be the same construction: compare with one built here
	// from the definition (length-prefixed parts, SHA-256, version and
	// variant bits), and check the JSON carries that same id.
	long := base
	long.CustomerID, long.CausedBy = strings.Repeat("c", 300), strings.Repeat("é", 200)
	if got, want := long.EventID(), referenceEventID(long.CustomerID, long.CausedBy); got != want {
		t.Errorf("long ids: EventID() = %s, want %s", got, want)
	}
	var doc struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(long.AppendJSON(nil, time.Unix(0, 0)), &doc); err != nil || doc.EventID != long.EventID() {
		t.Errorf("long ids: JSON event_id %q (%v), want %s", doc.EventID, err, long.EventID())
	}

	// Only (customer, caused_by) name the change.
	same := base
	same.PreviousTier, same.Tier, same.Up = "gold", "silver", false
	same.LTV, same.PreviousLTV, same.AOV, same.Frequency = d("1"), d("2"), d("3"), d("4")
	same.Orders, same.Churned = 99, true
	same.OccurredAt = base.OccurredAt.Add(time.Hour)
	if same.EventID() != base.EventID() {
		t.Errorf("EventID depends on fields other than customer and cause")
	}

	rows := []struct {
		name             string
		c1, b1, c2, b2   string
		wantDifferentIDs bool
	}{
		{"same pair", "c-1", "e-1", "c-1", "e-1", false},
		{"customer differs", "c-1", "e-1", "c-2", "e-1", true},
		{"cause differs", "c-1", "e-1", "c-1", "e-2", true},
		{"both differ", "c-1", "e-1", "c-2", "e-2", true},
		{"swapped", "a", "b", "b", "a", true},
		{"boundary shifted", "ab", "c", "a", "bc", true},
		{"empty cause vs empty customer", "x", "", "", "x", true},
		{"case differs", "c-1", "e-1", "C-1", "e-1", true},
		// NUL is valid UTF-8 and valid in a JSON string (\u0000), so the
		// decoder can hand such ids over; the 0x00 separator then makes the
		// pair ambiguous.
		{"NUL inside ids shifts the boundary", "a\x00b", "c", "a", "b\x00c", true},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			x := aggregate.Change{CustomerID: r.c1, CausedBy: r.b1}
			y := aggregate.Change{CustomerID: r.c2, CausedBy: r.b2}
			idx, idy := x.EventID(), y.EventID()
			for _, id := range []string{idx, idy} {
				if !uuidV8.MatchString(id) {
					t.Errorf("%q is not UUID-shaped (v8)", id)
				}
			}
			if (idx != idy) != r.wantDifferentIDs {
				t.Errorf("(%q,%q)=%s (%q,%q)=%s: different=%v, want %v",
					r.c1, r.b1, idx, r.c2, r.b2, idy, idx != idy, r.wantDifferentIDs)
			}
		})
	}

	// Many pairs: all UUID-shaped, no collisions.
	seen := map[string][2]string{}
	for c := 0; c < 50; c++ {
		for e := 0; e < 50; e++ {
			ch := aggregate.Change{CustomerID: fmt.Sprintf("c-%06d", c), CausedBy: fmt.Sprintf("e-%d", e)}
			id := ch.EventID()
			if !uuidV8.MatchString(id) {
				t.Fatalf("%q is not UUID-shaped", id)
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("collision: %v and %s/%s", prev, ch.CustomerID, ch.CausedBy)
			}
			seen[id] = [2]string{ch.CustomerID, ch.CausedBy}
		}
	}
}

// decodeChange parses an ltv.change.v1 document, keeping numbers exact.
func decodeChange(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	return m
}

var (
	money2     = regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`)
	rate4      = regexp.MustCompile(`^-?[0-9]+\.[0-9]{4}$`)
	rfc3339UTC = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$`)
)

func TestAppendJSONSpecExample(t *testing.T) {
	c := specChange()
	emitted := time.Date(2026, 3, 1, 12, 0, 5, 123000000, time.UTC)
	b := c.AppendJSON(nil, emitted)
	m := decodeChange(t, b)

	wantKeys := []string{"aov", "caused_by", "churned", "customer_id", "direction", "emitted_at", "event_id",
		"frequency", "ltv", "occurred_at", "orders", "previous_ltv", "previous_tier", "schema", "tier"}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("keys %v, want %v", keys, wantKeys)
	}

	wantStrings := map[string]string{
		"schema":        "ltv.change.v1",
		"event_id":      "d446899a-6240-8b39-bdaf-e219f8f7a325",
		"customer_id":   "c-000042",
		"previous_tier": "silver",
		"tier":          "gold",
		"direction":     "up",
		"ltv":           "5230.10",
		"previous_ltv":  "4990.00",
		"aov":           "523.01",
		"frequency":     "4.0000",
		"caused_by":     "8f1c-0001",
		"occurred_at":   "2026-03-01T12:00:00Z",
		"emitted_at":    "2026-03-01T12:00:05.123Z",
	}
	for k, want := range wantStrings {
		got, ok := m[k].(string)
		if !ok {
			t.Errorf("%s is %T, want a JSON string", k, m[k])
			continue
		}
		if got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"ltv", "previous_ltv", "aov"} {
		if s, _ := m[k].(string); !money2.MatchString(s) {
			t.Errorf("%s = %q is not a 2-place decimal string", k, s)
		}
	}
	if s, _ := m["frequency"].(string); !rate4.MatchString(s) {
		t.Errorf("frequency = %q is not a 4-place decimal string", s)
	}
	for _, k := range []string{"occurred_at", "emitted_at"} {
		s, _ := m[k].(string)
		if !rfc3339UTC.MatchString(s) {
			t.Errorf("%s = %q is not RFC 3339 UTC", k, s)
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %q: %v", k, s, err)
		}
	}
	if n, ok := m["orders"].(json.Number); !ok || n.String() != "10" {
		t.Errorf("orders = %#v, want the JSON integer 10", m["orders"])
	}
	if v, ok := m["churned"].(bool); !ok || v {
		t.Errorf("churned = %#v, want false", m["churned"])
	}
	if m["event_id"] != c.EventID() {
		t.Errorf("event_id in JSON differs from EventID()")
	}
}

func TestAppendJSONFields(t *testing.T) {
	rows := []struct {
		name   string
		edit   func(c *aggregate.Change)
		key    string
		want   any
		rawHas string // substring the raw bytes must contain ("" = skip)
	}{
		{"direction down", func(c *aggregate.Change) { c.Up = false }, "direction", "down", `"direction":"down"`},
		{"first assignment from empty tier", func(c *aggregate.Change) { c.PreviousTier = ""; c.PreviousLTV = d("0") },
			"previous_tier", "", `"previous_tier":""`},
		{"previous_ltv zero value", func(c *aggregate.Change) { c.PreviousLTV = aggregate.Change{}.PreviousLTV },
			"previous_ltv", "0.00", ""},
		{"demotion to no tier", func(c *aggregate.Change) { c.Tier = ""; c.Up = false }, "tier", "", `"tier":""`},
		{"churned true", func(c *aggregate.Change) { c.Churned = true }, "churned", true, `"churned":true`},
		{"orders 0", func(c *aggregate.Change) { c.Orders = 0 }, "orders", json.Number("0"), `"orders":0,`},
		{"orders large", func(c *aggregate.Change) { c.Orders = 1 << 40 }, "orders", json.Number("1099511627776"), ""},
		{"ltv zero", func(c *aggregate.Change) { c.LTV = d("0") }, "ltv", "0.00", ""},
		{"ltv large", func(c *aggregate.Change) { c.LTV = d("123456789012.5") }, "ltv", "123456789012.50", ""},
		{"ltv already 2 places", func(c *aggregate.Change) { c.LTV = d("0.01") }, "ltv", "0.01", ""},
		{"aov negative", func(c *aggregate.Change) { c.AOV = d("-50") }, "aov", "-50.00", ""},
		{"frequency fraction", func(c *aggregate.Change) { c.Frequency = d("1.9724") }, "frequency", "1.9724", ""},
		{"frequency zero", func(c *aggregate.Change) { c.Frequency = d("0") }, "frequency", "0.0000", ""},
		{"occurred_at with nanoseconds", func(c *aggregate.Change) {
			c.OccurredAt = time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
		}, "occurred_at", "2026-03-01T12:00:00.0000005Z", ""},
		{"occurred_at west of UTC", func(c *aggregate.Change) {
			c.OccurredAt = time.Date(2026, 2, 28, 21, 30, 0, 0, time.FixedZone("", -(14*3600+30*60)))
		}, "occurred_at", "2026-03-01T12:00:00Z", ""},
	}
	emitted := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := specChange()
			r.edit(&c)
			b := c.AppendJSON(nil, emitted)
			m := decodeChange(t, b)
			if m[r.key] != r.want {
				t.Errorf("%s = %#v, want %#v", r.key, m[r.key], r.want)
			}
			if r.rawHas != "" && !bytes.Contains(b, []byte(r.rawHas)) {
				t.Errorf("raw JSON lacks %s: %s", r.rawHas, b)
			}
		})
	}
}

// TestAppendJSONEscaping: ids and tier names are arbitrary UTF-8 and must
// come back unchanged through a JSON decoder.
func TestAppendJSONEscaping(t *testing.T) {
	ids := []string{
		`plain`,
		`quo"te`,
		`back\slash`,
		`"\"`,
		"new\nline",
		"cr\rlf",
		"tab\there",
		"nul\x00byte",
		"ctl\x01\x08\x0c\x1b\x1f",
		"del\x7f",
		`<script>alert("x")</script>&amp;`,
		"åäö 日本 🎉",
		"\u2028\u2029",
		"",
	}
	emitted := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	for _, id := range ids {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			c := specChange()
			c.CustomerID, c.CausedBy, c.Tier, c.PreviousTier = id, id+"-cause", id+"-tier", id+"-prev"
			b := c.AppendJSON(nil, emitted)
			m := decodeChange(t, b)
			for k, want := range map[string]string{
				"customer_id": id, "caused_by": id + "-cause", "tier": id + "-tier", "previous_tier": id + "-prev",
			} {
				if m[k] != want {
					t.Errorf("%s = %q, want %q", k, m[k], want)
				}
			}
			for i, ch := range b {
				if ch < 0x20 {
					t.Errorf("raw control byte 0x%02x at %d", ch, i)
				}
			}
			if bytes.ContainsAny(b, "<>&") {
				t.Errorf("HTML-significant byte not escaped: %s", b)
			}
			if m["event_id"] != c.EventID() {
				t.Errorf("event_id mismatch")
			}
		})
	}
}

// TestAppendJSONAppends: the document is appended after existing bytes,
// and encoding twice gives identical bytes (re-emission is byte-identical).
func TestAppendJSONAppends(t *testing.T) {
	c := specChange()
	emitted := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	one := c.AppendJSON(nil, emitted)
	two := c.AppendJSON(nil, emitted)
	if !bytes.Equal(one, two) {
		t.Fatalf("not byte-identical:\n%s\n%s", one, two)
	}
	prefix := []byte("PREFIX")
	buf := make([]byte, len(prefix), len(prefix)+3)
	copy(buf, prefix)
	out := c.AppendJSON(buf, emitted)
	if !bytes.HasPrefix(out, prefix) || !bytes.Equal(out[len(prefix):], one) {
		t.Fatalf("AppendJSON did not append: %s", out)
	}
	big := make([]byte, 0, 4096)
	if out := c.AppendJSON(big, emitted); !bytes.Equal(out, one) {
		t.Fatalf("result depends on dst capacity")
	}
	if c.Direction() != "up" {
		t.Errorf("Direction() = %q", c.Direction())
	}
	c.Up = false
	if c.Direction() != "down" {
		t.Errorf("Direction() = %q", c.Direction())
	}
}

func TestTimeText(t *testing.T) {
	rows := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "2026-03-01T12:00:00Z"},
		{time.Date(2026, 3, 1, 13, 0, 0, 0, time.FixedZone("", 3600)), "2026-03-01T12:00:00Z"},
		{time.Date(2026, 3, 1, 12, 0, 0, 120000000, time.UTC), "2026-03-01T12:00:00.12Z"},
		{time.Date(2026, 3, 1, 12, 0, 0, 1, time.UTC), "2026-03-01T12:00:00.000000001Z"},
		{time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)), "2025-12-31T23:30:00Z"},
	}
	for _, r := range rows {
		if got := aggregate.TimeText(r.in); got != r.want {
			t.Errorf("TimeText(%v) = %s, want %s", r.in, got, r.want)
		}
	}
}

// referenceEventID is the event id construction written out plainly.
func referenceEventID(customerID, causedBy string) string {
	var in []byte
	for _, part := range []string{aggregate.SchemaChange, customerID, causedBy} {
		in = binary.AppendUvarint(in, uint64(len(part)))
		in = append(in, part...)
	}
	sum := sha256.Sum256(in)
	sum[6] = sum[6]&0x0f | 0x80
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// TestInputCauseNeverSharesATimersEventID: an input event_id may itself
// read "timer:<time>" (SPEC §2 allows any non-blank id), yet the change it
// causes and the change the customer's timer due at that time causes are
// two different events, so their event_ids must differ: a subscriber that
// drops copies by event_id (SPEC §5) would otherwise drop a real change
// and see the customer's chain broken.
func TestInputCauseNeverSharesATimersEventID(t *testing.T) {
	due := time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)
	spoof := aggregate.TimerCause(due)
	rows := []struct {
		name          string
		timer, spoofd string
	}{
		{"ltv.change.v1",
			(&aggregate.Change{CustomerID: "c-x", ByTimer: true, OccurredAt: due}).EventID(),
			(&aggregate.Change{CustomerID: "c-x", CausedBy: spoof, OccurredAt: due.AddDate(0, -2, 0)}).EventID()},
		{"ltv.segment.v1",
			(&aggregate.SegmentChange{CustomerID: "c-x", ByTimer: true, OccurredAt: due}).EventID(),
			(&aggregate.SegmentChange{CustomerID: "c-x", CausedBy: spoof, OccurredAt: due.AddDate(0, -2, 0)}).EventID()},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.timer == r.spoofd {
				t.Errorf("the timer due at %s and the input event %q give the same event_id %s", due.Format(time.RFC3339), spoof, r.timer)
			}
			for _, id := range []string{r.timer, r.spoofd} {
				if !uuidV8.MatchString(id) {
					t.Errorf("%q is not UUID-shaped (v8)", id)
				}
			}
		})
	}
	// Ids of ordinary input causes do not change: the golden id of
	// TestChangeEventID still holds, and so does the plain construction.
	plain := aggregate.Change{CustomerID: "c-1", CausedBy: "e-1"}
	if got, want := plain.EventID(), referenceEventID("c-1", "e-1"); got != want {
		t.Errorf("EventID() = %s, want %s", got, want)
	}
}
