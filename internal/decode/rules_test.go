package decode

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ltv-stream/ltv-stream/internal/spectest"
)

// readAt is the wall-clock time the records of these tests are read at: a
// day after the SPEC example's occurred_at.
var readAt = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// TestSpecSection2Rules feeds DecodeRecord one record per rule of SPEC §2
// that makes input rejected, and checks the reason names that rule, so an
// operator reading the DLQ `error` header knows which rule a record broke.
func TestSpecSection2Rules(t *testing.T) {
	d := mustDecoder(t, Config{MaxBytes: 4096})
	key := []byte("c-000042")
	cases := []struct {
		rule   string
		key    []byte
		value  string
		field  string
		reason string
	}{
		{"malformed JSON", key, `{"schema":"ltv.order.v1",`, "", "invalid JSON at byte 25: unexpected end of input"},
		{"missing required field", key, order(`"order_id":"o-991",`, ``), "order_id", `missing required field "order_id"`},
		{"required field null", key, order(`"o-991"`, `null`), "order_id", `missing required field "order_id"`},
		{"empty required field", key, order(`"o-991"`, `""`), "order_id", `empty required field "order_id"`},
		{"id of only white space", key, order(`"8f1c-1"`, `" \t\u00a0"`), "event_id", `empty required field "event_id" (only white space)`},
		{"unknown type", key, order(`"order_placed"`, `"order_cancelled"`), "type", `unknown type "order_cancelled"`},
		{"negative amount", key, order(`"499.00"`, `"-1.00"`), "amount", `amount: negative value "-1.00"`},
		{"non-numeric amount", key, order(`"499.00"`, `"ten"`), "amount", `amount: "ten" is not a decimal number`},
		{"margin outside [0,1]", key, order(`"0.40"`, `"1.01"`), "gross_margin", "gross_margin: 1.01 is outside [0,1]"},
		{"wrong currency", key, order(`"SEK"`, `"USD"`), "currency", `currency "USD" is not the base currency "SEK"`},
		{"oversized message", key, order(`"channel"`, `"pad":"`+strings.Repeat("x", 5000)+`","channel"`), "", "value of 5238 bytes exceeds the 4096-byte limit"},
		{"invalid UTF-8", key, order(`c-000042`, "c-\xff"), "", "invalid UTF-8 at byte"},
		{"timestamp not RFC 3339", key, order(`2026-03-01T12:00:00Z`, `01/03/2026 12:00`), "occurred_at", `occurred_at: "01/03/2026 12:00" is not RFC 3339`},
		{"key is not customer_id", []byte("c-000043"), spectest.Placed, "key", `record key "c-000043" is not the event's customer_id "c-000042"`},
		{"missing key", nil, spectest.Placed, "key", `record has no key; the key must be the event's customer_id "c-000042"`},
		{"empty key", []byte{}, spectest.Placed, "key", `record key is empty; the key must be the event's customer_id "c-000042"`},
		{"key differs only in case", []byte("C-000042"), spectest.Placed, "key", "is not the event's customer_id"},
		{"occurred_at too far in the future", key, order(`2026-03-01T12:00:00Z`, `2027-03-01T12:00:00Z`), "occurred_at",
			"occurred_at 2027-03-01T12:00:00Z is more than 24h0m0s (max_future_skew) after the time the record was read, 2026-03-02T12:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			ev, err := d.DecodeRecord(tc.key, []byte(tc.value), readAt)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("got event %+v, error %v; want an *Error", ev, err)
			}
			if de.Field != tc.field || !strings.Contains(de.Reason, tc.reason) {
				t.Fatalf("got field %q reason %q\nwant field %q, reason containing %q", de.Field, de.Reason, tc.field, tc.reason)
			}
		})
	}
}

// TestNullAndEmptyValuesHaveTheirOwnReasons: Kafka tells a null value (a
// tombstone) from an empty one, the DLQ keeps them apart, and so does the
// reason in its error header.
func TestNullAndEmptyValuesHaveTheirOwnReasons(t *testing.T) {
	d := mustDecoder(t, Config{})
	cases := []struct {
		name   string
		value  []byte
		reason string
	}{
		{"null value", nil, "null value (a tombstone); the value must be a JSON object"},
		{"empty value", []byte{}, "empty value"},
		{"only white space", []byte(" \n"), "empty value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.DecodeRecord([]byte("c-000042"), tc.value, readAt)
			var de *Error
			if !errors.As(err, &de) || de.Reason != tc.reason || de.Field != "" {
				t.Fatalf("got %v, want the reason %q", err, tc.reason)
			}
		})
	}
}

