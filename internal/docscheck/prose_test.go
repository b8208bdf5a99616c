package docscheck

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/report"
)

// jsonNames is every JSON member name of v's type and of the structs it
// holds (through pointers, slices and maps).
func jsonNames(t reflect.Type, out map[string]bool) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		jsonNames(t.Elem(), out)
	case reflect.Struct:
		if out[t.String()] {
			return
		}
		out[t.String()] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				out[name] = true
			}
			jsonNames(f.Type, out)
		}
	}
}

// docMetric is an ltv_ name in a document: a metric (ltv_ready,
// ltv_batch_duration_seconds_count), a family of them (ltv_state_cache_*),
// or a member of GET /v1/stats's object (ltv_cac).
var docMetric = regexp.MustCompile(`\bltv_[a-z0-9_]*[a-z0-9](_?\*)?`)

// Every ltv_ metric a page names, in a table or in a sentence, is one the
// consumer or the read API registers (a histogram's _bucket, _sum and
// _count included), so a reader who queries it finds a series; a name
// ending in * must match one. An ltv_ name that is a member of the
// statistics' JSON object (cohorts.md) is not a metric.
func TestDocumentedMetricsExist(t *testing.T) {
	names, _ := registered(t)
	for _, f := range registeredFamilies(t) {
		names[f.GetName()] = true // a histogram by its own name
	}
	fields := map[string]bool{}
	jsonNames(reflect.TypeOf(report.Stats{}), fields)
	if !fields["ltv_cac"] || !fields["ltv_histogram"] {
		t.Fatalf("the JSON names of report.Stats lack ltv_cac or ltv_histogram: %v", fields)
	}
	n := docMatches(t, docMetric, func(rel string, line int, _ string, m []string) {
		name := m[0]
		if prefix, ok := strings.CutSuffix(name, "*"); ok {
			for reg := range names {
				if strings.HasPrefix(reg, prefix) {
					return
				}
			}
			t.Errorf("%s:%d: %s matches no registered metric", rel, line, name)
			return
		}
		if !names[name] && !fields[name] {
			t.Errorf("%s:%d: %s is neither a registered metric nor a member of GET /v1/stats", rel, line, name)
		}
	})
	if n < 30 {
		t.Fatalf("found only %d ltv_ names in the documents", n)
	}
}

// docMakeTarget is a make target a page names: `make bench` in code font,
// or a `make …` command line of a code block (after any VAR=value).
var docMakeTarget = regexp.MustCompile("`make ([a-z][a-z0-9-]*)|^\\s*(?:[A-Z_]+=\\S+ +)*make ([a-z][a-z0-9-]*)")

// Every make target a page names is one the Makefile has.
func TestDocumentedMakeTargetsExist(t *testing.T) {
	makefile := readRepoFile(t, "Makefile")
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`).FindAllStringSubmatch(makefile, -1) {
		targets[m[1]] = true
	}
	n := docMatches(t, docMakeTarget, func(rel string, line int, _ string, m []string) {
		name := m[1] + m[2]
		if !targets[name] {
			t.Errorf("%s:%d: make %s: the Makefile has no such target", rel, line, name)
		}
	})
	if n < 20 {
		t.Fatalf("found only %d make targets in the documents", n)
	}
}
