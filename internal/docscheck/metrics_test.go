package docscheck

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/metrics"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
)

// targetLabels are the labels Prometheus adds to every scraped series
// (the Prometheus Operator's ServiceMonitor adds the Kubernetes ones).
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// syntheticMetrics are series Prometheus makes itself for every target.
var syntheticMetrics = []string{"up"}

// registered is what the consumer's and the read API's /metrics can
// expose: every series name (a histogram's _bucket, _sum and _count) and
// every label name. Each collector is exercised once so that every vector
// has a child to gather.
func registered(t *testing.T) (names, labels map[string]bool) {
	t.Helper()
	families := registeredFamilies(t)
	names, labels = map[string]bool{}, map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"], labels["le"] = true, true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"], labels["quantile"] = true, true, true
		default:
			names[name] = true
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
	}
	for _, l := range targetLabels {
		labels[l] = true
	}
	for _, n := range syntheticMetrics {
		names[n] = true
	}
	return names, labels
}

// registeredFamilies is every metric family the consumer's and the read
// API's /metrics can expose, each collector exercised once so that every
// vector has a child to gather.
func registeredFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	m := metrics.New()
	m.StateCache(func() store.CacheStats { return store.CacheStats{} })
	m.PredictionFailures(func() int64 { return 0 })
	m.BatchProcessed(pipeline.BatchStats{Records: 1, Duplicates: 1, Redelivered: 1, Duration: time.Millisecond,
		StreamTimes: map[int32]time.Time{0: time.Now()}, Latencies: []time.Duration{time.Millisecond}})
	m.TierChanged("", "bronze", true)
	m.SegmentChanged("", "new")
	m.Lag("orders", 0, 1)
	m.OutputCut("ltv-dlq", 1)
	m.BatchFailed()
	metrics.NewHealth(m, time.Second, metrics.Check{Name: "redis"}).Set("processing", nil)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return append(families, apiExposed(t)...)
}

// apiExposed is what `ltvctl serve`'s /metrics shows after one request
// (an unknown path: the server answers it without Redis), read from its
// own handler as Prometheus would scrape it.
func apiExposed(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled here
	t.Cleanup(func() { _ = rc.Close() })
	srv, err := api.New(api.Config{Redis: rc})
	if err != nil {
		t.Fatal(err)
	}
	srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/no-such-path", nil))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("read API /metrics: %v", err)
	}
	if byName["ltv_api_requests_total"] == nil {
		t.Fatalf("read API /metrics lacks ltv_api_requests_total after a request")
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	return out
}

// unknownRefs lists the metric and label names expr refers to that
// neither the consumer nor the read API exposes.
func unknownRefs(expr string, names, labels map[string]bool) []string {
	var out []string
	refs := parsePromQL(expr)
	for _, n := range refs.metrics {
		if !names[n] {
			out = append(out, "metric "+n)
		}
	}
	for _, l := range refs.labels {
		if !labels[l] {
			out = append(out, "label "+l)
		}
	}
	return out
}

// The checker finds what it must: a misspelt metric, an unknown label.
func TestUnknownRefsAreFound(t *testing.T) {
	names, labels := registered(t)
	for _, want := range []string{"ltv_events_consumed_total", "ltv_stream_time_seconds", "ltv_batch_failures_total",
		"ltv_dependency_up", "ltv_batch_duration_seconds_bucket", "ltv_state_cache_hits_total", "go_goroutines"} {
		if !names[want] {
			t.Errorf("%s is not among the registered names", want)
		}
	}
	for expr, want := range map[string][]string{
		`sum(rate(ltv_events_consumed_total[5m]))`:                     nil,
		`sum(rate(ltv_events_consumd_total[5m]))`:                      {"metric ltv_events_consumd_total"},
		`sum by (tier) (ltv_tier_changes_total{direction="up"})`:       nil,
		`sum by (customer) (ltv_tier_changes_total{direction="up"})`:   {"label customer"},
		`histogram_quantile(0.9, rate(ltv_event_latency_seconds[5m]))`: {"metric ltv_event_latency_seconds"},
	} {
		if got := unknownRefs(expr, names, labels); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", expr, got, want)
		}
	}
}

