package sim

import (
	"strings"
)

// badKinds are the rejection cases of SPEC §2 (plus hardening cases). Each
// builds the bad value from a valid-looking base event.
var badKinds = []struct {
	reason string
	make   func(g *Generator, cust string) []byte
}{
	{"malformed JSON", func(g *Generator, c string) []byte {
		v := g.baseOrder(c)
		return v[:len(v)/2]
	}},
	{"missing required field", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"amount":"12.50",`, ``, 1))
	}},
	{"empty required field", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"order_id":"o-bad"`, `"order_id":""`, 1))
	}},
	{"unknown type", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"order_placed"`, `"order_cancelled"`, 1))
	}},
	{"negative amount", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"12.50"`, `"-12.50"`, 1))
	}},
	{"non-numeric amount", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"12.50"`, `"twelve"`, 1))
	}},
	{"margin outside [0,1]", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"0.40"`, `"1.40"`, 1))
	}},
	{"wrong currency", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"SEK"`, `"XXX"`, 1))
	}},
	{"invalid UTF-8", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"paid_search"`, "\"paid\xff\xfe\"", 1))
	}},
	{"timestamp not RFC 3339", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `T12:00:00Z`, ` 12:00`, 1))
	}},
	{"duplicate JSON key", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"amount":"12.50"`, `"amount":"12.50","amount":"99.00"`, 1))
	}},
	{"deeply nested JSON", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"channel"`, `"x":`+strings.Repeat("[", 64)+strings.Repeat("]", 64)+`,"channel"`, 1))
	}},
	{"huge number", func(g *Generator, c string) []byte {
		return []byte(strings.Replace(string(g.baseOrder(c)), `"12.50"`, `1e400`, 1))
	}},
	{"missing lifecycle customer", func(g *Generator, c string) []byte {
		b := []byte(`{"schema":"ltv.lifecycle.v1","event_id":"`)
		b = g.appendUUID(b)
		return append(b, `","type":"customer_churned","occurred_at":"2026-01-01T00:00:00Z"}`...)
	}},
}

// baseOrder is a valid order the bad kinds break in one place.
func (g *Generator) baseOrder(cust string) []byte {
	b := []byte(`{"schema":"ltv.order.v1","event_id":"`)
	b = g.appendUUID(b)
	b = append(b, `","type":"order_placed","customer_id":"`...)
	b = append(b, cust...)
	b = append(b, `","order_id":"o-bad","amount":"12.50","currency":"`...)
	b = append(b, g.cfg.Currency...)
	b = append(b, `","gross_margin":"0.40","occurred_at":"2026-01-01T12:00:00Z","channel":"paid_search"}`...)
	return b
}

func (g *Generator) badRecord() Record {
	cust := g.customers[g.rng.IntN(len(g.customers))].id
	k := badKinds[g.rng.IntN(len(badKinds))]
	topic := TopicOrders
	if strings.HasPrefix(k.reason, "missing lifecycle") {
		topic = TopicLifecycle
	}
	return Record{Topic: topic, Key: []byte(cust), Value: k.make(g, cust), OccurredAt: g.lastTime, Label: LabelBad, BadReason: k.reason}
}

func (g *Generator) oversized() Record {
	cust := g.customers[g.rng.IntN(len(g.customers))].id
	base := string(g.baseOrder(cust))
	pad := strings.Repeat("x", g.cfg.OversizeBytes)
	v := strings.Replace(base, `"channel"`, `"padding":"`+pad+`","channel"`, 1)
	return Record{Topic: TopicOrders, Key: []byte(cust), Value: []byte(v), OccurredAt: g.lastTime, Label: LabelBad, BadReason: "oversized value"}
}
