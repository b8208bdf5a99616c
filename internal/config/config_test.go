package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/shopspring/decimal"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaultsMatchSpec(t *testing.T) {
	c, err := Load(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"brokers":   {strings.Join(c.Brokers, ","), "localhost:9092"},
		"redis":     {c.RedisURL, "redis://localhost:6379/0"},
		"group":     {c.GroupID, "ltv-updater"},
		"orders":    {c.OrdersTopic, "orders"},
		"lifecycle": {c.LifecycleTopic, "customer-lifecycle"},
		"changes":   {c.ChangesTopic, "ltv-changes"},
		"dlq":       {c.DLQTopic, "ltv-dlq"},
		"http":      {c.HTTPAddr, ":8080"},
		"api":       {c.APIAddr, ":8081"},
		"cors":      {strings.Join(c.APICORSOrigins, ","), ""},
		"currency":  {c.BaseCurrency, "SEK"},
		"margin":    {c.Model.DefaultMargin.String(), "1"},
		"lifespan":  {c.Model.LifespanYears.String(), "3"},
		"window":    {c.Model.MinWindowYears.String(), "1"},
		"hyst":      {c.Model.Hysteresis.String(), "0.05"},
		"skew":      {c.MaxFutureSkew.String(), "24h0m0s"},
		"dlq limit": {strconv.Itoa(c.DLQMaxMessageBytes), "0"},
		"segments":  {c.SegmentsTopic, "ltv-segments"},
		"source":    {c.EventSource, "/ltv-stream/ltv-updater"},
		"at risk":   {c.Model.AtRiskAfter.String(), "2160h0m0s"},
		"lapsed":    {c.Model.LapsedAfter.String(), "4320h0m0s"},
		"grace":     {c.RedisLostReplicaGrace.String(), "2m0s"},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}
	if len(c.Model.Tiers) != 4 || c.Model.Tiers[3].Name != "platinum" || !c.Model.Tiers[3].Min.Equal(decimal.NewFromInt(20000)) {
		t.Errorf("tiers = %+v", c.Model.Tiers)
	}
	if c.MaxMessageBytes != 1<<20 || c.Linger != 2*time.Millisecond {
		t.Errorf("tuning defaults: %d %s", c.MaxMessageBytes, c.Linger)
	}
}