// dashboard is deploy/grafana/ltv-stream.json, decoded.
func dashboard(t *testing.T) node { return load(t, "deploy/grafana/ltv-stream.json") }

// allPanels flattens the dashboard's panels, those inside collapsed rows
// included.
func allPanels(d node) []node {
	var out []node
	var walk func(list []any)
	walk = func(list []any) {
		for _, p := range list {
			pn := p.(node)
			out = append(out, pn)
			if sub, ok := pn["panels"].([]any); ok {
				walk(sub)
			}
		}
	}
	list, _ := d["panels"].([]any)
	walk(list)
	return out
}

var (
	legendLabel  = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	labelValues  = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	annotationLb = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// Every query of the dashboard names only metrics and labels the consumer
// or the read API exposes, and the dashboard is well formed: unique panel
// ids, panels inside the 24-column grid, each query on the chosen
// Prometheus data source with a unique refId.
func TestDashboard(t *testing.T) {
	names, labels := registered(t)
	d := dashboard(t)
	if uid, _ := d["uid"].(string); uid == "" || len(uid) > 40 {
		t.Errorf("dashboard uid %q", uid)
	}
	vars := map[string]bool{}
	for _, v := range at(t, d, "templating", "list").([]any) {
		vn := v.(node)
		vars[vn["name"].(string)] = true
		if vn["type"] == "query" {
			q := vn["definition"].(string)
			m := labelValues.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(metric, label)", vn["name"], q)
				continue
			}
			if !names[m[1]] || !labels[m[2]] {
				t.Errorf("variable %s: %q names an unknown metric or label", vn["name"], q)
			}
		}
	}
	if !vars["datasource"] {
		t.Fatal("no datasource variable")
	}
	ids := map[float64]bool{}
	queries := 0
	for _, p := range allPanels(d) {
		title, _ := p["title"].(string)
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel %q: id %v used twice", title, id)
		}
		ids[id] = true
		g := p["gridPos"].(node)
		if x, w := g["x"].(float64), g["w"].(float64); x < 0 || w <= 0 || x+w > 24 {
			t.Errorf("panel %q: gridPos %v outside the 24 columns", title, g)
		}
		if p["type"] == "row" {
			continue
		}
		if desc, _ := p["description"].(string); desc == "" {
			t.Errorf("panel %q has no description", title)
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no queries", title)
		}
		refs := map[string]bool{}
		for _, tg := range targets {
			tn := tg.(node)
			queries++
			expr, _ := tn["expr"].(string)
			ref, _ := tn["refId"].(string)
			if refs[ref] || ref == "" {
				t.Errorf("panel %q: refId %q empty or repeated", title, ref)
			}
			refs[ref] = true
			if ds, _ := tn["datasource"].(node); ds == nil || ds["uid"] != "${datasource}" || ds["type"] != "prometheus" {
				t.Errorf("panel %q query %s: data source %v, want the ${datasource} variable", title, ref, tn["datasource"])
			}
			if bad := unknownRefs(expr, names, labels); len(bad) > 0 {
				t.Errorf("panel %q query %s: %v in %s", title, ref, bad, expr)
			}
			legend, _ := tn["legendFormat"].(string)
			for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
				if !labels[m[1]] {
					t.Errorf("panel %q query %s: legend names unknown label %s", title, ref, m[1])
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries found: is the dashboard read right?", queries)
	}
}

// rules is deploy/base/prometheusrule.yaml's rules.
func rules(t *testing.T) []node {
	t.Helper()
	var out []node
	for _, g := range at(t, load(t, "deploy/base/prometheusrule.yaml"), "spec", "groups").([]any) {
		for _, r := range g.(node)["rules"].([]any) {
			out = append(out, r.(node))
		}
	}
	return out
}

// Every alert's expression names only metrics and labels the consumer or
// the read API exposes; every alert has a severity, a summary and a
// description whose $labels exist, a duration Prometheus reads, and a
// section in docs/operations.md that says what to do; the four alerts the
// issue asks for exist.
func TestPrometheusRule(t *testing.T) {
	names, labels := registered(t)
	ops, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rules(t) {
		alert, _ := r["alert"].(string)
		seen[alert] = true
		expr, _ := r["expr"].(string)
		if alert == "" || expr == "" {
			t.Errorf("rule %v: not an alert with an expression", r)
			continue
		}
		if bad := unknownRefs(expr, names, labels); len(bad) > 0 {
			t.Errorf("%s: %v in %s", alert, bad, expr)
		}
		if f, ok := r["for"].(string); ok {
			if _, err := time.ParseDuration(f); err != nil {
				t.Errorf("%s: for %q: %v", alert, f, err)
			}
		}
		lbls, _ := r["labels"].(node)
		switch lbls["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s: severity %v", alert, lbls["severity"])
		}
		ann, _ := r["annotations"].(node)
		for _, k := range []string{"summary", "description"} {
			text, _ := ann[k].(string)
			if text == "" {
				t.Errorf("%s: no %s", alert, k)
			}
			for _, m := range annotationLb.FindAllStringSubmatch(text, -1) {
				if !labels[m[1]] {
					t.Errorf("%s: %s names unknown label %s", alert, k, m[1])
				}
			}
		}
		if !strings.Contains(string(ops), "`"+alert+"`") {
			t.Errorf("%s is not explained in docs/operations.md", alert)
		}
	}
	// LTVConsumerAbsent: up{job="ltv-stream"} == 0 cannot fire once no
	// target of the job is left at all.
	want := []string{"LTVConsumerAbsent", "LTVConsumerLagGrowing", "LTVConsumerNotReady", "LTVDeadLettersRising", "LTVStreamTimeBehind"}
	var missing []string
	for _, a := range want {
		if !seen[a] {
			missing = append(missing, a)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("alerts missing: %s", fmt.Sprint(missing))
	}
}

// metricRow is a row of a metrics table: `name` or `name{label,…}` (a
// trailing * stands for a family of names), then the labels cell of
// read-api.md's table when there is one.
var metricRow = regexp.MustCompile("(?m)^\\| `(ltv_[a-z0-9_]*\\*?)(?:\\{([a-z_,]*)\\})?` \\|(?: ((?:`[a-z_]+`(?:, )?)+) \\|)?")

// The metrics tables of operations.md (the consumer's) and read-api.md
// (ltvctl serve's) list every ltv_ metric the programs register, with the
// labels each one has, and nothing they do not register.
func TestMetricsTablesMatchTheRegistry(t *testing.T) {
	labelsOf := map[string][]string{}
	for _, f := range registeredFamilies(t) {
		if !strings.HasPrefix(f.GetName(), "ltv_") {
			continue
		}
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				seen[l.GetName()] = true
			}
		}
		labelsOf[f.GetName()] = keysOf(seen)
	}
	listed := map[string]bool{}
	for _, rel := range []string{"docs/operations.md", "docs/read-api.md"} {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricRow.FindAllStringSubmatch(string(raw), -1) {
			name, labels := m[1], m[2]
			if m[3] != "" {
				labels = strings.NewReplacer("`", "", " ", "").Replace(m[3])
			}
			if prefix, ok := strings.CutSuffix(name, "*"); ok {
				n := 0
				for reg := range labelsOf {
					if strings.HasPrefix(reg, prefix) {
						listed[reg] = true
						n++
					}
				}
				if n == 0 {
					t.Errorf("%s: %s matches no registered metric", rel, name)
				}
				continue
			}
			got, ok := labelsOf[name]
			if !ok {
				t.Errorf("%s: %s is not a registered metric", rel, name)
				continue
			}
			listed[name] = true
			var want []string
			if labels != "" {
				want = strings.Split(labels, ",")
			}
			if !sameSet(want, got) {
				t.Errorf("%s: %s: the table gives the labels %v, the registry %v", rel, name, want, got)
			}
		}
	}
	for name := range labelsOf {
		if !listed[name] {
			t.Errorf("%s is registered but in neither metrics table (docs/operations.md, docs/read-api.md)", name)
		}
	}
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
