package docscheck

import (
	"bytes"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/stream"
)

// knownSettings is every LTV_* variable the consumer's settings (shared by
// ltvctl) name in their usage text, plus ltvctl serve's own.
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	var usage bytes.Buffer
	if _, err := config.Load([]string{"-h"}, func(string) string { return "" }, &usage); err == nil {
		t.Fatal("-h did not stop the settings from loading")
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`\(env (LTV_[A-Z0-9_]+)\)`).FindAllStringSubmatch(usage.String(), -1) {
		known[m[1]] = true
	}
	if len(known) < 30 {
		t.Fatalf("found only %d settings in the usage text", len(known))
	}
	// cmd/ltvctl serve's own (docs/read-api.md).
	for _, env := range []string{"LTV_STATS_REFRESH", "LTV_STATS_MAX_STALE", "LTV_STATS_SAMPLE_LIMIT", "LTV_CHANGES_DEPTH", "LTV_CAC"} {
		known[env] = true
	}
	return known
}

// composeServices is docker-compose.yml's services.
func composeServices(t *testing.T) map[string]node {
	t.Helper()
	out := map[string]node{}
	for name, s := range load(t, "docker-compose.yml")["services"].(node) {
		out[name] = s.(node)
	}
	return out
}

// docker-compose.yml is what users run "for real": its settings must be
// ones the programs read, its topics what SPEC §1 and guarantees.md need,
// and its Redis as durable as guarantees.md assumes.
func TestComposeFile(t *testing.T) {
	services := composeServices(t)
	known := knownSettings(t)
	for name, s := range services {
		env, _ := s["environment"].(node)
		for key, v := range env {
			if strings.HasPrefix(key, "LTV_") && !known[key] {
				t.Errorf("service %s sets %s, which no program reads", name, key)
			}
			if key == "LTV_CONFIG" {
				mounted := false
				for _, vol := range toStrings(s["volumes"]) {
					mounted = mounted || strings.HasSuffix(strings.TrimSuffix(vol, ":ro"), ":"+v.(string))
				}
				if !mounted {
					t.Errorf("service %s: LTV_CONFIG %v is not a mounted file", name, v)
				}
			}
		}
	}

	consumer := services["consumer"]
	env := map[string]string{}
	for k, v := range consumer["environment"].(node) {
		env[k] = v.(string)
	}
	env["LTV_CONFIG"] = repoRoot + "/deploy/base/config.yaml"
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("the consumer's settings in docker-compose.yml do not load: %v", err)
	}
	// SIGTERM: the drain, the pending clears' flush (5 s), leaving the
	// group (up to 5 s) and the HTTP shutdown (2 s) must fit.
	grace, err := time.ParseDuration(consumer["stop_grace_period"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if need := cfg.DrainTimeout + 12*time.Second; grace <= need {
		t.Errorf("consumer stop_grace_period %s: SIGTERM may need %s", grace, need)
	}

	// Topics: both inputs with one partition count, every output created,
	// and a DLQ that takes a whole copy of the largest input record (the
	// broker's default max.message.bytes, 1048588) plus its headers.
	script := strings.Join(toStrings(services["kafka-init"]["command"]), "\n")
	partitions := map[string]int{}
	dlqMax := 0
	for _, line := range strings.Split(strings.ReplaceAll(script, "\\\n", " "), "\n") {
		if !strings.Contains(line, "kafka-topics.sh") || !strings.Contains(line, "--create") {
			continue
		}
		n := flagValue(t, line, "--partitions")
		var topics []string
		if strings.Contains(line, `"$$t"`) {
			m := regexp.MustCompile(`for t in ([^;]+);`).FindStringSubmatch(script)
			if m == nil {
				t.Fatalf("kafka-init: no topic list for %q", line)
			}
			topics = strings.Fields(m[1])
		} else {
			topics = []string{flagValueString(t, line, "--topic")}
		}
		for _, topic := range topics {
			partitions[topic] = n
			if topic == cfg.DLQTopic {
				if m := regexp.MustCompile(`max\.message\.bytes=(\d+)`).FindStringSubmatch(line); m != nil {
					dlqMax, _ = strconv.Atoi(m[1])
				}
			}
		}
	}
	for _, topic := range []string{cfg.OrdersTopic, cfg.LifecycleTopic, cfg.ChangesTopic, cfg.SegmentsTopic, cfg.DLQTopic} {
		if partitions[topic] < 1 {
			t.Errorf("kafka-init does not create %s", topic)
		}
	}
	if partitions[cfg.OrdersTopic] != partitions[cfg.LifecycleTopic] {
		t.Errorf("kafka-init gives %s %d partitions and %s %d: the consumer refuses to run (SPEC §1)",
			cfg.OrdersTopic, partitions[cfg.OrdersTopic], cfg.LifecycleTopic, partitions[cfg.LifecycleTopic])
	}
	const inputMax = 1048588
	if dlqMax < inputMax+4096 {
		t.Errorf("%s max.message.bytes %d: a dead letter of a %d-byte input record would be cut", cfg.DLQTopic, dlqMax, inputMax)
	}
	if dlqMax <= stream.DefaultAssumedMaxMessageBytes {
		t.Errorf("%s max.message.bytes %d is not above what the consumer assumes without it", cfg.DLQTopic, dlqMax)
	}

	// Redis: an fsync-always append-only file, and no evicting policy.
	redis := strings.Join(toStrings(services["redis"]["command"]), " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync always"} {
		if !strings.Contains(redis, want) {
			t.Errorf("redis runs %q, without %s (guarantees.md)", redis, want)
		}
	}
	if strings.Contains(redis, "maxmemory-policy") && !strings.Contains(redis, "maxmemory-policy noeviction") {
		t.Errorf("redis runs %q: only noeviction keeps every customer's state", redis)
	}
}

func flagValueString(t *testing.T, line, flag string) string {
	t.Helper()
	f := strings.Fields(line)
	for i := range f[:len(f)-1] {
		if f[i] == flag {
			return f[i+1]
		}
	}
	t.Fatalf("no %s in %q", flag, line)
	return ""
}

func flagValue(t *testing.T, line, flag string) int {
	t.Helper()
	n, err := strconv.Atoi(flagValueString(t, line, flag))
	if err != nil {
		t.Fatalf("%s in %q: %v", flag, line, err)
	}
	return n
}

// Every LTV_* variable deploy/ sets (the generated settings ConfigMaps of
// the base and the overlays, and the Deployments' env) is one a program
// reads: a misspelt name would be ignored without a word.
func TestDeploySettingsAreKnown(t *testing.T) {
	known := knownSettings(t)
	check := func(where, key string) {
		if strings.HasPrefix(key, "LTV_") && !known[key] {
			t.Errorf("%s sets %s, which no program reads", where, key)
		}
	}
	for _, dir := range []string{"deploy/base", "deploy/overlays/production"} {
		k := load(t, dir+"/kustomization.yaml")
		gens, _ := k["configMapGenerator"].([]any)
		for _, g := range gens {
			for _, lit := range toStrings(g.(node)["literals"]) {
				key, _, _ := strings.Cut(lit, "=")
				check(dir+"/kustomization.yaml", key)
			}
		}
	}
	_, _, resources := baseKustomization(t)
	for _, r := range resources {
		if r.kind != "Deployment" {
			continue
		}
		for _, c := range at(t, r.doc, "spec", "template", "spec", "containers").([]any) {
			env, _ := c.(node)["env"].([]any)
			for _, e := range env {
				name, _ := e.(node)["name"].(string)
				check("deploy/base/"+r.file, name)
			}
		}
	}
}

// The image's HEALTHCHECK probes the consumer's /readyz (Dockerfile). A
// service of the image that runs another program must replace it with a
// probe of its own or disable it, or Docker reports it unhealthy.
func TestComposeHealthchecksFitTheProgram(t *testing.T) {
	for name, s := range composeServices(t) {
		if s["build"] == nil {
			continue // not our image
		}
		entry := strings.Join(toStrings(s["entrypoint"]), " ")
		hc, _ := s["healthcheck"].(node)
		test := strings.Join(toStrings(hc["test"]), " ")
		switch {
		case entry == "" || entry == "/usr/local/bin/consumer":
			if !strings.Contains(test, "/readyz") {
				t.Errorf("service %s (the consumer) is health-checked by %q, want its /readyz", name, test)
			}
		case hc["disable"] == true:
		case test == "":
			t.Errorf("service %s runs %s with the image's HEALTHCHECK, which probes the consumer's /readyz", name, entry)
		case strings.Contains(test, "/readyz") || !strings.Contains(test, "--url"):
			t.Errorf("service %s runs %s but is health-checked by %q (the consumer's probe)", name, entry, test)
		}
	}
}

// SIGTERM on Kubernetes: the consumer's grace period covers its drain
// (LTV_DRAIN_TIMEOUT in the settings ConfigMap) plus the pending clears'
// flush (5 s), leaving the group (up to 5 s) and the HTTP shutdown (2 s);
// the API's covers its preStop pause plus the 10 s ltvctl serve gives
// requests in flight.
func TestDeployGracePeriods(t *testing.T) {
	k, _, resources := baseKustomization(t)
	cfg := configMapSettings(t, k)
	for _, r := range resources {
		if r.kind != "Deployment" {
			continue
		}
		spec := at(t, r.doc, "spec", "template", "spec").(node)
		grace := time.Duration(spec["terminationGracePeriodSeconds"].(int)) * time.Second
		c := spec["containers"].([]any)[0].(node)
		var need time.Duration
		switch c["name"] {
		case "consumer":
			need = cfg.DrainTimeout + 12*time.Second
		case "api":
			pause, _ := at(t, c, "lifecycle", "preStop", "sleep", "seconds").(int)
			need = time.Duration(pause)*time.Second + 10*time.Second
		default:
			t.Fatalf("%s: unknown container %v", r.file, c["name"])
		}
		if grace <= need {
			t.Errorf("%s: terminationGracePeriodSeconds %s, SIGTERM may need %s", r.file, grace, need)
		}
	}
}

// The image holds every program docker-compose.yml and deploy/ run, and
// its build context leaves out what is generated locally (the tools'
// node_modules alone is tens of MB, sent at every build and breaking the
// cache of COPY . .).
func TestImageHoldsWhatIsRun(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{}
	for _, m := range regexp.MustCompile(`-o /out/([a-z-]+) \./cmd/([a-z-]+)`).FindAllStringSubmatch(string(raw), -1) {
		if m[1] != m[2] {
			t.Errorf("Dockerfile builds ./cmd/%s as %s", m[2], m[1])
		}
		if !strings.Contains(string(raw), "/out/"+m[1]) {
			t.Errorf("Dockerfile builds %s but does not copy it", m[1])
		}
		built["/usr/local/bin/"+m[1]] = true
	}
	if m := regexp.MustCompile(`ENTRYPOINT \["([^"]+)"\]`).FindStringSubmatch(string(raw)); m == nil || !built[m[1]] {
		t.Errorf("the image's ENTRYPOINT %v is not a program it builds", m)
	}
	for name, s := range composeServices(t) {
		if s["build"] == nil {
			continue
		}
		if e := toStrings(s["entrypoint"]); len(e) > 0 && !built[e[0]] {
			t.Errorf("service %s runs %s, which the image does not hold", name, e[0])
		}
	}
	_, _, resources := baseKustomization(t)
	for _, r := range resources {
		if r.kind != "Deployment" {
			continue
		}
		for _, c := range at(t, r.doc, "spec", "template", "spec", "containers").([]any) {
			if cmd := toStrings(c.(node)["command"]); len(cmd) > 0 && !built[cmd[0]] {
				t.Errorf("%s runs %s, which the image does not hold", r.file, cmd[0])
			}
		}
	}

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, l := range strings.Split(string(ignore), "\n") {
		ignored[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{"bin", ".scratch", "**/node_modules"} {
		if !ignored[want] {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

// Readiness follows Redis and Kafka (the consumer's /readyz, the API's
// Redis ping), so an outage makes every pod not ready. A budget with the
// default unhealthy-pod policy (IfHealthyBudget) then refuses every
// eviction and a node drain hangs until the outage ends.
func TestDisruptionBudgetsLetNotReadyPodsGo(t *testing.T) {
	_, _, resources := baseKustomization(t)
	n := 0
	for _, r := range resources {
		if r.kind != "PodDisruptionBudget" {
			continue
		}
		n++
		if p := at(t, r.doc, "spec").(node)["unhealthyPodEvictionPolicy"]; p != "AlwaysAllow" {
			t.Errorf("%s: unhealthyPodEvictionPolicy %v, want AlwaysAllow", r.file, p)
		}
	}
	if n != 2 {
		t.Errorf("%d PodDisruptionBudgets in deploy/base, want one per component", n)
	}
}

// The consumer's GOMEMLIMIT replaces its own soft limit (128 MiB plus the
// state cache, cmd/consumer): it must leave the cache room above that, and
// stay under the container's memory limit.
func TestConsumerMemoryLimits(t *testing.T) {
	k, _, resources := baseKustomization(t)
	cfg := configMapSettings(t, k)
	mib := func(s string) int64 {
		n, err := strconv.ParseInt(strings.TrimSuffix(s, "Mi"), 10, 64)
		if err != nil || !strings.HasSuffix(s, "Mi") {
			t.Fatalf("%q: want a size in Mi", s)
		}
		return n << 20
	}
	for _, r := range resources {
		if r.kind != "Deployment" || r.name != "ltv-stream" {
			continue
		}
		c := at(t, r.doc, "spec", "template", "spec", "containers").([]any)[0].(node)
		var limit int64
		for _, e := range c["env"].([]any) {
			if e.(node)["name"] == "GOMEMLIMIT" {
				limit = mib(strings.TrimSuffix(e.(node)["value"].(string), "B"))
			}
		}
		if own := int64(128<<20 + cfg.StateCacheBytes); limit < own {
			t.Errorf("GOMEMLIMIT %d MiB is below the consumer's own %d MiB (128 MiB plus the state cache)", limit>>20, own>>20)
		}
		if mem := mib(labelsAt(c, "resources", "limits")["memory"]); limit >= mem {
			t.Errorf("GOMEMLIMIT %d MiB is not under the memory limit %d MiB", limit>>20, mem>>20)
		}
		return
	}
	t.Fatal("no consumer Deployment")
}

// configMapSettings loads the consumer's settings as deploy/base's
// ConfigMap literals give them (the YAML file aside: LTV_CONFIG unset).
func configMapSettings(t *testing.T, k node) *config.Config {
	t.Helper()
	env := sharedSettings(k)
	env["LTV_CONFIG"] = ""
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The settings docker-compose.yml and deploy/ give the programs load: the
// consumer's with config.Load, ltvctl serve's with its API checks too, and
// the production overlay's ConfigMap merged over the base's, so a value
// the program would refuse at start (a bad URL, a flag-only spelling, a
// mechanism without credentials) fails here, not in a rollout. Values the
// Secrets give are stand-ins; files named by *_FILE settings must be
// absolute paths (they are mounted) and are not read.
func TestDeploySettingsLoad(t *testing.T) {
	modelFile := repoRoot + "/deploy/base/config.yaml"
	loadEnv := func(where string, env map[string]string, api bool) {
		t.Helper()
		env = maps.Clone(env)
		for k, v := range env {
			if strings.HasSuffix(k, "_FILE") {
				if !strings.HasPrefix(v, "/") {
					t.Errorf("%s: %s=%s is not an absolute path", where, k, v)
				}
				env[k] = ""
			}
		}
		if env["LTV_CONFIG"] != "" {
			env["LTV_CONFIG"] = modelFile
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Errorf("%s: the settings do not load: %v", where, err)
			return
		}
		if api {
			if err := cfg.ValidateAPI(); err != nil {
				t.Errorf("%s: ltvctl serve refuses the settings: %v", where, err)
			}
		}
	}

	for name, s := range composeServices(t) {
		if name != "consumer" && name != "api" {
			continue
		}
		env := map[string]string{}
		for k, v := range s["environment"].(node) {
			env[k] = v.(string)
		}
		loadEnv("docker-compose.yml service "+name, env, name == "api")
	}

	base := sharedSettings(load(t, "deploy/base/kustomization.yaml"))
	prod := maps.Clone(base)
	maps.Copy(prod, sharedSettings(load(t, "deploy/overlays/production/kustomization.yaml")))
	_, _, resources := baseKustomization(t)
	for _, r := range resources {
		if r.kind != "Deployment" {
			continue
		}
		api := strings.Contains(r.file, "api")
		for _, c := range at(t, r.doc, "spec", "template", "spec", "containers").([]any) {
			// The base's Secret references are optional (it runs without
			// them); the production overlay's Secret holds every key.
			own, secrets := map[string]string{}, map[string]string{}
			for _, e := range c.(node)["env"].([]any) {
				name, _ := e.(node)["name"].(string)
				if !strings.HasPrefix(name, "LTV_") {
					continue
				}
				if v, ok := e.(node)["value"].(string); ok {
					own[name] = v
				} else {
					secrets[name] = "from-a-secret"
				}
			}
			env := maps.Clone(base)
			maps.Copy(env, own)
			loadEnv("deploy/base "+r.file, env, api)
			env = maps.Clone(prod)
			maps.Copy(env, own)
			maps.Copy(env, secrets)
			loadEnv("deploy/overlays/production "+r.file, env, api)
		}
	}
}
