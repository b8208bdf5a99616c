package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/shopspring/decimal"
)

func mustDecoder(t testing.TB, cfg Config) *Decoder {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dec(s string) money.Exact { return money.FromDecimal(rate(s)) }

// rate parses an FX rate: configuration, a shopspring decimal.
func rate(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

// order builds an order_placed document from the SPEC example with the
// given "old", "new" replacements applied.
func order(replace ...string) string { return strings.NewReplacer(replace...).Replace(spectest.Placed) }

// placed is the event spectest.Placed decodes to.
func placed() aggregate.Event {
	return aggregate.Event{Kind: aggregate.OrderPlaced, EventID: "8f1c-1", CustomerID: "c-000042",
		OrderID: "o-991", Amount: dec("499.00"), Margin: dec("0.40"), HasMargin: true, Currency: "SEK",
		OccurredAt: utc(2026, 3, 1, 12, 0, 0, 0), Channel: "paid_search"}
}

func TestDecodeAccepts(t *testing.T) {
	d := mustDecoder(t, Config{})
	with := func(f func(*aggregate.Event)) aggregate.Event {
		ev := placed()
		f(&ev)
		return ev
	}
	cases := []struct {
		name string
		in   string
		want aggregate.Event
	}{
		{"spec order_placed", spectest.Placed, placed()},
		{"spec order_refunded", spectest.Refunded, aggregate.Event{Kind: aggregate.OrderRefunded, EventID: "8f1c-2",
			CustomerID: "c-000042", OrderID: "o-991", Amount: dec("120"), Margin: dec("0.4"), HasMargin: true,
			Currency: "SEK", OccurredAt: utc(2026, 3, 9, 8, 0, 0, 0)}},
		{"spec customer_churned", spectest.Churned, aggregate.Event{Kind: aggregate.CustomerChurned, EventID: "8f1c-3",
			CustomerID: "c-000042", OccurredAt: utc(2026, 9, 1, 0, 0, 0, 0), Reason: "subscription_cancelled"}},
		{"customer_reactivated with offset", `{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_reactivated","customer_id":"c","occurred_at":"2026-09-01T02:30:00+02:30"}`,
			aggregate.Event{Kind: aggregate.CustomerReactivated, EventID: "e", CustomerID: "c", OccurredAt: utc(2026, 9, 1, 0, 0, 0, 0)}},
		{"amount as JSON number 499.10", order(`"499.00"`, `499.10`), with(func(e *aggregate.Event) { e.Amount = dec("499.1") })},
		{"amount as JSON number with exponent", order(`"499.00"`, `4.991e2`), with(func(e *aggregate.Event) { e.Amount = dec("499.1") })},
		{"amount as JSON number 1E+2", order(`"499.00"`, `1E+2`), with(func(e *aggregate.Event) { e.Amount = dec("100") })},
		{"amount exponent with leading zeros", order(`"499.00"`, `5e-00000000002`), with(func(e *aggregate.Event) { e.Amount = dec("0.05") })},
		{"amount zero", order(`"499.00"`, `"0"`), with(func(e *aggregate.Event) { e.Amount = money.Exact{} })},
		{"amount zero with huge exponent", order(`"499.00"`, `0e999999999`), with(func(e *aggregate.Event) { e.Amount = money.Exact{} })},
		{"amount string with leading zeros", order(`"499.00"`, `"0499.5"`), with(func(e *aggregate.Event) { e.Amount = dec("499.5") })},
		{"amount largest", order(`"499.00"`, `"999999999999999.99999999"`), with(func(e *aggregate.Event) { e.Amount = dec("999999999999999.99999999") })},
		{"amount largest as number", order(`"499.00"`, `99999999999999999999999e-8`), with(func(e *aggregate.Event) { e.Amount = dec("999999999999999.99999999") })},
		{"amount smallest step", order(`"499.00"`, `1e-8`), with(func(e *aggregate.Event) { e.Amount = dec("0.00000001") })},
		{"amount with insignificant trailing zeros", order(`"499.00"`, `"1.50000000000000000000"`), with(func(e *aggregate.Event) { e.Amount = dec("1.5") })},
		{"margin as number", order(`"0.40"`, `0.4`), placed()},
		{"margin one", order(`"0.40"`, `"1.000"`), with(func(e *aggregate.Event) { e.Margin = dec("1") })},
		{"margin one as number", order(`"0.40"`, `1e0`), with(func(e *aggregate.Event) { e.Margin = dec("1") })},
		{"margin zero", order(`"0.40"`, `0`), with(func(e *aggregate.Event) { e.Margin = money.Exact{} })},
		{"margin 12 places", order(`"0.40"`, `"0.123456789012"`), with(func(e *aggregate.Event) { e.Margin = dec("0.123456789012") })},
		{"margin null", order(`"0.40"`, `null`), with(func(e *aggregate.Event) { e.Margin, e.HasMargin = money.Exact{}, false })},
		{"margin absent", order(`"gross_margin":"0.40",`, ``), with(func(e *aggregate.Event) { e.Margin, e.HasMargin = money.Exact{}, false })},
		{"channel null", order(`"paid_search"`, `null`), with(func(e *aggregate.Event) { e.Channel = "" })},
		{"escaped strings", order(`"c-000042"`, `"c-\u00e5\ud83d\ude00\"\\\/"`), with(func(e *aggregate.Event) { e.CustomerID = `c-å😀"\/` })},
		{"raw UTF-8", order(`"c-000042"`, `"c-åäö😀"`), with(func(e *aggregate.Event) { e.CustomerID = "c-åäö😀" })},
		{"escaped key", order(`"amount"`, `"am\u006fu\u006et"`), placed()},
		{"white space everywhere", " \t\r\n" + strings.ReplaceAll(strings.ReplaceAll(spectest.Placed, `",`, `" ,`+"\n "), `":`, `"`+"\t:\r ") + "\n ", placed()},
		{"lower-case t and z, fraction", order(`2026-03-01T12:00:00Z`, `2026-03-01t12:00:00.123456789z`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2026, 3, 1, 12, 0, 0, 123456789) })},
		{"negative offset", order(`2026-03-01T12:00:00Z`, `2026-02-28T23:00:00.5-13:00`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2026, 3, 1, 12, 0, 0, 5e8) })},
		{"unknown offset -00:00", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00-00:00`), placed()},
		{"negative zero amount is zero", order(`"499.00"`, `"-0"`), with(func(e *aggregate.Event) { e.Amount = money.Exact{} })},
		{"negative zero amount number is zero", order(`"499.00"`, `-0.00`), with(func(e *aggregate.Event) { e.Amount = money.Exact{} })},
		{"negative zero margin is zero", order(`"0.40"`, `"-0.0"`), with(func(e *aggregate.Event) { e.Margin = money.Exact{} })},
		{"leap second", order(`2026-03-01T12:00:00Z`, `2016-12-31T23:59:60Z`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2016, 12, 31, 23, 59, 59, 999999999) })},
		// RFC 3339's time-secfrac is "." 1*DIGIT: digits past the nanosecond
		// are read and dropped (truncated), never rounded into the next
		// second, day or year.
		{"fraction of 10 digits", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00.1234567891Z`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2026, 3, 1, 12, 0, 0, 123456789) })},
		{"fraction of 12 digits with offset", order(`2026-03-01T12:00:00Z`, `2026-03-01T13:00:00.000000000999+01:00`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2026, 3, 1, 12, 0, 0, 0) })},
		{"fraction of 30 nines stays in its year", order(`2026-03-01T12:00:00Z`, `2025-12-31T23:59:59.`+strings.Repeat("9", 30)+`Z`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2025, 12, 31, 23, 59, 59, 999999999) })},
		{"leap second with a long fraction", order(`2026-03-01T12:00:00Z`, `2016-12-31T23:59:60.1234567890123Z`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2016, 12, 31, 23, 59, 59, 999999999) })},
		{"leap second with fraction and offset", order(`2026-03-01T12:00:00Z`, `2016-12-31T18:59:60.5-05:00`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2016, 12, 31, 23, 59, 59, 999999999) })},
		{"id with U+00A0..U+00FF next to the C1 range", order(`"c-000042"`, `"c-\u00a1é\u00ff"`), with(func(e *aggregate.Event) { e.CustomerID = "c-¡éÿ" })},
		{"id with inner and outer spaces is kept as sent", order(`"c-000042"`, `" c 42 "`), with(func(e *aggregate.Event) { e.CustomerID = " c 42 " })},
		{"leap day", order(`2026-03-01T12:00:00Z`, `2024-02-29T12:00:00Z`), with(func(e *aggregate.Event) { e.OccurredAt = utc(2024, 2, 29, 12, 0, 0, 0) })},
		{"unknown fields of every kind", order(`"channel"`, `"x":{"a":[1,2.5e-3,{"b":null,"c":[true,false]}],"d":{}},"y":[],"z":"\u00e5","w":-0.0,"channel"`), placed()},
		{"unknown field nested to the limit", order(`"channel"`, `"x":`+strings.Repeat(`[{"k":`, 8)+`1`+strings.Repeat(`}]`, 8)+`,"channel"`), placed()},
		{"large unknown field", order(`"channel"`, `"blob":"`+strings.Repeat("abcdefgh", 10000)+`","channel"`), placed()},
		{"many unknown keys", order(`"channel"`, manyKeys(2000)+`,"channel"`), placed()},
		{"same key in sibling objects", order(`"channel"`, `"x":[{"a":1},{"a":2}],"y":{"a":{"a":1}},"channel"`), placed()},
		{"refund drops channel", order(`"order_placed"`, `"order_refunded"`), with(func(e *aggregate.Event) { e.Kind, e.Channel = aggregate.OrderRefunded, "" })},
		{"order ignores reason", order(`"channel"`, `"reason":"x","channel"`), placed()},
		{"lifecycle ignores order fields", `{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_churned","customer_id":"c","occurred_at":"2026-09-01T00:00:00Z","amount":"abc","currency":"EUR","gross_margin":7,"order_id":5,"channel":[1],"reason":null}`,
			aggregate.Event{Kind: aggregate.CustomerChurned, EventID: "e", CustomerID: "c", OccurredAt: utc(2026, 9, 1, 0, 0, 0, 0)}},
		{"longest id", order(`"o-991"`, `"`+strings.Repeat("o", MaxIDBytes)+`"`), with(func(e *aggregate.Event) { e.OrderID = strings.Repeat("o", MaxIDBytes) })},
		{"non-ASCII id punctuation", order(`"c-000042"`, `"{c}:42 ü"`), with(func(e *aggregate.Event) { e.CustomerID = "{c}:42 ü" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			assertEvent(t, got, tc.want)
			if !json.Valid([]byte(tc.in)) {
				t.Fatalf("test input is not valid JSON")
			}
		})
	}
}

