package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// The CloudEvents 1.0 attributes of every change event, as Kafka headers
// of the CloudEvents Kafka protocol binding in binary content mode: the
// record value is the event data (the SPEC §5/§8 document, unchanged) and
// each attribute is a header named ce_<attribute>, so routers (Knative
// Eventing, Dapr, Argo Events …) can filter on type, subject or source
// without parsing the value.
const (
	HeaderCESpecVersion = "ce_specversion"
	HeaderCEID          = "ce_id"
	HeaderCESource      = "ce_source"
	HeaderCEType        = "ce_type"
	HeaderCETime        = "ce_time"
	HeaderCESubject     = "ce_subject"
	// HeaderContentType carries the datacontenttype attribute: the binding
	// maps it to the plain content-type header, not to ce_datacontenttype.
	HeaderContentType = "content-type"

	// CESpecVersion is the CloudEvents version the headers follow.
	CESpecVersion = "1.0"
	// ContentTypeJSON is the data content type of every change event.
	ContentTypeJSON = "application/json"
)

// ceHeaderCount is how many headers ceHeaders adds to a message.
const ceHeaderCount = 7

// EventSourceFor is the default ce_source of the updater that consumes as
// consumer group group: "/ltv-stream/<group>". Every instance of one
// deployment shares its group, so they share one source, and ce_id (the
// event_id) is unique within it; another deployment (another group) is
// another source. The group is path-escaped, so any group name gives a
// valid URI-reference.
func EventSourceFor(group string) string { return "/ltv-stream/" + url.PathEscape(group) }

// DefaultEventSource is the ce_source when none is configured: that of the
// default consumer group.
var DefaultEventSource = EventSourceFor("ltv-updater")

// ValidateEventSource reports a ce_source that is not a non-empty
// URI-reference (RFC 3986) made of printable ASCII: the CloudEvents source
// attribute must be one, and Kafka header values must stay readable by
// every subscriber.
func ValidateEventSource(s string) error {
	if s == "" {
		return errors.New("event source: empty (it must be a URI-reference such as /ltv-stream/ltv-updater)")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"<>\^`+"`{|}"), c) >= 0 {
			return fmt.Errorf("event source %q: character %q is not allowed in a URI-reference (percent-encode it)", s, c)
		}
	}
	if _, err := url.Parse(s); err != nil {
		return fmt.Errorf("event source %q is not a URI-reference: %w", s, err)
	}
	return nil
}

// Header values that are the same on every message. Kafka clients do not
// modify header values, so one copy is shared.
var (
	ceSpecVersionValue = []byte(CESpecVersion)
	contentTypeValue   = []byte(ContentTypeJSON)
	ceTypeChange       = []byte(aggregate.SchemaChange)
	ceTypeSegment      = []byte(aggregate.SchemaSegment)
	changeDocHead      = []byte(`{"schema":"` + aggregate.SchemaChange + `","event_id":"`)
	segmentDocHead     = []byte(`{"schema":"` + aggregate.SchemaSegment + `","event_id":"`)
	emittedAtKey       = []byte(`","emitted_at":"`)
	occurredAtKey      = []byte(`"occurred_at":"`)
)

// eventIDLen is the length of every event_id the updater makes (a UUID).
const eventIDLen = 36

// ceAttrs are the attributes a change event's headers take from its
// document.
type ceAttrs struct {
	typ, id, time []byte
}

// ceHeaders appends to dst the CloudEvents headers of the change event
// doc, keyed by the customer id key, and reports whether it could: false
// (dst unchanged) for a document that names no schema, event_id or
// occurred_at, which the updater never writes.
//
// The headers are a function of the document's bytes, the key and the
// configured source alone, never of the moment of publication: a pending
// event published again after a crash is the same bytes under the same
// key, so it carries the same headers as its first publication. ce_time is
// the document's occurred_at: the event time of the input event (or due
// time of the timer) that caused the change, which is when, in the
// stream's own time, the change happened, and which a replay reproduces;
// emitted_at, the wall clock, says only when this process got to it.
func ceHeaders(dst []Header, doc, key, source []byte) ([]Header, bool) {
	a, ok := ceAttrsOf(doc)
	if !ok {
		return dst, false
	}
	return append(dst,
		Header{Key: HeaderCESpecVersion, Value: ceSpecVersionValue},
		Header{Key: HeaderCEID, Value: a.id},
		Header{Key: HeaderCESource, Value: source},
		Header{Key: HeaderCEType, Value: a.typ},
		Header{Key: HeaderCETime, Value: a.time},
		Header{Key: HeaderCESubject, Value: key},
		Header{Key: HeaderContentType, Value: contentTypeValue},
	), true
}

// ceAttrsOf finds type, id and time in a change document. The documents
// the updater writes (aggregate's AppendJSON) start with schema and
// event_id and end with occurred_at and emitted_at, so the fields are read
// in place, at a fixed offset and by a short scan back from the end,
// without parsing the rest and without copying (the values are sub-slices
// of doc). Anything else is parsed as JSON.
func ceAttrsOf(doc []byte) (ceAttrs, bool) {
	var a ceAttrs
	head := changeDocHead
	a.typ = ceTypeChange
	if !bytes.HasPrefix(doc, head) {
		head, a.typ = segmentDocHead, ceTypeSegment
	}
	if !bytes.HasPrefix(doc, head) || len(doc) < len(head)+eventIDLen+1 || doc[len(head)+eventIDLen] != '"' {
		return ceAttrsParsed(doc)
	}
	a.id = doc[len(head) : len(head)+eventIDLen : len(head)+eventIDLen]
	if bytes.IndexByte(a.id, '"') >= 0 {
		return ceAttrsParsed(doc)
	}
	// …,"occurred_at":"<time>","emitted_at":"<time>"}: neither time holds
	// a quote, and a quote inside a string value is escaped, so the
	// unescaped quotes found scanning back are the keys' own.
	end := len(doc) - 2
	if end < 0 || doc[end] != '"' || doc[end+1] != '}' {
		return ceAttrsParsed(doc)
	}
	open := bytes.LastIndexByte(doc[:end], '"')
	if open < 0 || !bytes.HasSuffix(doc[:open+1], emittedAtKey) {
		return ceAttrsParsed(doc)
	}
	tEnd := open + 1 - len(emittedAtKey)
	tStart := bytes.LastIndexByte(doc[:tEnd], '"') + 1
	if tStart <= 0 || tStart == tEnd || !bytes.HasSuffix(doc[:tStart], occurredAtKey) {
		return ceAttrsParsed(doc)
	}
	a.time = doc[tStart:tEnd:tEnd]
	return a, true
}

// ceAttrsParsed is ceAttrsOf for a document not laid out as the updater
// writes them (none is, today): the fields are read by a JSON parse, and
// the time must be RFC 3339.
func ceAttrsParsed(doc []byte) (ceAttrs, bool) {
	var d struct {
		Schema     string `json:"schema"`
		EventID    string `json:"event_id"`
		OccurredAt string `json:"occurred_at"`
	}
	if err := json.Unmarshal(doc, &d); err != nil || d.Schema == "" || d.EventID == "" {
		return ceAttrs{}, false
	}
	if _, err := time.Parse(time.RFC3339Nano, d.OccurredAt); err != nil {
		return ceAttrs{}, false
	}
	return ceAttrs{typ: []byte(d.Schema), id: []byte(d.EventID), time: []byte(d.OccurredAt)}, true
}
