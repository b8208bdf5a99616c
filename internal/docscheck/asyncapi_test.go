package docscheck

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/ltv-stream/ltv-stream/schemas"
	"gopkg.in/yaml.v3"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// node is a decoded YAML or JSON value.
type node = map[string]any

// load reads and decodes the repository's file rel (JSON when its name
// ends in .json, else YAML).
func load(t *testing.T, rel string) node {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	var doc node
	if strings.HasSuffix(rel, ".json") {
		err = json.Unmarshal(raw, &doc)
	} else {
		err = yaml.Unmarshal(raw, &doc)
	}
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return doc
}

// asyncAPI is docs/asyncapi.yaml, decoded.
func asyncAPI(t *testing.T) node { return load(t, "docs/asyncapi.yaml") }

// at walks doc along path, following local $refs ("#/a/b") on the way;
// a missing step fails the test.
func at(t *testing.T, doc node, path ...string) any {
	t.Helper()
	var cur any = doc
	for i, step := range path {
		cur = deref(t, doc, cur)
		m, ok := cur.(node)
		if !ok {
			t.Fatalf("%s is not a mapping", strings.Join(path[:i], "."))
		}
		if cur, ok = m[step]; !ok {
			t.Fatalf("%s is missing", strings.Join(path[:i+1], "."))
		}
	}
	return deref(t, doc, cur)
}

// deref follows v's local $ref, if it has one.
func deref(t *testing.T, doc node, v any) any {
	t.Helper()
	for {
		m, ok := v.(node)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return v
		}
		v = at(t, doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
}

func str(t *testing.T, doc node, path ...string) string {
	t.Helper()
	s, ok := at(t, doc, path...).(string)
	if !ok {
		t.Fatalf("%s is not a string", strings.Join(path, "."))
	}
	return s
}

func keys(m node) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a list", v)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.(string))
	}
	sort.Strings(out)
	return out
}

