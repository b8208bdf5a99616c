package docscheck

import (
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/config"
)

// manifest is one Kubernetes resource of deploy/base as written.
type manifest struct {
	file, kind, name string
	doc              node
}

// labelsAt reads a string map at path in doc (nil when absent).
func labelsAt(doc node, path ...string) map[string]string {
	var cur any = doc
	for _, step := range path {
		m, ok := cur.(node)
		if !ok {
			return nil
		}
		cur = m[step]
	}
	m, ok := cur.(node)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

// with returns a copy of labels with extra's pairs added.
func with(labels, extra map[string]string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, extra)
	return out
}

// selects says whether every pair of selector is in labels (an empty
// selector selects nothing here: none of ours is meant to).
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// baseKustomization reads deploy/base's kustomization and its resources.
// common is the labels kustomize adds to every resource and (with
// includeSelectors) to the selectors and pod templates it knows.
func baseKustomization(t *testing.T) (k node, common map[string]string, resources []manifest) {
	t.Helper()
	k = load(t, "deploy/base/kustomization.yaml")
	common = map[string]string{}
	for _, l := range k["labels"].([]any) {
		entry := l.(node)
		if inc, _ := entry["includeSelectors"].(bool); !inc {
			continue
		}
		for key, v := range entry["pairs"].(node) {
			common[key] = v.(string)
		}
	}
	for _, r := range k["resources"].([]any) {
		file := r.(string)
		doc := load(t, filepath.Join("deploy/base", file))
		resources = append(resources, manifest{
			file: file, kind: doc["kind"].(string), name: at(t, doc, "metadata", "name").(string), doc: doc,
		})
	}
	return k, common, resources
}

