package docscheck

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// promqlRefs are the metric and label names a PromQL expression refers to.
type promqlRefs struct {
	metrics, labels []string
}

var (
	// promqlString is a string literal (label values, Grafana variables
	// inside them).
	promqlString = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// promqlMatchers is a label matcher list; promqlMatcher one matcher.
	promqlMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promqlMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// promqlRange is a range or subquery selector ([5m], [$__rate_interval], [15m:1m]).
	promqlRange = regexp.MustCompile(`\[[^\]]*\]`)
	// promqlGrouping is a by/without/on/ignoring/group_x clause and its
	// label list.
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlLabel    = regexp.MustCompile(`[a-zA-Z_][a-zA-Z0-9_]*`)
	// promqlKeywords are PromQL's operators and keywords, and the
	// aggregation operators, which may stand before a grouping clause
	// rather than a parenthesis.
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "offset": true, "bool": true, "inf": true, "nan": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true,
	}
)

// parsePromQL finds, lightly but carefully, the metric names and label
// names a PromQL expression refers to: string literals are dropped; label
// names are read from matchers and grouping clauses; ranges are dropped;
// what remains is operators, numbers, function calls (a name followed by
// a parenthesis) and metric names. It does not validate the expression:
// Prometheus and Grafana do that; this is about names.
func parsePromQL(expr string) promqlRefs {
	var r promqlRefs
	s := promqlString.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllStringFunc(s, func(m string) string {
		for _, sub := range promqlMatcher.FindAllStringSubmatch(m, -1) {
			r.labels = append(r.labels, sub[1])
		}
		return " "
	})
	s = promqlRange.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllStringFunc(s, func(m string) string {
		list := promqlGrouping.FindStringSubmatch(m)[1]
		r.labels = append(r.labels, promqlLabel.FindAllString(list, -1)...)
		return " "
	})
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.' || s[loc[0]-1] == '$') {
			continue // a number's exponent, a duration's unit, a variable
		}
		if promqlKeywords[strings.ToLower(name)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		r.metrics = append(r.metrics, name)
	}
	sort.Strings(r.metrics)
	sort.Strings(r.labels)
	return r
}

func TestParsePromQL(t *testing.T) {
	cases := []struct {
		expr            string
		metrics, labels []string
	}{
		{`sum by (le) (rate(ltv_batch_duration_seconds_bucket{job=~"$job"}[$__rate_interval]))`,
			[]string{"ltv_batch_duration_seconds_bucket"}, []string{"job", "le"}},
		{`histogram_quantile(0.99, sum(rate(a_bucket[5m])) by (le, instance))`, []string{"a_bucket"}, []string{"instance", "le"}},
		{`time() - max by (namespace, job, partition) (ltv_stream_time_seconds) > 3600`,
			[]string{"ltv_stream_time_seconds"}, []string{"job", "namespace", "partition"}},
		{"a > 1e9 and b offset 15m unless on(x) group_left(y) c{d!=\"e{}\",f!~'g'}",
			[]string{"a", "b", "c"}, []string{"d", "f", "x", "y"}},
		{`up{job="ltv-stream"} == 0`, []string{"up"}, []string{"job"}},
		{`deriv(sum(x)[15m:1m]) > 0 or vector(0)`, []string{"x"}, nil},
		{`sum(rate(ltv_typo_total[1m])) / sum(rate(ltv_events_consumed_total[1m]))`,
			[]string{"ltv_events_consumed_total", "ltv_typo_total"}, nil},
	}
	for _, c := range cases {
		got := parsePromQL(c.expr)
		if !slices.Equal(got.metrics, c.metrics) || !slices.Equal(got.labels, c.labels) {
			t.Errorf("%s:\n metrics %v, want %v\n labels %v, want %v", c.expr, got.metrics, c.metrics, got.labels, c.labels)
		}
	}
}