// manyKeys renders n distinct unknown members.
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	return b.String()
}

func assertEvent(t *testing.T, got, want aggregate.Event) {
	t.Helper()
	if got.Kind != want.Kind || got.EventID != want.EventID || got.CustomerID != want.CustomerID || got.OrderID != want.OrderID ||
		!got.Amount.Equal(want.Amount) || !got.Margin.Equal(want.Margin) || got.HasMargin != want.HasMargin ||
		got.Currency != want.Currency || !got.OccurredAt.Equal(want.OccurredAt) || got.OccurredAt.Location() != time.UTC ||
		got.Channel != want.Channel || got.Reason != want.Reason {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	d := mustDecoder(t, Config{MaxBytes: 1 << 16})
	lifecycle := func(replace ...string) string { return strings.NewReplacer(replace...).Replace(spectest.Churned) }
	cases := []struct {
		name, in, field, reason string
	}{
		// Framing and syntax.
		{"empty", ``, "", "empty value"},
		{"only white space", " \n", "", "empty value"},
		{"array", `[1,2]`, "", "must be a JSON object, not an array"},
		{"string", `"x"`, "", "must be a JSON object, not a scalar"},
		{"number", `12`, "", "must be a JSON object, not a scalar"},
		{"garbage", `hello`, "", "invalid JSON at byte 0"},
		{"scalar with trailing data", `000`, "", "invalid JSON at byte 1: unexpected data after the JSON value"},
		{"invalid array", `[1,]`, "", "invalid JSON at byte 3"},
		{"byte order mark", "\ufeff" + spectest.Placed, "", "invalid JSON at byte 0: a UTF-8 byte-order mark (U+FEFF) before the object"},
		{"byte order mark after white space", " \ufeff" + spectest.Placed, "", "invalid JSON at byte 1: a UTF-8 byte-order mark"},
		{"truncated", `{"schema":`, "", "invalid JSON at byte 10: unexpected end of input"},
		{"unterminated string", `{"schema":"ltv`, "", "unterminated string"},
		{"missing colon", `{"schema" "x"}`, "", "expected ':'"},
		{"missing comma", `{"a":1 "b":2}`, "", "expected ',' or '}'"},
		{"trailing comma", `{"a":1,}`, "", "expected an object key"},
		{"trailing comma in array", order(`"channel"`, `"x":[1,],"channel"`), "", "invalid JSON"},
		{"single quotes", `{'a':1}`, "", "invalid JSON"},
		{"unquoted key", `{a:1}`, "", "invalid JSON"},
		{"bad literal", order(`"paid_search"`, `nul`), "", "invalid literal"},
		{"capital literal", order(`"paid_search"`, `True`), "", "invalid JSON"},
		{"trailing garbage", spectest.Placed + `x`, "", "unexpected data after the JSON object"},
		{"two objects", spectest.Placed + spectest.Placed, "", "unexpected data after the JSON object"},
		{"leading zero", order(`"499.00"`, `0499`), "", "invalid JSON"},
		{"plus sign number", order(`"499.00"`, `+499`), "", "invalid JSON"},
		{"dot without digits", order(`"499.00"`, `1.`), "", "digit after the decimal point"},
		{"empty exponent", order(`"499.00"`, `1e`), "", "digit in the exponent"},
		{"NaN", order(`"499.00"`, `NaN`), "", "invalid JSON"},
		{"raw control char", order(`c-000042`, "c-\x01"), "", "control character 0x01"},
		{"raw newline in string", order(`c-000042`, "c-\n"), "", "control character 0x0a"},
		{"bad escape", order(`c-000042`, `c-\q`), "", `invalid escape sequence \q`},
		{"bad unicode escape", order(`c-000042`, `c-\u12g4`), "", `invalid \u escape`},
		{"short unicode escape", `{"a":"\u12"}`, "", `invalid \u escape`},
		{"invalid UTF-8", order(`c-000042`, "c-\xff"), "", "invalid UTF-8 at byte"},
		{"invalid UTF-8 position", `{"a":"x` + "\xc3\x28" + `"}`, "", "invalid UTF-8 at byte 7"},
		{"UTF-8 encoded surrogate", `{"a":"` + "\xed\xa0\x80" + `"}`, "", "invalid UTF-8"},
		{"overlong UTF-8", `{"a":"` + "\xc0\xaf" + `"}`, "", "invalid UTF-8"},
		{"invalid UTF-8 in a key", `{"` + "\xff" + `":1}`, "", "invalid UTF-8"},
		{"lone high surrogate", order(`c-000042`, `c-\ud800`), "", `unpaired UTF-16 surrogate \ud800`},
		{"lone low surrogate", order(`c-000042`, `c-\udc00x`), "", `unpaired UTF-16 surrogate \udc00`},
		{"high surrogate then non-surrogate", order(`c-000042`, `c-\ud800\u0041`), "", "unpaired UTF-16 surrogate"},
		{"two high surrogates", order(`c-000042`, `c-\ud800\ud800`), "", "unpaired UTF-16 surrogate"},
		{"duplicate key", order(`"amount":"499.00"`, `"amount":"499.00","amount":"1.00"`), "amount", `duplicate key "amount"`},
		{"duplicate key via escape", order(`"amount":"499.00"`, `"amount":"499.00","am\u006funt":"1.00"`), "amount", `duplicate key "amount"`},
		{"duplicate null key", order(`"channel"`, `"channel":null,"channel"`), "channel", `duplicate key "channel"`},
		{"duplicate unknown key", order(`"channel"`, `"x":1,"x":2,"channel"`), "", `duplicate key "x"`},
		{"duplicate nested key", order(`"channel"`, `"x":{"a":1,"b":[{"c":1,"c":2}]},"channel"`), "", `duplicate key "c"`},
		{"duplicate among many keys", order(`"channel"`, manyKeys(500)+`,"k250":0,"channel"`), "", `duplicate key "k250"`},
		{"too deep", order(`"channel"`, `"x":`+strings.Repeat("[", 17)+strings.Repeat("]", 17)+`,"channel"`), "", "value nested deeper than 16 levels at byte 225"},
		{"too deep in objects", order(`"channel"`, `"x":`+strings.Repeat(`{"a":`, 17)+`1`+strings.Repeat("}", 17)+`,"channel"`), "", "nested deeper than 16 levels"},
		{"too deep in a known field", order(`"499.00"`, strings.Repeat("[", 17)+strings.Repeat("]", 17)), "", "nested deeper than 16 levels"},
		{"oversized", `{"x":"` + strings.Repeat("a", 1<<16) + `"}`, "", "value of 65544 bytes exceeds the 65536-byte limit"},

		// Required fields.
		{"missing schema", order(`"schema":"ltv.order.v1",`, ``), "schema", `missing required field "schema"`},
		{"missing event_id", order(`"event_id":"8f1c-1",`, ``), "event_id", `missing required field "event_id"`},
		{"missing type", order(`"type":"order_placed",`, ``), "type", `missing required field "type"`},
		{"missing customer_id", order(`"customer_id":"c-000042",`, ``), "customer_id", `missing required field "customer_id"`},
		{"missing order_id", order(`"order_id":"o-991",`, ``), "order_id", `missing required field "order_id"`},
		{"missing amount", order(`"amount":"499.00",`, ``), "amount", `missing required field "amount"`},
		{"missing currency", order(`"currency":"SEK",`, ``), "currency", `missing required field "currency"`},
		{"missing occurred_at", order(`"occurred_at":"2026-03-01T12:00:00Z",`, ``), "occurred_at", `missing required field "occurred_at"`},
		{"lifecycle missing customer_id", lifecycle(`"customer_id":"c-000042",`, ``), "customer_id", `missing required field "customer_id"`},
		{"null event_id", order(`"8f1c-1"`, `null`), "event_id", `missing required field "event_id"`},
		{"null amount", order(`"499.00"`, `null`), "amount", `missing required field "amount"`},
		{"empty customer_id", order(`"c-000042"`, `""`), "customer_id", `empty required field "customer_id"`},
		{"empty type", order(`"order_placed"`, `""`), "type", `empty required field "type"`},
		{"empty amount", order(`"499.00"`, `""`), "amount", `empty required field "amount"`},
		{"empty currency", order(`"SEK"`, `""`), "currency", `empty required field "currency"`},
		{"empty occurred_at", order(`"2026-03-01T12:00:00Z"`, `""`), "occurred_at", `empty required field "occurred_at"`},
		{"numeric event_id", order(`"8f1c-1"`, `17`), "event_id", `field "event_id" must be a string, not a number`},
		{"object customer_id", order(`"c-000042"`, `{"id":1}`), "customer_id", `field "customer_id" must be a string, not an object`},
		{"boolean type", order(`"order_placed"`, `true`), "type", `field "type" must be a string, not a boolean`},
		{"array schema", order(`"ltv.order.v1"`, `["ltv.order.v1"]`), "schema", `field "schema" must be a string, not an array`},
		{"numeric channel", order(`"paid_search"`, `7`), "channel", `field "channel" must be a string, not a number`},
		{"numeric channel on a refund", order(`"paid_search"`, `7`, `"order_placed"`, `"order_refunded"`), "channel", `field "channel" must be a string, not a number`},
		{"numeric reason", lifecycle(`"subscription_cancelled"`, `7`), "reason", `field "reason" must be a string, not a number`},

		// type and schema.
		{"unknown type", order(`"order_placed"`, `"order_cancelled"`), "type", `unknown type "order_cancelled"`},
		{"type case", order(`"order_placed"`, `"Order_Placed"`), "type", `unknown type "Order_Placed"`},
		{"schema of the other kind", order(`"ltv.order.v1"`, `"ltv.lifecycle.v1"`), "schema", `schema "ltv.lifecycle.v1" does not match type "order_placed" (expected "ltv.order.v1")`},
		{"schema version", order(`"ltv.order.v1"`, `"ltv.order.v2"`), "schema", `schema "ltv.order.v2" does not match type "order_placed"`},
		{"lifecycle with order schema", lifecycle(`"ltv.lifecycle.v1"`, `"ltv.order.v1"`), "schema", `does not match type "customer_churned"`},

		// Identifiers.
		{"event_id too long", order(`"8f1c-1"`, `"`+strings.Repeat("e", MaxIDBytes+1)+`"`), "event_id", `field "event_id" is longer than 256 bytes`},
		{"customer_id too long", order(`"c-000042"`, `"`+strings.Repeat("é", 129)+`"`), "customer_id", `field "customer_id" is longer than 256 bytes`},
		{"order_id too long", order(`"o-991"`, `"`+strings.Repeat("o", 300)+`"`), "order_id", `field "order_id" is longer than 256 bytes`},
		{"channel too long", order(`"paid_search"`, `"`+strings.Repeat("c", 300)+`"`), "channel", `field "channel" is longer than 256 bytes`},
		{"customer_id of one space", order(`"c-000042"`, `" "`), "customer_id", `empty required field "customer_id" (only white space)`},
		{"event_id of Unicode spaces", order(`"8f1c-1"`, `"\u00a0\u3000\u2009"`), "event_id", `empty required field "event_id" (only white space)`},
		{"order_id of NEL and NBSP", order(`"o-991"`, `"\u0085\u00a0"`), "order_id", `empty required field "order_id" (only white space)`},
		{"escaped NUL in customer_id", order(`c-000042`, `c-\u0000`), "customer_id", `field "customer_id" contains a control character`},
		{"escaped newline in event_id", order(`8f1c-1`, `8f1c\n1`), "event_id", `field "event_id" contains a control character`},
		{"DEL in order_id", order(`o-991`, "o-\x7f"), "order_id", `field "order_id" contains a control character`},
		// C1 controls (U+0080–U+009F) are control characters too, raw or escaped.
		{"C1 control U+0080 in event_id", order(`8f1c-1`, "8f1c-\u00801"), "event_id", `field "event_id" contains a control character`},
		{"C1 CSI U+009B in customer_id", order(`"c-000042"`, `"c-\u009b[31m"`), "customer_id", `field "customer_id" contains a control character`},
		{"raw C1 U+009F in order_id", order(`o-991`, "o-\xc2\x9f"), "order_id", `field "order_id" contains a control character`},

		// Amounts.
		{"negative amount", order(`"499.00"`, `"-5.00"`), "amount", `amount: negative value "-5.00"`},
		{"negative amount number", order(`"499.00"`, `-5`), "amount", `amount: negative value "-5"`},
		{"negative amount just below zero", order(`"499.00"`, `"-0.00000001"`), "amount", `amount: negative value "-0.00000001"`},
		{"non-numeric amount", order(`"499.00"`, `"abc"`), "amount", `amount: "abc" is not a decimal number`},
		{"amount with space", order(`"499.00"`, `" 499"`), "amount", `amount: " 499" is not a decimal number`},
		{"amount with plus", order(`"499.00"`, `"+499"`), "amount", "is not a decimal number"},
		{"amount exponent in string", order(`"499.00"`, `"4.99e2"`), "amount", "is not a decimal number"},
		{"amount empty fraction", order(`"499.00"`, `"1."`), "amount", `amount: "1." is not a decimal number`},
		{"amount empty integer part", order(`"499.00"`, `".5"`), "amount", "is not a decimal number"},
		{"amount comma", order(`"499.00"`, `"499,00"`), "amount", "is not a decimal number"},
		{"amount NaN string", order(`"499.00"`, `"NaN"`), "amount", "is not a decimal number"},
		{"amount boolean", order(`"499.00"`, `true`), "amount", "amount: must be a decimal string or a number, not a boolean"},
		{"amount object", order(`"499.00"`, `{"value":"1"}`), "amount", "not an object"},
		{"amount 1e30", order(`"499.00"`, `1e30`), "amount", "amount: 1e30 is out of range"},
		{"amount 1e400", order(`"499.00"`, `1e400`), "amount", "amount: 1e400 is out of range"},
		{"amount 1e999999999", order(`"499.00"`, `1e999999999`), "amount", "amount: 1e999999999 is out of range"},
		{"amount 1e-400", order(`"499.00"`, `1e-400`), "amount", "amount: 1e-400 has more than 20 decimal places"},
		{"amount 1e-999999999", order(`"499.00"`, `1e-999999999`), "amount", "has more than 20 decimal places"},
		{"amount 31 digits", order(`"499.00"`, `"1000000000000000000000000000000"`), "amount", "is out of range (must be below 1e30)"},
		{"amount 40 digits", order(`"499.00"`, `1234567890123456789012345678901234567890`), "amount", "is out of range"},
		{"amount 21 places", order(`"499.00"`, `"1.123456789012345678901"`), "amount", "amount: 1.123456789012345678901 has more than 20 decimal places"},
		{"amount 1e-21", order(`"499.00"`, `1e-21`), "amount", "amount: 1e-21 has more than 20 decimal places"},
		{"amount long text is clipped", order(`"499.00"`, `"`+strings.Repeat("9", 1000)+`"`), "amount", strings.Repeat("9", 64) + "… is out of range"},

		// Margins.
		{"margin above 1", order(`"0.40"`, `"1.5"`), "gross_margin", "gross_margin: 1.5 is outside [0,1]"},
		{"margin just above 1", order(`"0.40"`, `"1.000000000001"`), "gross_margin", "is outside [0,1]"},
		{"margin number above 1", order(`"0.40"`, `2`), "gross_margin", "gross_margin: 2 is outside [0,1]"},
		{"margin 10", order(`"0.40"`, `"10"`), "gross_margin", "is outside [0,1]"},
		{"margin 1e400", order(`"0.40"`, `1e400`), "gross_margin", "gross_margin: 1e400 is outside [0,1]"},
		{"margin negative", order(`"0.40"`, `"-0.1"`), "gross_margin", "gross_margin: -0.1 is outside [0,1]"},
		{"margin negative number", order(`"0.40"`, `-1e-3`), "gross_margin", "is outside [0,1]"},
		{"margin 21 places", order(`"0.40"`, `"0.123456789012345678901"`), "gross_margin", "gross_margin: 0.123456789012345678901 has more than 20 decimal places"},
		{"margin 1e-400", order(`"0.40"`, `1e-400`), "gross_margin", "has more than 20 decimal places"},
		{"margin text", order(`"0.40"`, `"forty"`), "gross_margin", `gross_margin: "forty" is not a decimal number`},
		{"margin percent", order(`"0.40"`, `"40%"`), "gross_margin", "is not a decimal number"},
		{"margin empty", order(`"0.40"`, `""`), "gross_margin", `empty required field "gross_margin"`},
		{"margin array", order(`"0.40"`, `[0.4]`), "gross_margin", "must be a decimal string or a number, not an array"},

		// Currency.
		{"wrong currency", order(`"SEK"`, `"EUR"`), "currency", `currency "EUR" is not the base currency "SEK"`},
		{"currency case", order(`"SEK"`, `"sek"`), "currency", `currency "sek" is not the base currency "SEK"`},
		{"numeric currency", order(`"SEK"`, `752`), "currency", `field "currency" must be a string, not a number`},

		// Timestamps.
		{"timestamp with space", order(`2026-03-01T12:00:00Z`, `2026-03-01 12:00:00Z`), "occurred_at", `occurred_at: "2026-03-01 12:00:00Z" is not RFC 3339`},
		{"timestamp without seconds", order(`2026-03-01T12:00:00Z`, `2026-03-01 12:00`), "occurred_at", `occurred_at: "2026-03-01 12:00" is not RFC 3339`},
		{"timestamp without zone", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00`), "occurred_at", "is not RFC 3339"},
		{"timestamp date only", order(`2026-03-01T12:00:00Z`, `2026-03-01`), "occurred_at", "is not RFC 3339"},
		{"timestamp short year", order(`2026-03-01T12:00:00Z`, `226-03-01T12:00:00Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp 5-digit year", order(`2026-03-01T12:00:00Z`, `20260-03-01T12:00:00Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp zone without colon", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00+0100`), "occurred_at", "is not RFC 3339"},
		{"timestamp zone hours only", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00+01`), "occurred_at", "is not RFC 3339"},
		{"timestamp named zone", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00 UTC`), "occurred_at", "is not RFC 3339"},
		{"timestamp empty fraction", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00.Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp comma fraction", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00,5Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp single-digit month", order(`2026-03-01T12:00:00Z`, `2026-3-01T12:00:00Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp trailing data", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00Zx`), "occurred_at", "is not RFC 3339"},
		{"timestamp signed year", order(`2026-03-01T12:00:00Z`, `+2026-03-01T12:00:00Z`), "occurred_at", "is not RFC 3339"},
		{"timestamp month 13", order(`2026-03-01T12:00:00Z`, `2026-13-01T12:00:00Z`), "occurred_at", "is not a valid date and time"},
		{"timestamp February 30", order(`2026-03-01T12:00:00Z`, `2026-02-30T12:00:00Z`), "occurred_at", "is not a valid date and time"},
		{"timestamp February 29 in a common year", order(`2026-03-01T12:00:00Z`, `2100-02-29T12:00:00Z`), "occurred_at", "is not a valid date and time"},
		{"timestamp hour 24", order(`2026-03-01T12:00:00Z`, `2026-03-01T24:00:00Z`), "occurred_at", "is not a valid date and time"},
		{"timestamp offset 24h", order(`2026-03-01T12:00:00Z`, `2026-03-01T12:00:00+24:00`), "occurred_at", "is not a valid date and time"},
		{"timestamp second 60 outside 23:59 UTC", order(`2026-03-01T12:00:00Z`, `2016-12-31T12:00:60Z`), "occurred_at", "has second 60 outside 23:59 UTC"},
		{"timestamp second 60 at local 23:59", order(`2026-03-01T12:00:00Z`, `2016-12-31T23:59:60+01:00`), "occurred_at", "has second 60 outside 23:59 UTC"},
		{"timestamp second 61", order(`2026-03-01T12:00:00Z`, `2016-12-31T23:59:61Z`), "occurred_at", "is not a valid date and time"},
		{"timestamp before year 0 in UTC", order(`2026-03-01T12:00:00Z`, `0000-01-01T00:00:00+01:00`), "occurred_at", "is not a valid date and time"},
		{"timestamp after year 9999 in UTC", order(`2026-03-01T12:00:00Z`, `9999-12-31T23:59:59-01:00`), "occurred_at", "is not a valid date and time"},
		{"timestamp as unix number", order(`"2026-03-01T12:00:00Z"`, `1772366400`), "occurred_at", `field "occurred_at" must be a string, not a number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := d.Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %+v", ev)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("want *Error, got %T %v", err, err)
			}
			if !strings.Contains(de.Reason, tc.reason) || de.Field != tc.field {
				t.Fatalf("got field %q reason %q\nwant field %q and reason containing %q", de.Field, de.Reason, tc.field, tc.reason)
			}
			if de.Error() != de.Reason {
				t.Fatalf("Error() = %q, want the reason", de.Error())
			}
			if ev != (aggregate.Event{}) {
				t.Fatalf("a rejected value returned a non-zero event: %+v", ev)
			}
			checkSyntaxReason(t, []byte(tc.in), de)
		})
	}
}

// checkSyntaxReason cross-checks the scanner with encoding/json: whatever
// it calls invalid JSON must be invalid for encoding/json too. (The reverse
// does not hold: duplicate keys, unpaired surrogates, invalid UTF-8 and
// nesting are refused with their own reasons although the grammar allows
// them.)
func checkSyntaxReason(t *testing.T, in []byte, de *Error) {
	t.Helper()
	if strings.HasPrefix(de.Reason, "invalid JSON") && json.Valid(in) {
		t.Fatalf("reason %q for a value encoding/json accepts: %q", de.Reason, in)
	}
	if strings.HasPrefix(de.Reason, "the value must be a JSON object") && !json.Valid(in) {
		t.Fatalf("reason %q for a value that is not JSON at all: %q", de.Reason, in)
	}
}

func TestReasonsAreSingleLine(t *testing.T) {
	d := mustDecoder(t, Config{})
	for _, in := range []string{
		order(`"SEK"`, "\"E\\nU\\u2028R\""), order(`"SEK"`, "\"\\n\\u0000\""), order(`"order_placed"`, `"x\ny"`),
		`{"a` + "\x01",
	} {
		_, err := d.Decode([]byte(in))
		if err == nil {
			t.Fatalf("accepted %q", in)
		}
		if strings.ContainsAny(err.Error(), "\n\r\x00") {
			t.Fatalf("reason %q contains control characters", err)
		}
	}
}

// TestStringBoundaries puts special characters at every offset around the
// 8-byte steps of the string scanner and compares with encoding/json.
func TestStringBoundaries(t *testing.T) {
	d := mustDecoder(t, Config{})
	specials := []string{`\"`, `\\`, `\n`, `\u00e5`, `\ud83d\ude00`, "å", "😀", "\x7f", " ", "!", "#", "[", "]", "~", "\x01", "\xff", "\"", "\\"}
	for _, sp := range specials {
		for pre := range 18 {
			for _, post := range []int{0, 1, 7, 8, 9} {
				val := `"` + strings.Repeat("a", pre) + sp + strings.Repeat("b", post) + `"`
				doc := []byte(order(`"paid_search"`, val))
				ev, err := d.Decode(doc)
				var want string
				jerr := json.Unmarshal([]byte(val), &want)
				valid := jerr == nil && utf8.ValidString(val) && json.Valid(doc)
				if valid != (err == nil) {
					t.Fatalf("%q: decoder %v, encoding/json %v", val, err, jerr)
				}
				if err == nil && ev.Channel != want {
					t.Fatalf("%q: channel %q, want %q", val, ev.Channel, want)
				}
			}
		}
	}
}

func TestHostileInputs(t *testing.T) {
	d := mustDecoder(t, Config{})
	big := func(prefix, fill, suffix string) []byte {
		n := (DefaultMaxBytes - len(prefix) - len(suffix)) / len(fill)
		return []byte(prefix + strings.Repeat(fill, n) + suffix)
	}
	cases := []struct {
		name   string
		in     []byte
		reason string
	}{
		{"1 MiB of [", big("", "[", ""), "value nested deeper than 16 levels at byte 16"},
		{"1 MiB of [ in a field", big(`{"x":`, "[", ""), "nested deeper than 16 levels"},
		{"1 MiB of {\"a\": in a field", big(`{"x":`, `{"a":`, ""), "nested deeper than 16 levels"},
		{"1 MiB number amount", big(order(`"499.00"`, `1`)[:strings.Index(spectest.Placed, `"499.00"`)+1], "9", ""), "invalid JSON"},
		{"1 MiB string amount", []byte(order(`"499.00"`, `"`+strings.Repeat("9", DefaultMaxBytes-len(spectest.Placed)-8)+`"`)), "is out of range"},
		{"1 MiB fraction amount", []byte(order(`"499.00"`, `0.`+strings.Repeat("0", DefaultMaxBytes-len(spectest.Placed)-8)+`1`)), "more than 20 decimal places"},
		{"1 MiB exponent", []byte(order(`"499.00"`, `1e`+strings.Repeat("9", DefaultMaxBytes-len(spectest.Placed)-8))), "is out of range"},
		{"1 MiB of unknown keys with one duplicate", []byte(order(`"channel"`, manyKeys(60000)+`,"k1":1,"channel"`)), `duplicate key "k1"`},
		{"1 MiB of escapes", big(`{"x":"`, `\u00e5`, `"}`), "missing required field"},
		{"over the limit", append(big("", " ", ""), ' '), "exceeds the 1048576-byte limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) > DefaultMaxBytes+1 {
				t.Fatalf("test input of %d bytes", len(tc.in))
			}
			start := time.Now()
			_, err := d.Decode(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("got %v, want reason containing %q", err, tc.reason)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

func TestNormalisedExponent(t *testing.T) {
	// Trailing zeros are accepted but must not leave a huge exponent behind:
	// every later sum would be rescaled to it.
	d := mustDecoder(t, Config{})
	ev, err := d.Decode([]byte(order(`"499.00"`, `"1.`+strings.Repeat("0", 100000)+`"`)))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Amount.Equal(money.ExactFromInt(1)) || ev.Amount.Exponent() < -maxAmountFracDigits {
		t.Fatalf("amount %s with exponent %d", ev.Amount, ev.Amount.Exponent())
	}
	ev, err = d.Decode([]byte(order(`"499.00"`, `10000e-4`)))
	if err != nil || !ev.Amount.Equal(money.ExactFromInt(1)) || ev.Amount.Exponent() != 0 {
		t.Fatalf("amount %s exponent %d err %v", ev.Amount, ev.Amount.Exponent(), err)
	}
}

func TestFXConversion(t *testing.T) {
	d := mustDecoder(t, Config{BaseCurrency: "EUR", FXRates: map[string]decimal.Decimal{
		"SEK": rate("0.087"), "USD": rate("0.92125"), "EUR": rate("1"),
	}})
	cases := []struct {
		cur, amount string
		want        string
	}{
		{"EUR", `"10.01"`, "10.01"},
		{"SEK", `"499.00"`, "43.413"},
		{"USD", `19.99`, "18.4157875"},
		{"USD", `0`, "0"},
	}
	for _, c := range cases {
		ev, err := d.Decode([]byte(order(`"SEK"`, `"`+c.cur+`"`, `"499.00"`, c.amount)))
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Amount.Equal(dec(c.want)) || ev.Currency != c.cur {
			t.Fatalf("%s %s: got %s %s, want %s", c.cur, c.amount, ev.Amount, ev.Currency, c.want)
		}
	}
	_, err := d.Decode([]byte(order(`"SEK"`, `"GBP"`)))
	if err == nil || err.Error() != `currency "GBP" is not the base currency "EUR"` {
		t.Fatalf("GBP: %v", err)
	}
}

func TestNewConfig(t *testing.T) {
	d := mustDecoder(t, Config{})
	if d.base != "SEK" || d.maxBytes != 1<<20 || d.maxDepth != 16 {
		t.Fatalf("defaults: %+v", d)
	}
	bad := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero rate", Config{FXRates: map[string]decimal.Decimal{"EUR": decimal.Zero}}, `fx rate of "EUR" must be positive`},
		{"negative rate", Config{FXRates: map[string]decimal.Decimal{"EUR": rate("-1")}}, "must be positive"},
		{"unset rate", Config{FXRates: map[string]decimal.Decimal{"EUR": {}}}, "must be positive"},
		{"base rate not 1", Config{FXRates: map[string]decimal.Decimal{"SEK": rate("2")}}, "must be 1"},
		{"empty fx code", Config{FXRates: map[string]decimal.Decimal{"": rate("2")}}, "fx rate: currency code"},
		{"blank in base", Config{BaseCurrency: "SE K"}, "base currency: currency code"},
		{"lowercase base", Config{BaseCurrency: "sek"}, `base currency: currency code "sek" has lowercase letters`},
		{"lowercase fx code", Config{FXRates: map[string]decimal.Decimal{"eur": rate("11")}}, `"eur" has lowercase letters`},
		{"negative max bytes", Config{MaxBytes: -1}, "max bytes must be positive"},
		{"negative depth", Config{MaxDepth: -1}, "max depth"},
		{"huge depth", Config{MaxDepth: maxDepthLimit + 1}, "max depth"},
	}
	for _, tc := range bad {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// The decoder must not see later changes to the caller's map.
	rates := map[string]decimal.Decimal{"EUR": rate("11")}
	d = mustDecoder(t, Config{FXRates: rates})
	rates["GBP"] = rate("13")
	if _, err := d.Decode([]byte(order(`"SEK"`, `"GBP"`))); err == nil {
		t.Fatal("decoder picked up a rate added after New")
	}
}

func TestMaxDepthConfig(t *testing.T) {
	for _, depth := range []int{1, 2, 64, 65, maxDepthLimit} {
		d := mustDecoder(t, Config{MaxDepth: depth})
		var open, closing strings.Builder
		for i := range depth {
			if i%2 == 0 {
				open.WriteString("[")
				closing.WriteString("]")
			} else {
				open.WriteString(`{"k":`)
				closing.WriteString("}")
			}
		}
		inner := []byte(closing.String())
		slices.Reverse(inner)
		ok := order(`"channel"`, `"x":`+open.String()+`1`+string(inner)+`,"channel"`)
		if _, err := d.Decode([]byte(ok)); err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
		deep := order(`"channel"`, `"x":`+strings.Repeat("[", depth+1)+strings.Repeat("]", depth+1)+`,"channel"`)
		if _, err := d.Decode([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
			t.Fatalf("depth %d: %v", depth, err)
		}
	}
}

func TestDecodedStringsDoNotAliasInput(t *testing.T) {
	d := mustDecoder(t, Config{})
	for _, in := range []string{spectest.Placed, spectest.Churned, order(`"c-000042"`, `"c-\u00e5"`)} {
		buf := []byte(in)
		ev, err := d.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		want := ev
		want.EventID, want.CustomerID, want.OrderID = strings.Clone(ev.EventID), strings.Clone(ev.CustomerID), strings.Clone(ev.OrderID)
		want.Channel, want.Reason = strings.Clone(ev.Channel), strings.Clone(ev.Reason)
		for i := range buf {
			buf[i] = 'X'
		}
		assertEvent(t, ev, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	d := mustDecoder(t, Config{FXRates: map[string]decimal.Decimal{"EUR": rate("11")}})
	inputs := []string{spectest.Placed, spectest.Refunded, spectest.Churned, order(`"SEK"`, `"EUR"`), `{"bad"`}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				in := inputs[(g+i)%len(inputs)]
				if _, err := d.Decode([]byte(in)); (err != nil) != (in == `{"bad"`) {
					t.Errorf("%s: %v", in, err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func TestSplitNumber(t *testing.T) {
	cases := []struct {
		in          string
		intD, fracD int
		zero        bool
	}{
		{"499.00", 3, 0, false}, {"0.0001", -3, 4, false}, {"1e3", 4, -3, false}, {"1.5e-3", -2, 4, false},
		{"000", 0, 0, true}, {"-0.0e5", 0, 0, true}, {"123.4500", 3, 2, false}, {"-7.25", 1, 2, false},
		{"100", 3, -2, false}, {"0.10", 0, 1, false}, {"12E+1", 3, -1, false},
	}
	for _, c := range cases {
		p := splitNumber([]byte(c.in))
		if p.zero != c.zero || (!p.zero && (p.intDigits != c.intD || p.fracDigits != c.fracD)) {
			t.Errorf("splitNumber(%s) = %+v, want int %d frac %d zero %v", c.in, p, c.intD, c.fracD, c.zero)
		}
	}
	for _, in := range []string{"1e999999999", "1e-999999999", "-5e+123456789"} {
		if p := splitNumber([]byte(in)); !p.hugeExp {
			t.Errorf("%s: want hugeExp, got %+v", in, p)
		}
	}
	in := []byte("0.5e+000000000000000000001")
	if p := splitNumber(in); p.hugeExp || !toExact(in, &p).Equal(money.ExactFromInt(5)) {
		t.Errorf("%s: %+v", in, p)
	}
}

func TestToExactMatchesShopspring(t *testing.T) {
	for _, in := range []string{
		"0.1", "1", "10", "499.10", "4.991e2", "1e14", "99999999999999999999999e-8", "123456789012345678.9e-3",
		"0.00000001", "100000000000000e-8", "1234567890123456789e-10", "5E-0", "-3.25", "000123.4500",
	} {
		p := splitNumber([]byte(in))
		got := toExact([]byte(in), &p)
		if want := decimal.RequireFromString(in); !got.Decimal().Equal(want) {
			t.Errorf("toExact(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseTimeMatchesTimePackage(t *testing.T) {
	for _, in := range []string{
		"2026-03-01T12:00:00Z", "2026-03-01T12:00:00.1Z", "2026-03-01T12:00:00.000000001+01:00",
		"1999-12-31T23:59:59.999-23:59", "2000-02-29T00:00:00+14:00", "0001-01-01T00:00:00.000000001Z", "9999-12-31T23:59:59Z",
	} {
		got, problem := parseTime([]byte(in))
		want, err := time.Parse(time.RFC3339Nano, in)
		if problem != timeOK || err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: got %v %q, want %v %v", in, got, problem, want, err)
		}
	}
}

// TestParseTimeRefusesTheZeroTimeAndBefore: the domain reads Go's zero
// time (0001-01-01T00:00:00Z) as "never", so an event at or before it
// would lose its first order or its churn; it is refused with a reason.
func TestParseTimeRefusesTheZeroTimeAndBefore(t *testing.T) {
	for _, in := range []string{"0001-01-01T00:00:00Z", "0000-06-01T00:00:00Z", "0001-01-01T00:59:59+01:00", "0000-01-01T00:00:00.5Z"} {
		if _, problem := parseTime([]byte(in)); problem != timeTooEarly {
			t.Errorf("%s: %q, want %q", in, problem, timeTooEarly)
		}
	}
	d := mustDecoder(t, Config{})
	_, err := d.Decode([]byte(strings.Replace(spectest.Churned, "2026-", "0000-", 1)))
	if err == nil || !strings.Contains(err.Error(), "is not after 0001-01-01T00:00:00Z") {
		t.Fatalf("churn in year 0: %v", err)
	}
}

// canonical renders an accepted event back to the JSON a well-behaved
// producer would send (base currency, decimal strings, UTC timestamp).
func canonical(ev aggregate.Event) []byte {
	m := map[string]any{
		"schema": ev.Kind.Schema(), "event_id": ev.EventID, "type": ev.Kind.String(),
		"customer_id": ev.CustomerID, "occurred_at": ev.OccurredAt.Format(time.RFC3339Nano),
	}
	if ev.Kind.IsOrder() {
		m["order_id"], m["amount"], m["currency"] = ev.OrderID, ev.Amount.String(), ev.Currency
		if ev.HasMargin {
			m["gross_margin"] = ev.Margin.String()
		}
		if ev.Channel != "" {
			m["channel"] = ev.Channel
		}
	} else if ev.Reason != "" {
		m["reason"] = ev.Reason
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestCanonicalRoundTrip(t *testing.T) {
	d := mustDecoder(t, Config{})
	for _, in := range []string{spectest.Placed, spectest.Refunded, spectest.Churned, order(`"499.00"`, `4.991e2`, `"0.40"`, `1`)} {
		ev, err := d.Decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		again, err := d.Decode(canonical(ev))
		if err != nil {
			t.Fatalf("%s: %v", canonical(ev), err)
		}
		assertEvent(t, again, ev)
	}
}

// fuzzSeeds are valid and invalid values for FuzzDecode's corpus.
var fuzzSeeds = []string{
	spectest.Placed, spectest.Refunded, spectest.Churned,
	`{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_reactivated","customer_id":"c","occurred_at":"2026-09-01T00:00:00.5+01:00","reason":null}`,
	`{"schema":"ltv.order.v1","event_id":"e","type":"order_placed","customer_id":"c","order_id":"o","amount":4.991e2,"currency":"SEK","gross_margin":1,"occurred_at":"2026-03-01t12:00:00z"}`,
	`{"schema":"ltv.order.v1","event_id":"e\u00e5","type":"order_refunded","customer_id":"c\ud83d\ude00","order_id":"o","amount":"0.00000001","currency":"SEK","occurred_at":"2024-02-29T00:00:00-00:00","x":{"a":[1,{"b":[]}]}}`,
	`{"a":[[[[[[]]]]]],"b":"\ud83d\ude00"}`, `{"amount":1e400}`, `{`, `{"x":"\ud800"}`, "\xff", `{"amount":"1","amount":"2"}`,
	`{"schema":"ltv.order.v1","event_id":"e","type":"order_placed","customer_id":"c","order_id":"o","amount":"-0","currency":"SEK","occurred_at":"2026-03-01T12:00:00Z"}`,
	`{"schema":"ltv.order.v1","event_id":"e","type":"order_placed","customer_id":"c","order_id":"o","amount":1e-9,"currency":"SEK","occurred_at":"2016-12-31T23:59:60Z"}`,
	`{"x":{"a":1,"a":2}}`, `[]`, `"x"`, `{}  x`, "{\"a\":\"\xed\xa0\x80\"}", `{"a":"\u00"}`, `{"a":-}`, `{"a":0.e1}`, `000`, `[1,]`, `[[[]]]`,
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	d := mustDecoder(f, Config{MaxBytes: 1 << 16, MaxDepth: 8})
	one := money.ExactFromInt(1)
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := string(in)
		ev, err := d.Decode(in)
		if string(in) != orig {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == "" || ev != (aggregate.Event{}) {
				t.Fatalf("bad rejection: %T %v %+v", err, err, ev)
			}
			checkSyntaxReason(t, in, de)
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON: %q", in)
		}
		if ev.EventID == "" || ev.CustomerID == "" || ev.Kind.Schema() == "" || ev.OccurredAt.Location() != time.UTC ||
			len(ev.EventID) > MaxIDBytes || len(ev.CustomerID) > MaxIDBytes {
			t.Fatalf("invariants broken: %+v", ev)
		}
		if ev.Kind.IsOrder() {
			if ev.OrderID == "" || ev.Amount.Sign() < 0 || ev.Amount.Exponent() < -maxAmountFracDigits || ev.Currency != "SEK" || ev.Reason != "" {
				t.Fatalf("order invariants broken: %+v", ev)
			}
			if ev.HasMargin && (ev.Margin.Sign() < 0 || ev.Margin.GreaterThan(one)) {
				t.Fatalf("margin out of range: %+v", ev)
			}
		} else if ev.OrderID != "" || !ev.Amount.IsZero() || ev.HasMargin || ev.Currency != "" || ev.Channel != "" {
			t.Fatalf("lifecycle invariants broken: %+v", ev)
		}
		crossCheck(t, in, ev)
		if at, ok := EventTime(in); !ok || !at.Equal(ev.OccurredAt) {
			t.Fatalf("EventTime %v %v, Decode's occurred_at %v: the merge would order the record by another time", at, ok, ev.OccurredAt)
		}
		again, err := d.Decode(canonical(ev))
		if err != nil {
			t.Fatalf("canonical form %s of an accepted event rejected: %v", canonical(ev), err)
		}
		assertEvent(t, again, ev)
	})
}

// crossCheck compares an accepted event with what encoding/json reads from
// the same bytes: the strings (escapes) and the exact money values.
func crossCheck(t *testing.T, in []byte, ev aggregate.Event) {
	t.Helper()
	var m map[string]any
	jd := json.NewDecoder(bytes.NewReader(in))
	jd.UseNumber()
	if err := jd.Decode(&m); err != nil {
		t.Fatalf("encoding/json cannot read an accepted value: %v", err)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) decimal.Decimal {
		var text string
		switch v := m[k].(type) {
		case string:
			text = v
		case json.Number:
			text = string(v)
		default:
			t.Fatalf("%s: %T", k, v)
		}
		d, err := decimal.NewFromString(text)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return d
	}
	if str("event_id") != ev.EventID || str("customer_id") != ev.CustomerID || str("type") != ev.Kind.String() {
		t.Fatalf("strings differ from encoding/json's: %+v vs %v", ev, m)
	}
	switch {
	case ev.Kind.IsOrder():
		if str("order_id") != ev.OrderID || str("currency") != ev.Currency || !num("amount").Equal(ev.Amount.Decimal()) {
			t.Fatalf("order fields differ from encoding/json's: %+v vs %v", ev, m)
		}
		if ev.HasMargin && !num("gross_margin").Equal(ev.Margin.Decimal()) {
			t.Fatalf("margin differs from encoding/json's: %+v vs %v", ev, m)
		}
		if ev.Kind == aggregate.OrderPlaced && str("channel") != ev.Channel {
			t.Fatalf("channel differs from encoding/json's: %+v vs %v", ev, m)
		}
	default:
		if str("reason") != ev.Reason {
			t.Fatalf("reason differs from encoding/json's: %+v vs %v", ev, m)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	d := mustDecoder(b, Config{})
	for _, bc := range []struct{ name, in string }{
		{"order_placed", spectest.Placed},
		{"order_refunded_numbers", order(`"499.00"`, `499.10`, `"0.40"`, `0.4`, `"order_placed"`, `"order_refunded"`)},
		{"customer_churned", spectest.Churned},
		{"unknown_fields", order(`"channel"`, `"meta":{"source":"web","tags":["a","b"]},"v":2,"channel"`)},
	} {
		in := []byte(bc.in)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := d.Decode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCustomerIDCannotBreakTheHashTag(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode([]byte(`{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_churned","customer_id":"}x","occurred_at":"2026-01-01T00:00:00Z"}`))
	var de *Error
	if !errors.As(err, &de) || de.Field != "customer_id" || !strings.Contains(de.Reason, "hash tag") {
		t.Fatalf("got %v", err)
	}
	if _, err := d.Decode([]byte(`{"schema":"ltv.lifecycle.v1","event_id":"e","type":"customer_churned","customer_id":"a}x{","occurred_at":"2026-01-01T00:00:00Z"}`)); err != nil {
		t.Fatalf("braces inside an id are harmless and must be accepted: %v", err)
	}
}

// BenchmarkEventTime is the merge's cost per record: the byte search for
// the usual record, the scan for one whose name is nested before the
// event's own.
func BenchmarkEventTime(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"order_placed", spectest.Placed},
		{"nested_first", `{"meta":{"occurred_at":"2001-01-01T00:00:00Z"},` + spectest.Placed[1:]},
	} {
		in := []byte(bc.in)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := EventTime(in); !ok {
					b.Fatal("no time")
				}
			}
		})
	}
}