// The base runs two components, the consumer and the read API. Every
// selector must pick one of them only: a Service, PodDisruptionBudget or
// topology spread of the consumer that also matched the API's pods (or
// the other way round) would send traffic to the wrong process, let a
// drain take both, or scrape the API as the consumer.
func TestDeploySelectorsPickOneComponent(t *testing.T) {
	_, common, resources := baseKustomization(t)

	pods := map[string]map[string]string{} // Deployment → its pods' labels
	services := map[string]map[string]string{}
	for _, r := range resources {
		switch r.kind {
		case "Deployment":
			tmpl := with(labelsAt(r.doc, "spec", "template", "metadata", "labels"), common)
			sel := with(labelsAt(r.doc, "spec", "selector", "matchLabels"), common)
			if !selects(sel, tmpl) {
				t.Errorf("%s: Deployment %s's selector %v does not match its own pods %v", r.file, r.name, sel, tmpl)
			}
			pods[r.name] = tmpl
		case "Service":
			services[r.name] = with(labelsAt(r.doc, "metadata", "labels"), common)
		}
	}
	if len(pods) != 2 {
		t.Fatalf("deployments %v: want the consumer and the read API", pods)
	}

	matching := func(selector map[string]string, of map[string]map[string]string) []string {
		var names []string
		for name, labels := range of {
			if selects(selector, labels) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return names
	}
	selected := map[string]bool{}
	for _, r := range resources {
		var sel map[string]string
		of := pods
		switch r.kind {
		case "Deployment":
			sel = with(labelsAt(r.doc, "spec", "selector", "matchLabels"), common)
		case "Service":
			sel = with(labelsAt(r.doc, "spec", "selector"), common)
		case "PodDisruptionBudget":
			sel = with(labelsAt(r.doc, "spec", "selector", "matchLabels"), common)
		case "ServiceMonitor":
			// kustomize does not know this kind's selector: it stays as written.
			sel, of = labelsAt(r.doc, "spec", "selector", "matchLabels"), services
		default:
			continue
		}
		got := matching(sel, of)
		if len(got) != 1 {
			t.Errorf("%s: %s %s selects %v, want exactly one", r.file, r.kind, r.name, got)
			continue
		}
		if r.kind == "Service" {
			selected[got[0]] = true
		}
	}
	for name := range pods {
		if !selected[name] {
			t.Errorf("no Service selects Deployment %s's pods", name)
		}
	}

	// The production overlay's zone spreads count one component's pods.
	for _, patch := range []string{"deployment-patch.yaml", "api-deployment-patch.yaml"} {
		doc := load(t, filepath.Join("deploy/overlays/production", patch))
		spreads, _ := at(t, doc, "spec", "template", "spec", "topologySpreadConstraints").([]any)
		for _, s := range spreads {
			sel := labelsAt(s.(node), "labelSelector", "matchLabels")
			got := matching(sel, pods)
			if len(got) != 1 || got[0] != at(t, doc, "metadata", "name") {
				t.Errorf("production %s: topology spread %v counts the pods of %v", patch, sel, got)
			}
		}
	}
}

// The read API's Deployment runs `ltvctl serve` where its Service and
// probes point, with the shared settings and the model config mounted as
// the consumer has them; and the shared settings load (the model config
// read from deploy/base/config.yaml, which the Deployments mount there).
func TestDeployReadAPI(t *testing.T) {
	k, _, resources := baseKustomization(t)
	byName := map[string]manifest{}
	for _, r := range resources {
		byName[r.kind+"/"+r.name] = r
	}
	api, ok := byName["Deployment/ltv-stream-api"]
	if !ok {
		t.Fatal("no Deployment ltv-stream-api in deploy/base")
	}
	c := at(t, api.doc, "spec", "template", "spec", "containers").([]any)[0].(node)
	if cmd := strings.Join(append(toStrings(c["command"]), toStrings(c["args"])...), " "); cmd != "/usr/local/bin/ltvctl serve" {
		t.Errorf("api container runs %q, want /usr/local/bin/ltvctl serve", cmd)
	}
	port := c["ports"].([]any)[0].(node)
	addr := ""
	for _, e := range c["env"].([]any) {
		if e.(node)["name"] == "LTV_API_ADDR" {
			addr, _ = e.(node)["value"].(string)
		}
	}
	if want := fmt.Sprint(":", port["containerPort"]); addr != want {
		t.Errorf("LTV_API_ADDR %q, container port %v: want %q", addr, port["containerPort"], want)
	}
	svc, ok := byName["Service/ltv-stream-api"]
	if !ok {
		t.Fatal("no Service ltv-stream-api in deploy/base")
	}
	if tp := at(t, svc.doc, "spec", "ports").([]any)[0].(node)["targetPort"]; tp != port["name"] {
		t.Errorf("Service ltv-stream-api targets port %v, the container's is named %v", tp, port["name"])
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		p, _ := c[probe].(node)
		target := labelsAt(p, "httpGet")
		if target == nil {
			target = labelsAt(p, "tcpSocket")
		}
		if target["port"] != port["name"] {
			t.Errorf("api %s probes port %v, want %v", probe, target["port"], port["name"])
		}
	}
	if path := labelsAt(c, "readinessProbe", "httpGet")["path"]; path != "/healthz" {
		t.Errorf("api readiness probe %q, want /healthz (it pings Redis)", path)
	}
	if labelsAt(c, "livenessProbe", "httpGet") != nil {
		t.Error("api liveness probe is an HTTP check: /healthz fails while Redis is down, and a restart would not help")
	}
	// The autoscaler owns the replica count and scales on CPU, which needs
	// a CPU request to take its share of.
	hpa, ok := byName["HorizontalPodAutoscaler/ltv-stream-api"]
	if !ok {
		t.Fatal("no HorizontalPodAutoscaler ltv-stream-api in deploy/base")
	}
	if target := labelsAt(hpa.doc, "spec", "scaleTargetRef"); target["kind"] != "Deployment" || target["name"] != "ltv-stream-api" {
		t.Errorf("the API's autoscaler scales %v", target)
	}
	if _, set := at(t, api.doc, "spec").(node)["replicas"]; set {
		t.Error("the API Deployment sets replicas: every apply would undo the autoscaler's count")
	}
	// The consumer's count is KEDA's, likewise.
	if consumer, ok := byName["Deployment/ltv-stream"]; !ok {
		t.Error("no Deployment ltv-stream in deploy/base")
	} else if _, set := at(t, consumer.doc, "spec").(node)["replicas"]; set {
		t.Error("the consumer Deployment sets replicas: every apply would undo KEDA's count")
	}
	if labelsAt(c, "resources", "requests")["cpu"] == "" {
		t.Error("the API container has no CPU request for the autoscaler's utilisation target")
	}
	envFrom := c["envFrom"].([]any)[0].(node)
	if name := labelsAt(envFrom, "configMapRef")["name"]; name != "ltv-stream-env" {
		t.Errorf("api takes its settings from %q, want the shared ltv-stream-env", name)
	}
	mount := c["volumeMounts"].([]any)[0].(node)
	if mount["mountPath"] != "/etc/ltv" {
		t.Errorf("api mounts the config at %v, want /etc/ltv", mount["mountPath"])
	}

	// The shared settings are valid as the consumer reads them.
	env := sharedSettings(k)
	if env["LTV_CONFIG"] != "/etc/ltv/config.yaml" {
		t.Fatalf("LTV_CONFIG %q, want the mounted /etc/ltv/config.yaml", env["LTV_CONFIG"])
	}
	env["LTV_CONFIG"] = filepath.Join(repoRoot, "deploy/base/config.yaml")
	if _, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Errorf("deploy/base's settings do not load: %v", err)
	}
}