// defaults is the consumer's configuration with nothing set.
func defaults(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// channelSpec is what the code says about one channel of the document.
type channelSpec struct {
	channel, topic, message, schema string
	receive                         bool
	schemaFile                      string // "" for the DLQ (any bytes)
}

func channelSpecs(cfg *config.Config) []channelSpec {
	return []channelSpec{
		{"orders", cfg.OrdersTopic, "order", aggregate.SchemaOrder, true, "order.v1.json"},
		{"customerLifecycle", cfg.LifecycleTopic, "lifecycle", aggregate.SchemaLifecycle, true, "lifecycle.v1.json"},
		{"ltvChanges", cfg.ChangesTopic, "change", aggregate.SchemaChange, false, "change.v1.json"},
		{"ltvSegments", cfg.SegmentsTopic, "segment", aggregate.SchemaSegment, false, "segment.v1.json"},
		{"ltvDlq", cfg.DLQTopic, "deadLetter", "", false, ""},
	}
}

// The channels are the code's default topics, each with the message of
// its schema, the payload the schema file of that name, and one operation
// in the right direction (the inputs read as the default group).
func TestAsyncAPITopicsAndSchemas(t *testing.T) {
	doc := asyncAPI(t)
	cfg := defaults(t)
	if v := str(t, doc, "asyncapi"); !strings.HasPrefix(v, "3.") {
		t.Fatalf("asyncapi %q, want 3.x", v)
	}
	specs := channelSpecs(cfg)
	var names []string
	for _, c := range specs {
		names = append(names, c.channel)
	}
	sort.Strings(names)
	if got := keys(at(t, doc, "channels").(node)); !slices.Equal(got, names) {
		t.Fatalf("channels %v, want %v", got, names)
	}
	opsByChannel := map[string][]string{}
	for name, op := range at(t, doc, "operations").(node) {
		ref := op.(node)["channel"].(node)["$ref"].(string)
		opsByChannel[strings.TrimPrefix(ref, "#/channels/")] = append(opsByChannel[strings.TrimPrefix(ref, "#/channels/")], name)
	}
	for _, c := range specs {
		t.Run(c.channel, func(t *testing.T) {
			if got := str(t, doc, "channels", c.channel, "address"); got != c.topic {
				t.Errorf("address %q, want the default topic %q", got, c.topic)
			}
			if got := str(t, doc, "channels", c.channel, "bindings", "kafka", "topic"); got != c.topic {
				t.Errorf("kafka binding topic %q, want %q", got, c.topic)
			}
			msgs := at(t, doc, "channels", c.channel, "messages").(node)
			if len(msgs) != 1 || msgs[c.message] == nil {
				t.Fatalf("messages %v, want only %s", keys(msgs), c.message)
			}
			if c.schema != "" {
				if got := str(t, doc, "channels", c.channel, "messages", c.message, "name"); got != c.schema {
					t.Errorf("message name %q, want the schema %q", got, c.schema)
				}
				ref := str(t, doc, "components", "messages", c.message, "payload", "$ref")
				if ref != "../schemas/"+c.schemaFile {
					t.Errorf("payload $ref %q, want ../schemas/%s", ref, c.schemaFile)
				}
				if _, err := schemas.Files.ReadFile(c.schemaFile); err != nil {
					t.Errorf("payload schema: %v", err)
				}
			}
			ops := opsByChannel[c.channel]
			if len(ops) != 1 {
				t.Fatalf("operations %v, want one", ops)
			}
			want := "send"
			if c.receive {
				want = "receive"
				if got := strs(t, at(t, doc, "operations", ops[0], "bindings", "kafka", "groupId", "enum")); !slices.Equal(got, []string{cfg.GroupID}) {
					t.Errorf("groupId %v, want the default group %q", got, cfg.GroupID)
				}
			}
			if got := str(t, doc, "operations", ops[0], "action"); got != want {
				t.Errorf("operation %s action %q, want %q", ops[0], got, want)
			}
		})
	}
}

// The headers the document promises are those the code writes: the
// CloudEvents headers on both change topics, the dead-letter headers on
// the DLQ, and the truncation headers where a record is cut.
func TestAsyncAPIHeaders(t *testing.T) {
	doc := asyncAPI(t)
	cfg := defaults(t)
	ceRequired := []string{pipeline.HeaderCESpecVersion, pipeline.HeaderCEID, pipeline.HeaderCESource, pipeline.HeaderCEType,
		pipeline.HeaderCETime, pipeline.HeaderCESubject, pipeline.HeaderContentType}
	sort.Strings(ceRequired)
	truncation := []string{stream.HeaderTruncated, stream.HeaderOriginalSize, stream.HeaderOriginalSHA256, stream.HeaderOriginalKeySize}
	for _, msg := range []string{"change", "segment"} {
		if got := strs(t, at(t, doc, "components", "messages", msg, "headers", "required")); !slices.Equal(got, ceRequired) {
			t.Errorf("%s: required headers %v, want %v", msg, got, ceRequired)
		}
		props := at(t, doc, "components", "messages", msg, "headers", "properties").(node)
		if want := append(append([]string(nil), ceRequired...), truncation...); !sameSet(keys(props), want) {
			t.Errorf("%s: headers %v, want %v", msg, keys(props), want)
		}
	}
	h := []string{"components", "schemas", "cloudEventHeaders", "properties"}
	checks := map[string][2]string{
		"ce_specversion const": {str(t, doc, append(h, "ce_specversion", "const")...), pipeline.CESpecVersion},
		"content-type const":   {str(t, doc, append(h, "content-type", "const")...), pipeline.ContentTypeJSON},
		"ce_source default":    {str(t, doc, append(h, "ce_source", "default")...), pipeline.EventSourceFor(cfg.GroupID)},
		"ce_source default=":   {cfg.EventSource, pipeline.EventSourceFor(cfg.GroupID)},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s %q, want %q", name, c[0], c[1])
		}
	}
	if got, want := strs(t, at(t, doc, append(h, "ce_type", "enum")...)), []string{aggregate.SchemaChange, aggregate.SchemaSegment}; !slices.Equal(got, want) {
		t.Errorf("ce_type enum %v, want %v", got, want)
	}
	dlqRequired := []string{pipeline.HeaderError, pipeline.HeaderTopic, pipeline.HeaderPartition, pipeline.HeaderOffset}
	if got := strs(t, at(t, doc, "components", "messages", "deadLetter", "headers", "required")); !sameSet(got, dlqRequired) {
		t.Errorf("dead letter: required headers %v, want %v", got, dlqRequired)
	}
	props := at(t, doc, "components", "messages", "deadLetter", "headers", "properties").(node)
	if want := append(append([]string(nil), dlqRequired...), truncation...); !sameSet(keys(props), want) {
		t.Errorf("dead letter: headers %v, want %v", keys(props), want)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// Every message example is real: an input example is accepted by the
// decoder, an output example validates against its schema and its headers
// are the CloudEvents headers the code would give it, and the dead-letter
// example is refused by the decoder with the error its header states.
func TestAsyncAPIExamples(t *testing.T) {
	doc := asyncAPI(t)
	cfg := defaults(t)
	dec, err := decode.New(decode.Config{})
	if err != nil {
		t.Fatal(err)
	}
	readAt := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	for _, c := range channelSpecs(cfg) {
		examples, _ := at(t, doc, "components", "messages", c.message, "examples").([]any)
		if len(examples) == 0 {
			t.Errorf("%s has no examples", c.message)
		}
		for _, e := range examples {
			ex := e.(node)
			name, _ := ex["name"].(string)
			t.Run(c.message+"/"+name, func(t *testing.T) {
				headers := map[string]string{}
				var pairs [][2]string
				if hs, ok := ex["headers"].(node); ok {
					for _, k := range keys(hs) {
						headers[k] = hs[k].(string)
						pairs = append(pairs, [2]string{k, headers[k]})
					}
				}
				if c.schema == "" {
					value := []byte(ex["payload"].(string))
					_, err := dec.DecodeRecord([]byte("c-1"), value, readAt)
					if err == nil || err.Error() != headers[pipeline.HeaderError] {
						t.Fatalf("decoder says %v, the example's error header %q", err, headers[pipeline.HeaderError])
					}
					if headers[pipeline.HeaderTopic] != cfg.OrdersTopic && headers[pipeline.HeaderTopic] != cfg.LifecycleTopic {
						t.Errorf("source topic header %q is not an input topic", headers[pipeline.HeaderTopic])
					}
					return
				}
				value, err := json.Marshal(ex["payload"])
				if err != nil {
					t.Fatal(err)
				}
				if err := schemas.Validate(value); err != nil {
					t.Fatalf("payload: %v", err)
				}
				var head struct {
					Schema     string `json:"schema"`
					CustomerID string `json:"customer_id"`
				}
				if err := json.Unmarshal(value, &head); err != nil || head.Schema != c.schema {
					t.Fatalf("payload schema %q, want %q (%v)", head.Schema, c.schema, err)
				}
				if c.receive {
					if _, err := dec.DecodeRecord([]byte(head.CustomerID), value, readAt); err != nil {
						t.Fatalf("the decoder refuses the example: %v", err)
					}
					return
				}
				if _, err := testutil.CheckCloudEvent(pairs, []byte(head.CustomerID), value, cfg.EventSource); err != nil {
					t.Fatalf("headers: %v", err)
				}
			})
		}
	}
}