func TestDecodeRecordFutureSkew(t *testing.T) {
	occurred := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // spectest.Placed
	key := []byte("c-000042")
	cases := []struct {
		name   string
		skew   time.Duration
		readAt time.Time
		ok     bool
	}{
		{"read after the event", 0, occurred.Add(time.Hour), true},
		{"exactly the default skew ahead", 0, occurred.Add(-24 * time.Hour), true},
		{"a nanosecond beyond the default skew", 0, occurred.Add(-24*time.Hour - time.Nanosecond), false},
		{"configured one minute: inside", time.Minute, occurred.Add(-time.Minute), true},
		{"configured one minute: beyond", time.Minute, occurred.Add(-time.Minute - time.Second), false},
		{"check off", -1, occurred.AddDate(-100, 0, 0), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDecoder(t, Config{MaxFutureSkew: tc.skew})
			ev, err := d.DecodeRecord(key, []byte(spectest.Placed), tc.readAt)
			if tc.ok {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				assertEvent(t, ev, placed())
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Field != "occurred_at" || !strings.Contains(de.Reason, "max_future_skew") {
				t.Fatalf("got %v, want an occurred_at max_future_skew error", err)
			}
		})
	}
}

// TestDecodeRecordChecksTheValueFirst: a record with a bad value and a bad
// key is refused for its value, the more specific reason.
func TestDecodeRecordChecksTheValueFirst(t *testing.T) {
	d := mustDecoder(t, Config{})
	_, err := d.DecodeRecord(nil, []byte(order(`"SEK"`, `"EUR"`)), readAt)
	var de *Error
	if !errors.As(err, &de) || de.Field != "currency" {
		t.Fatalf("got %v, want the currency error", err)
	}
}

func TestEventTimeAgreesWithDecode(t *testing.T) {
	d := mustDecoder(t, Config{})
	for _, in := range []string{spectest.Placed, spectest.Refunded, spectest.Churned,
		order(`2026-03-01T12:00:00Z`, `2026-02-28T23:00:00.5-13:00`),
		" " + strings.Replace(spectest.Churned, `"occurred_at":"2026-09-01T00:00:00Z"`, "\n \"occurred_at\" :\t\"2016-12-31T23:59:60Z\"", 1),
		// The event's own occurred_at, not one nested in an unknown field
		// before it, nor a string value that reads "occurred_at", nor a
		// key written with an escape (the merge ordered such records by
		// the wrong time, or by none).
		`{"meta":{"occurred_at":"2001-01-01T00:00:00Z"},` + spectest.Churned[1:],
		`{"trace":[{"occurred_at":"2001-01-01T00:00:00Z"}],` + spectest.Churned[1:],
		`{"note":"occurred_at",` + spectest.Churned[1:],
		`{"note":"a{b[c",` + spectest.Churned[1:],
		strings.Replace(spectest.Churned, `"occurred_at"`, `"occurred\u005fat"`, 1),
		// A key that ends in an escaped quote and "occurred_at": the byte
		// search finds `"occurred_at":` inside it.
		`{"a\"occurred_at":"2001-01-01T00:00:00Z",` + spectest.Churned[1:],
		`{"note":"\\","x\"occurred_at":"2001-01-01T00:00:00Z",` + spectest.Churned[1:],
	} {
		want, err := d.Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: the case is not a valid event: %v", in, err)
		}
		got, ok := EventTime([]byte(in))
		if !ok || !got.Equal(want.OccurredAt) {
			t.Errorf("%s: EventTime %v %v, Decode %v", in, got, ok, want.OccurredAt)
		}
	}
	for _, in := range []string{``, `{}`, `{"occurred_at":5}`, `{"occurred_at":"yesterday"}`, `{"occurred_at":"2026`} {
		if _, ok := EventTime([]byte(in)); ok {
			t.Errorf("%q: a time was found", in)
		}
	}
}

// TestCheckCustomerIDAgreesWithTheDecoder checks that an id the read API
// refuses is exactly one an input event could not carry: each id is tried
// both ways, and both must accept it or both refuse it.
func TestCheckCustomerIDAgreesWithTheDecoder(t *testing.T) {
	d := mustDecoder(t, Config{})
	cases := []struct {
		id     string
		ok     bool
		reason string
	}{
		{"c-000042", true, ""},
		{"kund/åäö 42", true, ""},
		{"a}b", true, ""},
		{strings.Repeat("x", MaxIDBytes), true, ""},
		{"", false, "empty customer_id"},
		{" \t\u00a0", false, "only white space"},
		{strings.Repeat("x", MaxIDBytes+1), false, "longer than 256 bytes"},
		{"c-\x01", false, "control character"},
		{"c-\x7f", false, "control character"},
		{"c-\u0085x", false, "control character"},
		{"c-\u009b", false, "control character"},
		{"c-\u00a0x", true, ""},
		{"}c", false, "hash tag"},
		{"c-\xff", false, "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(strconv.Quote(tc.id), func(t *testing.T) {
			err := CheckCustomerID(tc.id)
			if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.reason)) {
				t.Fatalf("CheckCustomerID = %v, want ok=%v or a reason with %q", err, tc.ok, tc.reason)
			}
			doc, jerr := json.Marshal(tc.id)
			if jerr != nil {
				t.Fatal(jerr)
			}
			if !utf8.ValidString(tc.id) { // Marshal would replace the bad bytes
				doc = []byte(`"` + tc.id + `"`)
			}
			_, derr := d.DecodeRecord([]byte(tc.id), []byte(order(`"c-000042"`, string(doc))), readAt)
			if (derr == nil) != tc.ok {
				t.Fatalf("the decoder says %v for this customer_id, CheckCustomerID %v", derr, err)
			}
		})
	}
}