// sharedSettings is the environment both components take from the
// kustomization's ltv-stream-env ConfigMap (its literals, KEY=value).
func sharedSettings(k node) map[string]string {
	env := map[string]string{}
	for _, g := range k["configMapGenerator"].([]any) {
		if g.(node)["name"] != "ltv-stream-env" {
			continue
		}
		for _, lit := range toStrings(g.(node)["literals"]) {
			key, value, _ := strings.Cut(lit, "=")
			env[key] = value
		}
	}
	return env
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// Each component reads its credentials from Secret keys of its own: the
// read API must not run with the consumer's Redis or Kafka rights (which
// may write), and whatever credential the consumer takes from the Secret,
// the API takes its own of.
func TestDeployComponentsHaveTheirOwnCredentials(t *testing.T) {
	_, _, resources := baseKustomization(t)
	keysOf := map[string]map[string]string{} // Deployment → env var → Secret key
	for _, r := range resources {
		if r.kind != "Deployment" {
			continue
		}
		keysOf[r.name] = map[string]string{}
		for _, c := range at(t, r.doc, "spec", "template", "spec", "containers").([]any) {
			env, _ := c.(node)["env"].([]any)
			for _, e := range env {
				ref := labelsAt(e.(node), "valueFrom", "secretKeyRef")
				if ref == nil {
					continue
				}
				keysOf[r.name][e.(node)["name"].(string)] = ref["key"]
			}
		}
	}
	consumer, api := keysOf["ltv-stream"], keysOf["ltv-stream-api"]
	if len(consumer) == 0 || api == nil {
		t.Fatalf("Secret references by Deployment: %v", keysOf)
	}
	for name, key := range consumer {
		apiKey, ok := api[name]
		switch {
		case !ok:
			t.Errorf("the API takes no %s from the Secret (the consumer does): it would connect without it", name)
		case ok && apiKey == key:
			t.Errorf("the API's %s is the consumer's Secret key %q", name, key)
		}
	}
	for name, key := range api {
		if !strings.HasPrefix(key, "api-") {
			t.Errorf("the API's %s comes from Secret key %q, want one of its own (api-…)", name, key)
		}
	}
}

// A Deployment a KEDA ScaledObject scales cannot be stopped with kubectl
// scale: KEDA sets it back to minReplicaCount (or scales it up from zero
// while there is lag) at its next poll, and the old and new consumers the
// docs meant to keep apart run together again. The docs stop it through
// the ScaledObject's paused-replicas annotation instead.
func TestDocsStopScaledDeploymentsThroughKEDA(t *testing.T) {
	_, _, resources := baseKustomization(t)
	var targets []string
	for _, r := range resources {
		if r.kind != "ScaledObject" {
			continue
		}
		target, _ := at(t, r.doc, "spec", "scaleTargetRef", "name").(string)
		targets = append(targets, target)
		pause := regexp.MustCompile(`kubectl\s(?:-n\s\S+\s)?annotate scaledobject/` + regexp.QuoteMeta(r.name) + ` autoscaling\.keda\.sh/paused-replicas=0`)
		if n := docMatches(t, pause, func(string, int, string, []string) {}); n == 0 {
			t.Errorf("no doc stops the consumers by pausing ScaledObject %s (%s)", r.name, pause)
		}
	}
	if len(targets) == 0 {
		t.Fatal("no ScaledObject in deploy/base")
	}
	for _, target := range targets {
		re := regexp.MustCompile(`kubectl\s[^` + "`" + `]*\bscale\s+(?:deployment|deploy|deployments\.apps)/` + regexp.QuoteMeta(target) + `\b`)
		docMatches(t, re, func(rel string, line int, _ string, m []string) {
			t.Errorf("%s:%d: %q: KEDA's ScaledObject scales Deployment %s back up; pause the ScaledObject instead", rel, line, m[0], target)
		})
	}
}

// KEDA reads neither the settings ConfigMap nor the consumer's env: each
// kafka trigger of the ScaledObject names the brokers, group and an input
// topic itself, and must name what the consumer uses (the base's, and the
// production overlay's patch against its merged ConfigMap), or KEDA scales
// on a group or topic nobody consumes.
func TestScaledObjectWatchesTheConsumersGroup(t *testing.T) {
	base := sharedSettings(load(t, "deploy/base/kustomization.yaml"))
	prod := maps.Clone(base)
	maps.Copy(prod, sharedSettings(load(t, "deploy/overlays/production/kustomization.yaml")))
	for _, c := range []struct {
		file string
		env  map[string]string
	}{
		{"deploy/base/scaledobject.yaml", base},
		{"deploy/overlays/production/scaledobject-patch.yaml", prod},
	} {
		env := maps.Clone(c.env)
		env["LTV_CONFIG"] = ""
		for k := range env {
			if strings.HasSuffix(k, "_FILE") {
				env[k] = "" // mounted in the pod, not here
			}
		}
		env["LTV_KAFKA_SASL_USERNAME"], env["LTV_KAFKA_SASL_PASSWORD"] = "u", "p"
		if env["LTV_KAFKA_SASL_MECHANISM"] == "" {
			env["LTV_KAFKA_SASL_USERNAME"], env["LTV_KAFKA_SASL_PASSWORD"] = "", ""
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatalf("%s: settings: %v", c.file, err)
		}
		topics := map[string]bool{}
		for _, tr := range at(t, load(t, c.file), "spec", "triggers").([]any) {
			md := labelsAt(tr.(node), "metadata")
			if got, want := md["bootstrapServers"], strings.Join(cfg.Brokers, ","); got != want {
				t.Errorf("%s: trigger on %s asks brokers %q, the consumer uses %q", c.file, md["topic"], got, want)
			}
			if md["consumerGroup"] != cfg.GroupID {
				t.Errorf("%s: trigger on %s watches group %q, the consumer's is %q", c.file, md["topic"], md["consumerGroup"], cfg.GroupID)
			}
			topics[md["topic"]] = true
		}
		if len(topics) != 2 || !topics[cfg.OrdersTopic] || !topics[cfg.LifecycleTopic] {
			t.Errorf("%s: triggers on %v, want the input topics %s and %s", c.file, topics, cfg.OrdersTopic, cfg.LifecycleTopic)
		}
	}
}
