package testutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// CloudEventHeaders are the headers every change and segment event must
// carry (CloudEvents 1.0, Kafka protocol binding, binary content mode).
var CloudEventHeaders = []string{"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"}

// CheckCloudEvent checks, independently of the code that builds them, that
// a change event's headers are valid CloudEvents binary-mode headers that
// agree with its body and key: specversion 1.0, ce_id = event_id, ce_type =
// schema, ce_time = occurred_at (RFC 3339), ce_subject = customer_id = the
// key, ce_source = source (a URI-reference), content-type
// application/json; each header exactly once, and no other ce_ header.
// It returns the headers as a map (for comparing copies).
func CheckCloudEvent(headers [][2]string, key, value []byte, source string) (map[string]string, error) {
	h := map[string]string{}
	var errs []error
	for _, kv := range headers {
		if _, dup := h[kv[0]]; dup {
			errs = append(errs, fmt.Errorf("header %s twice", kv[0]))
		}
		h[kv[0]] = kv[1]
	}
	known := map[string]bool{}
	for _, k := range CloudEventHeaders {
		known[k] = true
		if _, ok := h[k]; !ok {
			errs = append(errs, fmt.Errorf("header %s missing", k))
		}
	}
	for k := range h {
		if strings.HasPrefix(k, "ce_") && !known[k] {
			errs = append(errs, fmt.Errorf("unexpected header %s", k))
		}
	}
	var body struct {
		Schema     string `json:"schema"`
		EventID    string `json:"event_id"`
		CustomerID string `json:"customer_id"`
		OccurredAt string `json:"occurred_at"`
	}
	if err := json.Unmarshal(value, &body); err != nil {
		return h, fmt.Errorf("body is not JSON: %w", err)
	}
	want := [][3]string{
		{"ce_specversion", h["ce_specversion"], "1.0"},
		{"ce_id", h["ce_id"], body.EventID},
		{"ce_type", h["ce_type"], body.Schema},
		{"ce_time", h["ce_time"], body.OccurredAt},
		{"ce_subject", h["ce_subject"], body.CustomerID},
		{"ce_subject (the key)", h["ce_subject"], string(key)},
		{"ce_source", h["ce_source"], source},
		{"content-type", h["content-type"], "application/json"},
	}
	for _, w := range want {
		if w[1] != w[2] {
			errs = append(errs, fmt.Errorf("%s = %q, want %q", w[0], w[1], w[2]))
		}
	}
	if body.EventID == "" || body.Schema == "" {
		errs = append(errs, errors.New("body has no event_id or schema"))
	}
	if _, err := time.Parse(time.RFC3339Nano, h["ce_time"]); err != nil {
		errs = append(errs, fmt.Errorf("ce_time is not RFC 3339: %w", err))
	}
	if _, err := url.Parse(h["ce_source"]); err != nil || h["ce_source"] == "" {
		errs = append(errs, fmt.Errorf("ce_source %q is not a URI-reference", h["ce_source"]))
	}
	return h, errors.Join(errs...)
}

// SameHeaders reports how two copies' header maps differ ("" when they
// are the same).
func SameHeaders(a, b map[string]string) string {
	var diff []string
	for k, v := range a {
		if b[k] != v {
			diff = append(diff, fmt.Sprintf("%s: %q vs %q", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: absent vs %q", k, v))
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, "; ")
}