func TestEnvAndFlagPrecedence(t *testing.T) {
	env := envOf(map[string]string{
		"LTV_KAFKA_BROKERS":            "k1:9092, k2:9092",
		"LTV_REDIS_URL":                "redis://r1:7000,redis://r2:7001",
		"LTV_GROUP_ID":                 "g-env",
		"LTV_ORDERS_TOPIC":             "o-env",
		"LTV_LIFECYCLE_TOPIC":          "l-env",
		"LTV_CHANGES_TOPIC":            "c-env",
		"LTV_DLQ_TOPIC":                "d-env",
		"LTV_HTTP_ADDR":                ":9999",
		"LTV_REDIS_LOST_REPLICA_GRACE": "30s",
	})
	c, err := Load([]string{"--group-id", "g-flag", "--dlq-topic=d-flag"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Brokers, "|") != "k1:9092|k2:9092" || c.RedisURL != "redis://r1:7000,redis://r2:7001" {
		t.Errorf("env not used: %v %s", c.Brokers, c.RedisURL)
	}
	if c.GroupID != "g-flag" || c.DLQTopic != "d-flag" {
		t.Errorf("flag did not win: %s %s", c.GroupID, c.DLQTopic)
	}
	if c.OrdersTopic != "o-env" || c.LifecycleTopic != "l-env" || c.ChangesTopic != "c-env" || c.HTTPAddr != ":9999" ||
		c.RedisLostReplicaGrace != 30*time.Second {
		t.Errorf("env ignored: %+v", c)
	}
}

func TestAPISettings(t *testing.T) {
	c, err := Load([]string{"--api-addr", "127.0.0.1:9000"},
		envOf(map[string]string{"LTV_API_CORS_ORIGINS": "https://shop.example.com, http://localhost:3000,*"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIAddr != "127.0.0.1:9000" {
		t.Errorf("api addr %q", c.APIAddr)
	}
	if got := strings.Join(c.APICORSOrigins, "|"); got != "https://shop.example.com|http://localhost:3000|*" {
		t.Errorf("cors origins %q", got)
	}
}

func TestYAMLFile(t *testing.T) {
	yaml := `
base_currency: EUR
default_gross_margin: 0.35
lifespan_years: 5
min_window_years: 0.5
hysteresis: 0
tiers:
  - {name: standard, min: 0}
  - {name: vip, min: 2500.50}
fx_rates:
  SEK: 0.087
`
	c, err := loadYAML(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Model
	if c.BaseCurrency != "EUR" || m.DefaultMargin.String() != "0.35" || m.LifespanYears.String() != "5" ||
		m.MinWindowYears.String() != "0.5" || !m.Hysteresis.IsZero() {
		t.Errorf("model = %+v base %s", m, c.BaseCurrency)
	}
	if len(m.Tiers) != 2 || m.Tiers[1].Name != "vip" || m.Tiers[1].Min.String() != "2500.5" {
		t.Errorf("tiers = %+v", m.Tiers)
	}
	if c.FXRates["SEK"].String() != "0.087" {
		t.Errorf("fx = %v", c.FXRates)
	}
}

func TestYAMLMappingTiersAreSorted(t *testing.T) {
	var f File
	if err := ParseFile([]byte("tiers: {gold: 5000, bronze: 0, silver: 1000}\n"), &f); err != nil {
		t.Fatal(err)
	}
	m, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	if m.Tiers[0].Name != "bronze" || m.Tiers[2].Name != "gold" {
		t.Errorf("tiers = %+v", m.Tiers)
	}
}

// TestYAMLTierThresholdIsMin reads SPEC §5's word for a tier's lower
// bound, threshold, as min.
func TestYAMLTierThresholdIsMin(t *testing.T) {
	var f File
	if err := ParseFile([]byte("tiers:\n  - {name: silver, threshold: 1000}\n  - {name: bronze, threshold: 0}\n"), &f); err != nil {
		t.Fatal(err)
	}
	m, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tiers) != 2 || m.Tiers[0].Name != "bronze" || m.Tiers[1].Name != "silver" || m.Tiers[1].Min.String() != "1000" {
		t.Errorf("tiers = %+v", m.Tiers)
	}
}

// TestYAMLTierShapesReadAlike: the three shapes a ladder may be written in
// give the same tiers, and a one-entry item is a tier only when its key
// is not one of {name, min}'s.
func TestYAMLTierShapesReadAlike(t *testing.T) {
	const want = "bronze≥0 silver≥1000 gold≥5000.5"
	shapes := map[string]string{
		"objects":        "tiers:\n  - {name: gold, min: \"5000.50\"}\n  - {name: bronze, min: 0}\n  - {name: silver, threshold: 1000}\n",
		"mapping":        "tiers:\n  silver: 1000\n  gold: \"5000.50\"\n  bronze: 0\n",
		"one-entry list": "tiers:\n  - bronze: 0\n  - silver: 1000\n  - gold: \"5000.50\"\n",
		"mixed list":     "tiers:\n  - bronze: 0\n  - {name: silver, min: 1000}\n  - gold: 5000.50\n",
	}
	for name, doc := range shapes {
		t.Run(name, func(t *testing.T) {
			m, err := modelFromYAML(doc)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tier := range m.Tiers {
				got = append(got, tier.Name+"≥"+tier.Min.String())
			}
			if strings.Join(got, " ") != want {
				t.Errorf("tiers %v, want %s", got, want)
			}
		})
	}
	bad := map[string]string{
		"one-entry, not a number": "tiers:\n  - bronze: 0\n  - silver: lots\n",
		"one-entry min alone":     "tiers:\n  - min: 0\n",
		"two entries, no name":    "tiers:\n  - bronze: 0\n    silver: 1000\n",
	}
	for name, doc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := modelFromYAML(doc); err == nil {
				t.Fatalf("%q accepted", doc)
			}
		})
	}
}

// modelFromYAML parses a YAML model file's text and builds its model.
func modelFromYAML(doc string) (*aggregate.Model, error) {
	var f File
	if err := ParseFile([]byte(doc), &f); err != nil {
		return nil, err
	}
	return f.Model()
}

func TestInvalidSettingsAreErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		yaml string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "", "flag provided but not defined"},
		{"bad workers", []string{"--workers", "0"}, nil, "", "--workers (LTV_WORKERS)"},
		{"bad linger", nil, map[string]string{"LTV_LINGER": "soon"}, "", "linger"},
		{"bad topic", []string{"--orders-topic", "a b"}, nil, "", "invalid topic"},
		{"same topic twice", []string{"--dlq-topic", "orders"}, nil, "", "two purposes"},
		{"no brokers", nil, map[string]string{"LTV_KAFKA_BROKERS": " , "}, "", "no Kafka brokers"},
		{"yaml typo", nil, nil, "lifespan_yaers: 3\n", "lifespan_yaers"}, //nolint:misspell // the misspelt key is the test

		{"yaml margin", nil, nil, "default_gross_margin: 1.5\n", "default_gross_margin"},
		{"yaml tiers order", nil, nil, "tiers:\n  - {name: a, min: 10}\n  - {name: b, min: 10}\n", "ascending"},
		{"yaml not a number", nil, nil, "lifespan_years: three\n", "not a decimal"},
		{"yaml small dedupe window", nil, nil, "dedupe_window: 8\n", "dedupe_window"},
		{"yaml bad fx", nil, nil, "fx_rates: {EUR: 0}\n", "fx_rates"},
		{"log level", []string{"--log-level", "loud"}, nil, "", "--log-level (LTV_LOG_LEVEL)"},
		{"bad topic names its variable", nil, map[string]string{"LTV_ORDERS_TOPIC": "bad topic"}, "", "--orders-topic (LTV_ORDERS_TOPIC): invalid topic"},
		{"same topic twice names both", []string{"--dlq-topic", "orders"}, nil, "", "--orders-topic (LTV_ORDERS_TOPIC) and --dlq-topic (LTV_DLQ_TOPIC)"},
		{"blank group id", nil, map[string]string{"LTV_GROUP_ID": " "}, "", "--group-id (LTV_GROUP_ID): empty"},
		{"group id with a blank around it", nil, map[string]string{"LTV_GROUP_ID": "ltv-updater "}, "", `--group-id (LTV_GROUP_ID): "ltv-updater " has blanks around it`},
		{"group id flag with a tab around it", []string{"--group-id", "\tltv-updater"}, nil, "", `--group-id (LTV_GROUP_ID): "\tltv-updater" has blanks around it`},
		{"sasl credentials without a mechanism", nil, map[string]string{"LTV_KAFKA_SASL_USERNAME": "u", "LTV_KAFKA_SASL_PASSWORD": "p"}, "", "LTV_KAFKA_SASL_MECHANISM) is empty"},
		{"redis url scheme", nil, map[string]string{"LTV_REDIS_URL": "http://x"}, "", "--redis-url (LTV_REDIS_URL)"},
		{"redis url database", nil, map[string]string{"LTV_REDIS_URL": "redis://h:6379/abc"}, "", "--redis-url (LTV_REDIS_URL)"},
		{"redis url negative database", nil, map[string]string{"LTV_REDIS_URL": "redis://h:6379/-1"}, "", "--redis-url (LTV_REDIS_URL): redis url: database -1 is negative"},
		{"http addr", nil, map[string]string{"LTV_HTTP_ADDR": "bad"}, "", "--http-addr (LTV_HTTP_ADDR)"},
		{"http addr port beyond 65535", nil, map[string]string{"LTV_HTTP_ADDR": ":99999"}, "", `--http-addr (LTV_HTTP_ADDR): ":99999": port "99999"`},
		{"http addr negative port", []string{"--http-addr", "127.0.0.1:-1"}, nil, "", "--http-addr (LTV_HTTP_ADDR)"},
		{"http addr blank inside", nil, map[string]string{"LTV_HTTP_ADDR": "127.0.0.1: 8080"}, "", "--http-addr (LTV_HTTP_ADDR)"},
		{"redis url port beyond 65535", nil, map[string]string{"LTV_REDIS_URL": "redis://h:99999/0"}, "", `--redis-url (LTV_REDIS_URL): redis url: port "99999"`},
		{"redis url port 0", nil, map[string]string{"LTV_REDIS_URL": "redis://h:0"}, "", "--redis-url (LTV_REDIS_URL)"},
		{"redis cluster url port", nil, map[string]string{"LTV_REDIS_URL": "redis://h1:7000,redis://h2:70000"}, "", "--redis-url (LTV_REDIS_URL): redis cluster url 2: port"},
		{"lost replica grace", nil, map[string]string{"LTV_REDIS_LOST_REPLICA_GRACE": "0s"}, "", "--redis-lost-replica-grace (LTV_REDIS_LOST_REPLICA_GRACE)"},
		{"session timeout beyond the protocol", nil, map[string]string{"LTV_KAFKA_SESSION_TIMEOUT": "1000h"}, "", "--kafka-session-timeout (LTV_KAFKA_SESSION_TIMEOUT)"},
		{"workers beyond their bound", nil, map[string]string{"LTV_WORKERS": "1025"}, "", "--workers (LTV_WORKERS): 1025 is more than 1024"},
		{"max batch beyond its bound", []string{"--max-batch", "1000000000000"}, nil, "", "--max-batch (LTV_MAX_BATCH): 1000000000000 is more than 1000000"},
		{"state cache beyond its bound", nil, map[string]string{"LTV_STATE_CACHE_BYTES": "99999999999999"}, "", "--state-cache-bytes (LTV_STATE_CACHE_BYTES)"},
		{"yaml empty tier list", nil, nil, "tiers: []\n", "at least one tier"},
		{"yaml empty tier mapping", nil, nil, "tiers: {}\n", "at least one tier"},
		{"yaml unknown key in a tier", nil, nil, "tiers: [{name: a, min: 0, minimum: 5000}]\n", `unknown key "minimum" in a tier`},
		{"yaml min and threshold in a tier", nil, nil, "tiers: [{name: a, min: 0, threshold: 5000}]\n", `tier "a" has more than one min/threshold`},
		{"yaml base currency with blanks", nil, nil, "base_currency: \"S E K\"\n", "/ltv.yaml: base currency"},
		{"yaml fx rate of the base currency", nil, nil, "fx_rates: {SEK: \"2\"}\n", "fx rate of the base currency"},
		{"yaml two documents", nil, nil, "lifespan_years: 3\n---\nlifespan_years: 5\n", "more than one YAML document"},
		{"yaml fractional dedupe window", nil, nil, "dedupe_window: 31.9\n", "not a whole number"},
		{"event source", nil, map[string]string{"LTV_EVENT_SOURCE": "my updater"}, "", "LTV_EVENT_SOURCE"},
		{"redis tls without rediss", nil, map[string]string{"LTV_REDIS_TLS_INSECURE_SKIP_VERIFY": "true"}, "", "LTV_REDIS_URL is not rediss://"},
		{"missing kafka ca file", nil, map[string]string{"LTV_KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"}, "", "kafka tls ca file"},
		{"missing redis client key", nil, map[string]string{"LTV_REDIS_URL": "rediss://h:6380",
			"LTV_REDIS_TLS_CERT_FILE": "/nonexistent/c.pem", "LTV_REDIS_TLS_KEY_FILE": "/nonexistent/k.pem"}, "", "redis tls client certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.yaml != "" {
				env["LTV_CONFIG"] = yamlFile(t, tc.yaml)
			}
			_, err := Load(tc.args, envOf(env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The read API's settings are checked by the command that serves it
// (ValidateAPI); the consumer ignores them, so a bad origin in a settings
// ConfigMap both read cannot stop the consumer.
func TestAPISettingsAreCheckedWhereServed(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"empty api addr", []string{"--api-addr", " "}, nil, "--api-addr (LTV_API_ADDR)"},
		{"api addr without a port", []string{"--api-addr", "bogus"}, nil, `--api-addr (LTV_API_ADDR): "bogus" is not host:port or :port`},
		{"cors origin with a path", nil, map[string]string{"LTV_API_CORS_ORIGINS": "https://a.example/app"}, "LTV_API_CORS_ORIGINS"},
		{"cors origin without scheme", []string{"--api-cors-origins", "shop.example.com"}, nil, "LTV_API_CORS_ORIGINS"},
		{"cors origin ftp", []string{"--api-cors-origins", "ftp://a.example"}, nil, "LTV_API_CORS_ORIGINS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, envOf(tc.env), io.Discard)
			if err != nil {
				t.Fatalf("the consumer refused a read API setting: %v", err)
			}
			if err := c.ValidateAPI(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateAPI = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// Usage output (-h) shows the environment's Redis URL as a default, with
// its password replaced.
func TestUsageHidesTheRedisURLPassword(t *testing.T) {
	var usage strings.Builder
	_, err := Load([]string{"-h"}, envOf(map[string]string{"LTV_REDIS_URL": "redis://user:sekrit3@h:6379/0,redis://:other-pw@h2:7000"}), &usage)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if strings.Contains(usage.String(), "sekrit3") || strings.Contains(usage.String(), "other-pw") || !strings.Contains(usage.String(), "redis://user:xxxxx@h:6379/0") {
		t.Fatalf("usage:\n%s", usage.String())
	}
}

// The help of --redis-min-replicas says what store.ReplicaWait does: a
// batch waits for every replica online, not for one of them.
func TestUsageSaysBatchesWaitForEveryReplicaOnline(t *testing.T) {
	var usage strings.Builder
	if _, err := Load([]string{"-h"}, envOf(nil), &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	_, help, _ := strings.Cut(usage.String(), "-redis-min-replicas")
	help, _, _ = strings.Cut(help, "\n  -")
	if !strings.Contains(help, "every replica online") || strings.Contains(help, "waits for one") {
		t.Fatalf("--redis-min-replicas help:%s", help)
	}
}

func TestSecuritySettings(t *testing.T) {
	env := map[string]string{
		"LTV_KAFKA_SASL_MECHANISM": "scram-sha-512",
		"LTV_KAFKA_SASL_USERNAME":  "svc",
		"LTV_KAFKA_SASL_PASSWORD":  "kafka-pw-from-env",
		"LTV_KAFKA_TLS":            "true",
		"LTV_REDIS_URL":            "rediss://h1:7000,rediss://h2:7001",
		"LTV_REDIS_USERNAME":       "ltv",
		"LTV_REDIS_PASSWORD":       "redis-pw-from-env",
	}
	c, err := Load(nil, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.KafkaSASLMechanism != "SCRAM-SHA-512" || c.KafkaSASLUsername != "svc" || c.KafkaSASLPassword != "kafka-pw-from-env" {
		t.Errorf("kafka sasl: %q %q %q", c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword)
	}
	if !c.KafkaTLS.Enabled || c.RedisUsername != "ltv" || c.RedisPassword != "redis-pw-from-env" {
		t.Errorf("tls %v redis user %q password %q", c.KafkaTLS.Enabled, c.RedisUsername, c.RedisPassword)
	}
	// The flag wins over the environment, for secrets too.
	c, err = Load([]string{"--kafka-sasl-password", "from-flag"}, envOf(env), io.Discard)
	if err != nil || c.KafkaSASLPassword != "from-flag" {
		t.Fatalf("flag override: %v %q", err, c.KafkaSASLPassword)
	}

	// Usage output never shows a secret from the environment.
	var usage strings.Builder
	if _, err := Load([]string{"-h"}, envOf(env), &usage); err == nil {
		t.Fatal("-h returned no error")
	}
	for _, secret := range []string{"kafka-pw-from-env", "redis-pw-from-env"} {
		if strings.Contains(usage.String(), secret) {
			t.Errorf("usage shows the secret %q", secret)
		}
	}
	if !strings.Contains(usage.String(), "svc") {
		t.Error("usage should still show non-secret values from the environment")
	}

	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LTV_KAFKA_SASL_MECHANISM": "GSSAPI", "LTV_KAFKA_SASL_USERNAME": "u", "LTV_KAFKA_SASL_PASSWORD": "p"}, "not one of"},
		{map[string]string{"LTV_KAFKA_SASL_MECHANISM": "PLAIN", "LTV_KAFKA_SASL_USERNAME": "u"}, "needs LTV_KAFKA_SASL_USERNAME and LTV_KAFKA_SASL_PASSWORD"},
		{map[string]string{"LTV_KAFKA_TLS": "maybe"}, "kafka-tls"},
		{map[string]string{"LTV_REDIS_TLS_CERT_FILE": "/x.crt"}, "needs both the cert and the key"},
	}
	for _, b := range bad {
		_, err := Load(nil, envOf(b.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("env %v: error %v, want %q", b.env, err, b.want)
		}
	}
}

func TestTLSFilesConfig(t *testing.T) {
	if c, err := (TLSFiles{}).Config(); c != nil || err != nil {
		t.Fatalf("no TLS settings: %v %v", c, err)
	}
	if c, err := (TLSFiles{Enabled: true}).Config(); c == nil || err != nil || c.RootCAs != nil {
		t.Fatalf("enabled with system roots: %v %v", c, err)
	}
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (TLSFiles{CAFile: notPEM}).Config(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad CA file: %v", err)
	}
	if _, err := (TLSFiles{CAFile: filepath.Join(dir, "missing.crt")}).Config(); err == nil {
		t.Fatal("missing CA file accepted")
	}
}

// The model config shipped for Docker Compose and Kubernetes
// (deploy/base/config.yaml) loads and spells out exactly the SPEC defaults.
func TestShippedDeployConfigIsTheDefaults(t *testing.T) {
	shipped, err := Load(nil, envOf(map[string]string{"LTV_CONFIG": "../../deploy/base/config.yaml"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := Load(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, b := shipped.Model, defaults.Model
	if shipped.BaseCurrency != defaults.BaseCurrency || !a.DefaultMargin.Equal(b.DefaultMargin) ||
		!a.LifespanYears.Equal(b.LifespanYears) || !a.MinWindowYears.Equal(b.MinWindowYears) ||
		!a.Hysteresis.Equal(b.Hysteresis) || len(a.Tiers) != len(b.Tiers) ||
		a.AtRiskAfter != b.AtRiskAfter || a.LapsedAfter != b.LapsedAfter || shipped.MaxFutureSkew != defaults.MaxFutureSkew {
		t.Fatalf("shipped config differs from the defaults: %+v vs %+v", a, b)
	}
	for i := range a.Tiers {
		if a.Tiers[i].Name != b.Tiers[i].Name || !a.Tiers[i].Min.Equal(b.Tiers[i].Min) {
			t.Errorf("tier %d: %v vs %v", i, a.Tiers[i], b.Tiers[i])
		}
	}
}

// yamlFile writes yaml to a file in a test directory and returns its path.
func yamlFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ltv.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadYAML loads the default settings with yaml as the LTV_CONFIG file.
func loadYAML(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	return Load(nil, envOf(map[string]string{"LTV_CONFIG": yamlFile(t, yaml)}), io.Discard)
}

// loadCase is loadYAML for a table case that wants an error containing
// wantErr ("": no error). It returns nil when the wanted error came.
func loadCase(t *testing.T, yaml, wantErr string) *Config {
	t.Helper()
	c, err := loadYAML(t, yaml)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got %v, want an error containing %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSegmentThresholds(t *testing.T) {
	cases := []struct {
		yaml           string
		atRisk, lapsed time.Duration
		err            string
	}{
		{"", 90 * 24 * time.Hour, 180 * 24 * time.Hour, ""},
		{"at_risk_after_days: 30\nlapsed_after_days: 60.5\n", 30 * 24 * time.Hour, 60*24*time.Hour + 12*time.Hour, ""},
		{"at_risk_after_days: 200\n", 0, 0, "0 < at_risk_after_days < lapsed_after_days, got 200 and 180"},
		{"at_risk_after_days: 0\n", 0, 0, "at_risk_after_days must be a positive number of days"},
		{"lapsed_after_days: -5\n", 0, 0, "lapsed_after_days must be a positive number of days"},
		{"lapsed_after_days: soon\n", 0, 0, "is not a decimal number"},
	}
	for _, tc := range cases {
		t.Run(tc.yaml, func(t *testing.T) {
			c := loadCase(t, tc.yaml, tc.err)
			if c == nil {
				return
			}
			if c.Model.AtRiskAfter != tc.atRisk || c.Model.LapsedAfter != tc.lapsed {
				t.Fatalf("thresholds %v %v", c.Model.AtRiskAfter, c.Model.LapsedAfter)
			}
		})
	}
	c, err := Load([]string{"-segments-topic", "seg"}, envOf(map[string]string{"LTV_SEGMENTS_TOPIC": "other"}), io.Discard)
	if err != nil || c.SegmentsTopic != "seg" {
		t.Fatalf("segments topic %v %v", c, err)
	}
	if _, err := Load(nil, envOf(map[string]string{"LTV_SEGMENTS_TOPIC": "ltv-changes"}), io.Discard); err == nil {
		t.Fatal("the segments topic may not be the changes topic")
	}
}

func TestMaxFutureSkew(t *testing.T) {
	cases := []struct {
		yaml string
		want time.Duration
		err  string
	}{
		{"", 24 * time.Hour, ""},
		{"max_future_skew: 1h30m\n", 90 * time.Minute, ""},
		{"max_future_skew: 0\n", -1, ""},
		{"max_future_skew: -1h\n", 0, "is not a duration of 0 or more"},
		{"max_future_skew: soon\n", 0, "is not a duration of 0 or more"},
		{"max_future_skew: [1h]\n", 0, "expected a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.yaml, func(t *testing.T) {
			c := loadCase(t, tc.yaml, tc.err)
			if c == nil {
				return
			}
			if c.MaxFutureSkew != tc.want {
				t.Fatalf("MaxFutureSkew = %v, want %v", c.MaxFutureSkew, tc.want)
			}
		})
	}
}

func TestDLQMaxMessageBytes(t *testing.T) {
	c, err := Load([]string{"-dlq-max-message-bytes", "65536"}, envOf(nil), io.Discard)
	if err != nil || c.DLQMaxMessageBytes != 65536 {
		t.Fatalf("got %v, %v", c, err)
	}
	for _, bad := range []string{"100", "-1", "lots"} {
		if _, err := Load(nil, envOf(map[string]string{"LTV_DLQ_MAX_MESSAGE_BYTES": bad}), io.Discard); err == nil ||
			!strings.Contains(err.Error(), "dlq-max-message-bytes") {
			t.Errorf("%s: got %v", bad, err)
		}
	}
}

// The CloudEvents source follows the consumer group unless it is set.
func TestEventSource(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "/ltv-stream/ltv-updater"},
		{[]string{"-group-id", "ltv eu/1"}, nil, "/ltv-stream/ltv%20eu%2F1"},
		{nil, map[string]string{"LTV_EVENT_SOURCE": " https://ltv.example.com/eu-1 "}, "https://ltv.example.com/eu-1"},
		{[]string{"-event-source", "urn:ltv:eu-1"}, map[string]string{"LTV_EVENT_SOURCE": "/env"}, "urn:ltv:eu-1"},
	}
	for _, tc := range cases {
		c, err := Load(tc.args, envOf(tc.env), io.Discard)
		if err != nil {
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
		} else if c.EventSource != tc.want {
			t.Errorf("%v %v: source %q, want %q", tc.args, tc.env, c.EventSource, tc.want)
		}
	}
}

func TestPredictiveBlock(t *testing.T) {
	good := strings.NewReplacer("bgnbd", "mbgnbd", "rescore_every_days: 0", "rescore_every_days: 7").Replace(spectest.Predictive)
	cases := []struct {
		name, yaml, err string
	}{
		{"valid", good, ""},
		{"unknown model", strings.Replace(good, "mbgnbd", "pareto", 1), "predictive: model"},
		{"bad unit", strings.Replace(good, "week", "month", 1), "predictive: time_unit"},
		{"missing parameter", strings.Replace(good, " b: 2.426", "", 1), "purchases.b is missing"},
		{"negative parameter", strings.Replace(good, "r: 0.243", "r: -1", 1), "r"},
		{"q not above 1", strings.Replace(good, "q: 3.74", "q: 0.5", 1), "q"},
		{"horizon", strings.Replace(good, "horizon_months: 12", "horizon_months: 0", 1), "horizon_months"},
		{"rescore", strings.Replace(good, "rescore_every_days: 7", "rescore_every_days: -1", 1), "rescore_every_days"},
		{"rescore below a second", strings.Replace(good, "rescore_every_days: 7", "rescore_every_days: 1e-12", 1), "shorter than a second"},
		{"no spend", strings.Replace(good, "  spend: {p: 6.25, q: 3.74, v: 15.44}\n", "", 1), "purchases and spend are required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f File
			if err := ParseFile([]byte(tc.yaml), &f); err != nil {
				t.Fatal(err)
			}
			m, err := f.Model()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := m.Predictive
			if p == nil || p.TimeUnit != 7*24*time.Hour || p.RescoreEvery != 7*24*time.Hour {
				t.Fatalf("predictive %+v", p)
			}
			if pr := p.Predictor.Predict(2, 10, 20, 30, 0.4); pr.PAlive <= 0 || pr.PAlive > 1 || pr.CLV <= 0 {
				t.Fatalf("prediction %+v", pr)
			}
		})
	}
}

// TestBareBoolFlags: a true/false setting given as a bare flag means true,
// as Go's bool flags do; =false, the environment and bad text work as for
// every setting.
func TestBareBoolFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		pprof bool
		err   string
	}{
		{"bare", []string{"--pprof"}, nil, true, ""},
		{"bare, env false", []string{"--pprof"}, map[string]string{"LTV_PPROF": "false"}, true, ""},
		{"=false wins over env", []string{"--pprof=false"}, map[string]string{"LTV_PPROF": "true"}, false, ""},
		{"env", nil, map[string]string{"LTV_PPROF": "true"}, true, ""},
		{"bad text", []string{"--pprof=maybe"}, nil, false, "--pprof (LTV_PPROF)"},
		{"a separate value is an argument", []string{"--pprof", "true"}, nil, false, `unexpected argument "true"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, envOf(tc.env), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load = %v, want an error naming %q", err, tc.err)
				}
				return
			}
			if err != nil || c.PProf != tc.pprof {
				t.Fatalf("Load = %v, pprof %v; want %v", err, c != nil && c.PProf, tc.pprof)
			}
		})
	}
	var usage strings.Builder
	if _, err := Load([]string{"-h"}, envOf(nil), &usage); !errors.Is(err, flag.ErrHelp) ||
		strings.Contains(usage.String(), "panic") || !strings.Contains(usage.String(), "-pprof") {
		t.Fatalf("Load(-h) = %v, usage:\n%s", err, usage.String())
	}
	c, err := Load([]string{"--kafka-tls", "--kafka-tls-insecure-skip-verify", "--redis-tls-insecure-skip-verify", "--redis-url", "rediss://r:6379/0"}, envOf(nil), io.Discard)
	if err != nil || !c.KafkaTLS.Enabled || !c.KafkaTLS.InsecureSkipVerify || !c.RedisTLS.InsecureSkipVerify {
		t.Fatalf("bare TLS flags: %v, %+v %+v", err, c.KafkaTLS, c.RedisTLS)
	}
}

// TestCommandUsageListsItsOwnFlagsFirst: a command's few flags of its own
// are not lost among the dozens it shares with the consumer, and a
// true/false setting shows no "(default false)".
func TestCommandUsageListsItsOwnFlagsFirst(t *testing.T) {
	var usage strings.Builder
	cmd := Command{Name: "ltvctl demo", Flags: func(fs *flag.FlagSet) { fs.String("own-flag", "x", "a flag of the command") }}
	if _, err := LoadCommand(cmd, []string{"-h"}, envOf(nil), &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("LoadCommand(-h) = %v", err)
	}
	text := usage.String()
	own, shared, flagAt, brokersAt := strings.Index(text, "Flags of ltvctl demo:"), strings.Index(text, "Settings shared with the consumer"),
		strings.Index(text, "-own-flag"), strings.Index(text, "-kafka-brokers")
	if own < 0 || shared < 0 || !(own < flagAt && flagAt < shared && shared < brokersAt) {
		t.Errorf("usage not grouped as the command's flags, then the shared settings:\n%s", text)
	}
	if strings.Count(text, "-own-flag") != 1 || strings.Count(text, "-kafka-brokers") != 1 {
		t.Errorf("a flag listed twice or not at all:\n%s", text)
	}
	if strings.Contains(text, "(default false)") {
		t.Errorf("usage shows a false default:\n%s", text)
	}
	usage.Reset()
	if _, err := Load([]string{"-h"}, envOf(nil), &usage); !errors.Is(err, flag.ErrHelp) ||
		strings.Contains(usage.String(), "Settings shared") || strings.Contains(usage.String(), "(default false)") {
		t.Errorf("the consumer's usage:\n%s", usage.String())
	}
}

// TestYAMLTiersAsYAMLReadsThem: the tiers are read node by node, so they
// follow the YAML rules the rest of the file follows: an alias stands for
// its anchored value (a threshold or a whole tier), and a key given twice
// in one tier is an error, never one of the two values silently.
func TestYAMLTiersAsYAMLReadsThem(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       string // the tiers as name=min, or the error wanted
		err        bool
	}{
		{"aliased threshold in a list", "lifespan_years: &m 3\ntiers:\n  - {name: bronze, min: 0}\n  - {name: silver, min: *m}\n", "bronze=0 silver=3", false},
		{"aliased threshold in a mapping", "lifespan_years: &m 3\ntiers: {bronze: 0, silver: *m}\n", "bronze=0 silver=3", false},
		{"aliased name", "base_currency: &n EUR\ntiers:\n  - {name: *n, min: 0}\n", "EUR=0", false},
		{"aliased tier", "tiers:\n  - &b {name: bronze, min: 0}\n  - *b\n", `tier "bronze" is listed twice`, true},
		{"anchored list", "tiers: &t\n  - {name: bronze, min: 0}\n", "bronze=0", false},
		{"name twice", "tiers:\n  - {name: bronze, name: silver, min: 0}\n", `line 2: tier key "name" given twice`, true},
		{"name twice, block style", "tiers:\n  - name: bronze\n    min: 0\n    name: silver\n", `line 4: tier key "name" given twice`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, tc.yaml)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tier := range c.Model.Tiers {
				got = append(got, tier.Name+"="+tier.Min.String())
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("tiers %v, want %s", got, tc.want)
			}
		})
	}
}

// TestYAMLErrorsNameTheKey: a value of the wrong kind or form, an unknown
// key and a repeated key are reported on one line that names the key
// (with its path inside predictive or tiers) and its line, in the words
// of the file, not of Go's types.
func TestYAMLErrorsNameTheKey(t *testing.T) {
	const pred = "predictive:\n  model: bgnbd\n  time_unit: week\n  purchases: {r: 0.243, alpha: 4.414, a: 0.793, b: 2.426%s}\n" +
		"  spend: {p: 6.25, q: 3.74, v: 15.44}\n  horizon_months: %s\n  discount_rate_monthly: 0.01\n"
	cases := []struct {
		name, yaml string
		want       []string // each must be in the error
	}{
		{"not a decimal", "lifespan_years: three\n", []string{`line 1: lifespan_years: "three" is not a decimal number`}},
		{"a number too large", "lifespan_years: 1e9000\n", []string{`line 1: lifespan_years: "1e9000" is out of range (below 10^18, at most 20 decimal places)`}},
		{"an exponent too large to read", "lifespan_years: 1e99999\n", []string{`line 1: lifespan_years: "1e99999" is out of range`}},
		{"too many places", "hysteresis: 0.000000000000000000001\n", []string{`line 1: hysteresis: "0.000000000000000000001" is out of range`}},
		{"a long value is cut in the message", "at_risk_after_days: 0." + strings.Repeat("0", 60) + "1\n", []string{`at_risk_after_days: "0.` + strings.Repeat("0", 38) + `"… is out of range`}},
		{"a lifespan beyond 100 years", "lifespan_years: 100.01\n", []string{"lifespan_years must be > 0 and at most 100, got 100.01"}},
		{"a window beyond 100 years", "min_window_years: 1000\n", []string{"min_window_years must be > 0 and at most 100, got 1000"}},
		{"a mapping for a number", "hysteresis: {a: 1}\n", []string{"line 1: hysteresis: expected a number"}},
		{"a list for a number", "default_gross_margin: [1]\n", []string{"line 1: default_gross_margin: expected a number"}},
		{"not a duration", "max_future_skew: 36\n", []string{`line 1: max_future_skew: "36" is not a duration`}},
		{"not a whole number", "lifespan_years: 3\ndedupe_window: 31.9\n", []string{`line 2: dedupe_window: "31.9" is not a whole number`}},
		{"segment days", "at_risk_after_days: soon\n", []string{`line 1: at_risk_after_days: "soon"`}},
		{"tier threshold in a list", "tiers:\n  - {name: a, min: 0}\n  - {name: b, min: x}\n", []string{`line 3: tiers[1].min: "x" is not a decimal number`}},
		{"tier threshold in a mapping", "tiers: {a: 0, b: x}\n", []string{`line 1: tiers.b: "x" is not a decimal number`}},
		{"fx rate", "fx_rates:\n  EUR: lots\n", []string{`line 2: fx_rates.EUR: "lots" is not a decimal number`}},
		{"a list for a string", "base_currency: [SEK]\n", []string{"line 1: base_currency: want a string, got a list"}},
		{"unknown key", "lifespan_yeers: 3\n", []string{`line 1: unknown key "lifespan_yeers"`}},
		{"unknown nested key", fmt.Sprintf(pred, ", c: 1", "12"), []string{`line 4: unknown key "predictive.purchases.c"`}},
		{"predictive parameter", strings.Replace(fmt.Sprintf(pred, "", "12"), "r: 0.243", "r: abc", 1), []string{`line 4: predictive.purchases.r: want a number, got "abc"`}},
		{"predictive horizon", fmt.Sprintf(pred, "", "12.5"), []string{`line 6: predictive.horizon_months: "12.5" is not a whole number`}},
		{"predictive a string", "predictive: yes\n", []string{`line 1: predictive: want a mapping, got "yes"`}},
		{"repeated key", "lifespan_years: 3\nhysteresis: 0.1\nlifespan_years: 4\n", []string{`line 3: lifespan_years: given twice (first at line 1)`}},
		{"two errors", "lifespan_yeers: 3\nbase_currency: [SEK]\n", []string{`line 1: unknown key "lifespan_yeers"; line 2: base_currency: want a string, got a list`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("err = %q, want it to contain %q", msg, w)
				}
			}
			for _, bad := range []string{"\n", "config.File", "config.Predictive", "struct {", "float64", "unmarshal"} {
				if strings.Contains(msg, bad) {
					t.Errorf("err = %q: it contains %q", msg, bad)
				}
			}
		})
	}
}

// TestKafkaBrokers: LTV_KAFKA_BROKERS is a comma-separated list of
// host:port (the port may be left out: kafka-go then dials 9092); blanks
// around items and empty items are dropped, and an item that is not an
// address (a URL, a bad port, a blank inside) is a start-up error naming
// the setting, not a connection retried forever.
func TestKafkaBrokers(t *testing.T) {
	cases := []struct {
		brokers string
		want    string // the brokers joined by |, or the error wanted
		err     bool
	}{
		{"k1:9092", "k1:9092", false},
		{" k1:9092 , ,k2:9093,,", "k1:9092|k2:9093", false},
		{"kafka-0.kafka.svc.cluster.local:9092", "kafka-0.kafka.svc.cluster.local:9092", false},
		{"my_broker:9092", "my_broker:9092", false},
		{"k1", "k1", false},
		{"10.0.0.1:9092,[::1]:9093,::1", "10.0.0.1:9092|[::1]:9093|::1", false},
		{"[fe80::1%eth0]:9092,fe80::2%eth0", "[fe80::1%eth0]:9092|fe80::2%eth0", false},
		{"KAFKA-0.Example.COM.:9092", "KAFKA-0.Example.COM.:9092", false},
		{" , ", "no Kafka brokers", true},
		{"kafka://k1:9092", `--kafka-brokers (LTV_KAFKA_BROKERS): "kafka://k1:9092" is not host:port`, true},
		{"PLAINTEXT://k1:9092", `"PLAINTEXT://k1:9092" is not host:port`, true},
		{"k1:9092,k2:", `"k2:" is not host:port`, true},
		{"k1:http", `"k1:http" is not host:port`, true},
		{"k1:0", `"k1:0" is not host:port`, true},
		{"k1:65536", `"k1:65536" is not host:port`, true},
		{"k1 :9092", `"k1 :9092" is not host:port`, true},
		{"k1:9092 k2:9092", `"k1:9092 k2:9092" is not host:port`, true},
		{":9092", `":9092" is not host:port`, true},
		{"[::1]", `"[::1]" is not host:port`, true},
		{"k1:9092/", `"k1:9092/" is not host:port`, true},
	}
	for _, tc := range cases {
		t.Run(tc.brokers, func(t *testing.T) {
			for _, how := range []string{"env", "flag"} {
				env := map[string]string{}
				var args []string
				if how == "env" {
					env["LTV_KAFKA_BROKERS"] = tc.brokers
				} else {
					args = []string{"--kafka-brokers", tc.brokers}
				}
				c, err := Load(args, envOf(env), io.Discard)
				if tc.err {
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%s: err = %v, want it to contain %q", how, err, tc.want)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if got := strings.Join(c.Brokers, "|"); got != tc.want {
					t.Errorf("%s: brokers %q, want %q", how, got, tc.want)
				}
			}
		})
	}
}

// TestYAMLBaseCurrency: base_currency left out or given no value (YAML's
// null) is SEK; given as an empty string it is an error, never SEK
// silently (as an unknown key or a bad number is an error).
func TestYAMLBaseCurrency(t *testing.T) {
	cases := []struct{ yaml, want, err string }{
		{"lifespan_years: 3\n", "SEK", ""},
		{"base_currency:\n", "SEK", ""},
		{"base_currency: ~\n", "SEK", ""},
		{"base_currency: EUR\n", "EUR", ""},
		{"base_currency: \"EUR\"\n", "EUR", ""},
		{"base_currency: ''\n", "", `line 1: base_currency: empty`},
		{"base_currency: \"\"\n", "", `line 1: base_currency: empty`},
		{"base_currency: {code: EUR}\n", "", `line 1: base_currency: want a string, got a mapping`},
	}
	for _, tc := range cases {
		t.Run(tc.yaml, func(t *testing.T) {
			if c := loadCase(t, tc.yaml, tc.err); c != nil && c.BaseCurrency != tc.want {
				t.Errorf("base currency %q, want %q", c.BaseCurrency, tc.want)
			}
		})
	}
}

// TestEveryInvalidSettingNamesItsFlagAndVariable: docs/configuration.md
// promises that an invalid value is a start-up error naming the flag and
// its variable, whichever of the two gave it; the operator then knows
// what to change. Each case is a bad value of one setting (or a bad pair);
// the error must name every flag and variable listed.
func TestEveryInvalidSettingNamesItsFlagAndVariable(t *testing.T) {
	a, b := collidingTopicNames()
	for _, tc := range []struct {
		name  string
		env   map[string]string
		yaml  string
		names []string // flags (without --) whose flag and variable the error names
	}{
		{"no brokers", map[string]string{"LTV_KAFKA_BROKERS": " , "}, "", []string{"kafka-brokers"}},
		{"blank redis url", map[string]string{"LTV_REDIS_URL": " "}, "", []string{"redis-url"}},
		{"missing config file", map[string]string{"LTV_CONFIG": "/nonexistent/ltv.yaml"}, "", []string{"config"}},
		{"bad value in the config file", nil, "hysteresis: 2\n", []string{"config"}},
		{"unknown key in the config file", nil, "hysteresys: 0.1\n", []string{"config"}},
		{"bad base currency in the config file", nil, "base_currency: \"S E K\"\n", []string{"config"}},
		{"unknown sasl mechanism", map[string]string{"LTV_KAFKA_SASL_MECHANISM": "GSSAPI"}, "", []string{"kafka-sasl-mechanism"}},
		{"sasl without a password", map[string]string{"LTV_KAFKA_SASL_MECHANISM": "PLAIN", "LTV_KAFKA_SASL_USERNAME": "u"}, "",
			[]string{"kafka-sasl-username", "kafka-sasl-password"}},
		{"sasl credentials without a mechanism", map[string]string{"LTV_KAFKA_SASL_USERNAME": "u", "LTV_KAFKA_SASL_PASSWORD": "p"}, "",
			[]string{"kafka-sasl-mechanism"}},
		{"kafka cert without key", map[string]string{"LTV_KAFKA_TLS_CERT_FILE": "/x.crt"}, "", []string{"kafka-tls-cert-file", "kafka-tls-key-file"}},
		{"redis key without cert", map[string]string{"LTV_REDIS_URL": "rediss://h:6380", "LTV_REDIS_TLS_KEY_FILE": "/x.key"}, "",
			[]string{"redis-tls-cert-file", "redis-tls-key-file"}},
		{"missing kafka ca file", map[string]string{"LTV_KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"}, "", []string{"kafka-tls-ca-file"}},
		{"missing redis ca file", map[string]string{"LTV_REDIS_URL": "rediss://h:6380", "LTV_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, "",
			[]string{"redis-tls-ca-file"}},
		{"missing kafka client key pair", map[string]string{"LTV_KAFKA_TLS_CERT_FILE": "/nonexistent/c.pem", "LTV_KAFKA_TLS_KEY_FILE": "/nonexistent/k.pem"}, "",
			[]string{"kafka-tls-cert-file", "kafka-tls-key-file"}},
		{"redis tls without rediss", map[string]string{"LTV_REDIS_TLS_INSECURE_SKIP_VERIFY": "true"}, "",
			[]string{"redis-tls-insecure-skip-verify", "redis-url"}},
		{"event source", map[string]string{"LTV_EVENT_SOURCE": "my updater"}, "", []string{"event-source"}},
		{"input topics with one offset-guard id", map[string]string{"LTV_ORDERS_TOPIC": a, "LTV_LIFECYCLE_TOPIC": b}, "",
			[]string{"orders-topic", "lifecycle-topic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			maps.Copy(env, tc.env)
			if tc.yaml != "" {
				env["LTV_CONFIG"] = yamlFile(t, tc.yaml)
			}
			_, err := Load(nil, envOf(env), io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, name := range tc.names {
				variable := "LTV_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
				if !strings.Contains(err.Error(), "--"+name) || !strings.Contains(err.Error(), variable) {
					t.Errorf("error %q does not name --%s and %s", err, name, variable)
				}
			}
		})
	}
}

// collidingTopicNames finds two valid topic names whose offset-guard ids
// (aggregate.TopicOf, 32 bits) are equal: about 80,000 names by the
// birthday bound.
func collidingTopicNames() (string, string) {
	seen := map[aggregate.TopicID]string{}
	for i := 0; ; i++ {
		name := "t-" + strconv.Itoa(i)
		id := aggregate.TopicOf(name)
		if other, ok := seen[id]; ok {
			return other, name
		}
		seen[id] = name
	}
}

// TestListenAndRedisAddresses: LTV_HTTP_ADDR is host:port or :port whose
// port a listener can take (0 to 65535, or a service name), blanks around
// it ignored as around every address; a Redis URL's port is one a server
// can listen on (1 to 65535). Anything else is a start-up error naming
// the setting (docs/configuration.md), not a listener or a dial that fails
// once the service runs.
func TestListenAndRedisAddresses(t *testing.T) {
	for _, tc := range []struct {
		env         map[string]string
		http, redis string // the values loaded, when no error is wanted
		err         string
	}{
		{env: map[string]string{"LTV_HTTP_ADDR": " :9090 "}, http: ":9090", redis: "redis://localhost:6379/0"},
		{env: map[string]string{"LTV_HTTP_ADDR": "127.0.0.1:0"}, http: "127.0.0.1:0", redis: "redis://localhost:6379/0"},
		{env: map[string]string{"LTV_HTTP_ADDR": "[::1]:65535"}, http: "[::1]:65535", redis: "redis://localhost:6379/0"},
		{env: map[string]string{"LTV_HTTP_ADDR": ":65536"}, err: `--http-addr (LTV_HTTP_ADDR): ":65536": port "65536" is not a number from 0 to 65535`},
		{env: map[string]string{"LTV_HTTP_ADDR": "0.0.0.0:80x"}, err: "--http-addr (LTV_HTTP_ADDR)"},
		{env: map[string]string{"LTV_HTTP_ADDR": ":http"}, err: `--http-addr (LTV_HTTP_ADDR): ":http": port "http" is not a number`},
		{env: map[string]string{"LTV_HTTP_ADDR": ":+80"}, err: "--http-addr (LTV_HTTP_ADDR)"},
		{env: map[string]string{"LTV_HTTP_ADDR": "127.0.0.1:"}, err: "--http-addr (LTV_HTTP_ADDR)"},
		{env: map[string]string{"LTV_REDIS_URL": "redis://h:65535/1"}, http: ":8080", redis: "redis://h:65535/1"},
		{env: map[string]string{"LTV_REDIS_URL": "rediss://h"}, http: ":8080", redis: "rediss://h"},
		{env: map[string]string{"LTV_REDIS_URL": "redis://:secret@h:65536"}, err: `--redis-url (LTV_REDIS_URL): redis url: port "65536" is not a number from 1 to 65535`},
		{env: map[string]string{"LTV_REDIS_URL": "redis://h1:7000, redis://h2:0"}, err: "--redis-url (LTV_REDIS_URL): redis cluster url 2: port \"0\""},
	} {
		c, err := loadWant(t, tc.env, tc.err)
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%v: the error shows the password: %v", tc.env, err)
		}
		if c == nil {
			continue
		}
		if c.HTTPAddr != tc.http || c.RedisURL != tc.redis {
			t.Errorf("%v: http %q, redis %q; want %q, %q", tc.env, c.HTTPAddr, c.RedisURL, tc.http, tc.redis)
		}
	}
}

// TestWorkersAndMaxBatchBounds: the largest LTV_WORKERS and LTV_MAX_BATCH
// load, one more is a start-up error naming the setting, never an out of
// memory crash once partitions are assigned.
func TestWorkersAndMaxBatchBounds(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		workers int
		batch   int
		err     string
	}{
		{map[string]string{"LTV_WORKERS": "1024", "LTV_MAX_BATCH": "1000000"}, 1024, 1000000, ""},
		{map[string]string{"LTV_WORKERS": " 1 ", "LTV_MAX_BATCH": "1"}, 1, 1, ""},
		{map[string]string{"LTV_WORKERS": "1025"}, 0, 0, "--workers (LTV_WORKERS)"},
		{map[string]string{"LTV_MAX_BATCH": "1000001"}, 0, 0, "--max-batch (LTV_MAX_BATCH)"},
		{map[string]string{"LTV_MAX_BATCH": "9223372036854775807"}, 0, 0, "--max-batch (LTV_MAX_BATCH)"},
		{map[string]string{"LTV_MAX_BATCH": "9223372036854775808"}, 0, 0, "--max-batch (LTV_MAX_BATCH)"},
	} {
		c, _ := loadWant(t, tc.env, tc.err)
		if c == nil {
			continue
		}
		if c.Workers != tc.workers || c.MaxBatch != tc.batch {
			t.Errorf("%v: workers %d, max batch %d; want %d, %d", tc.env, c.Workers, c.MaxBatch, tc.workers, tc.batch)
		}
	}
}

// loadWant loads the settings of env and checks the outcome: an error
// containing wantErr when that is set, else none. It returns the config
// only when there is one to check further, and the error as it came.
func loadWant(t *testing.T, env map[string]string, wantErr string) (*Config, error) {
	t.Helper()
	c, err := Load(nil, envOf(env), io.Discard)
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%v: err = %v, want it to contain %q", env, err, wantErr)
		}
		return nil, err
	case err != nil:
		t.Errorf("%v: %v", env, err)
		return nil, err
	}
	return c, nil
}
