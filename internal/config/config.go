// Package config loads the consumer's settings (SPEC §7): every setting has
// an environment variable and a flag, the flag wins, and a YAML file named
// by LTV_CONFIG holds the model and tier settings.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/settings"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/shopspring/decimal"
)

// Config is the consumer's complete configuration.
type Config struct {
	Brokers        []string // LTV_KAFKA_BROKERS / --kafka-brokers, comma-separated; default localhost:9092
	RedisURL       string   // LTV_REDIS_URL / --redis-url; default redis://localhost:6379/0; several URLs mean Redis Cluster seeds
	GroupID        string   // LTV_GROUP_ID / --group-id; default ltv-updater
	OrdersTopic    string   // LTV_ORDERS_TOPIC / --orders-topic; default orders
	LifecycleTopic string   // LTV_LIFECYCLE_TOPIC / --lifecycle-topic; default customer-lifecycle
	ChangesTopic   string   // LTV_CHANGES_TOPIC / --changes-topic; default ltv-changes
	SegmentsTopic  string   // LTV_SEGMENTS_TOPIC / --segments-topic; default ltv-segments
	DLQTopic       string   // LTV_DLQ_TOPIC / --dlq-topic; default ltv-dlq
	HTTPAddr       string   // LTV_HTTP_ADDR / --http-addr for /healthz, /readyz, /metrics; default :8080
	ConfigFile     string   // LTV_CONFIG / --config: path of the YAML File; "" means the SPEC defaults
	// EventSource is the CloudEvents source (ce_source header) of the
	// change events: LTV_EVENT_SOURCE, or "/ltv-stream/<group id>".
	EventSource string

	// From the YAML file.
	Model        *aggregate.Model
	BaseCurrency string                     // base_currency (default SEK): the currency money is kept in
	FXRates      map[string]decimal.Decimal // fx_rates: currency code → rate into BaseCurrency; empty: other currencies are rejected
	// MaxFutureSkew bounds how far occurred_at may lie after the wall
	// clock (SPEC §2); negative means the check is off (max_future_skew: 0).
	MaxFutureSkew time.Duration
	// DLQMaxMessageBytes overrides the DLQ topic's max.message.bytes as
	// read from the broker; 0 reads it from the broker.
	DLQMaxMessageBytes int

	// Tuning (beyond SPEC §7, same env/flag rules).
	Workers         int
	MaxBatch        int           // LTV_MAX_BATCH / --max-batch: records per batch (default stream.DefaultMaxBatch)
	Linger          time.Duration // LTV_LINGER / --linger: how long a partial batch waits for more (default stream.DefaultLinger)
	MaxMessageBytes int           // LTV_MAX_MESSAGE_BYTES / --max-message-bytes: larger input values go to the DLQ (default decode.DefaultMaxBytes)
	// StateCacheBytes bounds the in-process copies of customer hashes
	// (store.Cached); 0 turns the cache off.
	StateCacheBytes int
	// RedisMinReplicas is how many replicas of each Redis master must
	// have a batch's writes before its offsets are committed, even while
	// fewer are online; a batch always waits for every replica online
	// (store.ReplicaWait).
	RedisMinReplicas int
	// RedisLostReplicaGrace is how long writes keep waiting for a replica
	// that was online and left (store.ReplicaWait.LostReplicaGrace).
	RedisLostReplicaGrace time.Duration
	DrainTimeout          time.Duration // LTV_DRAIN_TIMEOUT / --drain-timeout: time to finish and commit on SIGTERM (default stream.DefaultDrainTimeout)
	SessionTimeout        time.Duration // LTV_KAFKA_SESSION_TIMEOUT / --kafka-session-timeout: how soon a dead instance's partitions move (default stream.DefaultSessionTimeout)
	LogLevel              string        // LTV_LOG_LEVEL / --log-level: debug, info (default), warn or error
	LogFormat             string        // LTV_LOG_FORMAT / --log-format: json (default) or console
	// PProf exposes Go's /debug/pprof/ profiles on the HTTP address, for
	// diagnosing a live instance. Off by default: profiles reveal internals.
	PProf bool

	// APIAddr is where `ltvctl serve` listens with the read API and the
	// dashboard (SPEC §11, LTV_API_ADDR, default ":8081").
	APIAddr string
	// APICORSOrigins are the browser origins allowed to call the read API
	// from another site ("*" for any); empty keeps CORS off, so only pages
	// of the API's own origin (the dashboard) can read it.
	APICORSOrigins []string

	// Kafka authentication and encryption.
	// KafkaClientID is the client.id sent to the brokers ("" keeps
	// kafka-go's default, "<program>@<host> (github.com/segmentio/kafka-go)").
	KafkaClientID      string
	KafkaSASLMechanism string   // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	KafkaSASLUsername  string   // LTV_KAFKA_SASL_USERNAME; required with a mechanism
	KafkaSASLPassword  string   // secret: never logged or shown in usage
	KafkaTLS           TLSFiles // LTV_KAFKA_TLS and LTV_KAFKA_TLS_* files
	// Redis credentials and TLS beyond the URL: an ACL user and a password
	// kept out of the URL (so it can come from a Secret), and TLS files
	// for rediss:// URLs.
	RedisUsername string
	RedisPassword string   // secret: never logged or shown in usage
	RedisTLS      TLSFiles // LTV_REDIS_TLS_* files; only with a rediss:// URL
}

// printFlags prints the flags of fs that keep selects, in flag package
// usage form, through a flag set holding only those.
func printFlags(w io.Writer, fs *flag.FlagSet, keep func(name string) bool) {
	part := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	part.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f.Name) {
			part.Var(f.Value, f.Name, f.Usage)
			part.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	part.PrintDefaults()
}

// setting is one env/flag pair.
type setting struct {
	env, flag, def, usage string
	dst                   *string
	// secret settings never show the environment's value as the flag's
	// default in usage output.
	secret bool
}

// bareBool lets a true/false setting be given as a bare flag (--pprof means
// --pprof=true), as Go's own bool flags can; its text is still checked
// with the other settings' values.
type bareBool struct{ flag.Value }

// IsBoolFlag implements the flag package's optional boolFlag interface.
func (bareBool) IsBoolFlag() bool { return true }

// String is the wrapped value's text. The flag package's usage output
// calls it on a zero bareBool too (to tell a default from the zero value).
func (b bareBool) String() string {
	if b.Value == nil {
		return "false" // the zero value of a true/false setting: no "(default false)" in usage
	}
	return b.Value.String()
}

// EnvStringVar registers a string flag whose default is the environment
// variable env when that is set, so the flag wins over the environment,
// which wins over def: the rule of every setting (SPEC §7). Commands use it
// for settings of their own.
func EnvStringVar(fs *flag.FlagSet, getenv func(string) string, dst *string, name, env, def, usage string) {
	if v := getenv(env); v != "" {
		def = v
	}
	fs.StringVar(dst, name, def, usage+" (env "+env+")")
}

// Load parses args (without the program name) with environment lookups
// through getenv. Usage errors and invalid values are returned, never
// printed-and-exited, so callers decide how to report them.
func Load(args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	return LoadCommand(Command{Name: "consumer"}, args, getenv, usageOut)
}

// Command lets another program (ltvctl) take the consumer's settings with
// the same environment variables and flags, plus flags and positional
// arguments of its own.
type Command struct {
	// Name and Usage head the usage text ("consumer [flags]").
	Name, Usage string
	// Flags registers the command's own flags on the shared flag set.
	Flags func(fs *flag.FlagSet)
	// Args, when set, receives the positional arguments; otherwise any is
	// an error.
	Args *[]string
}

// LoadCommand is Load for a command with its own flags and arguments.
func LoadCommand(cmd Command, args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	var raw rawSettings
	flags := raw.settings()
	fs := newFlagSet(cmd, flags, getenv, usageOut)
	if err := parseArgs(fs, cmd, args); err != nil {
		return nil, err
	}
	applySecrets(fs, flags, getenv)
	c := raw.config()
	if err := raw.parseValues(c, flags); err != nil {
		return nil, err
	}
	if err := c.readConfigFile(); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// rawSettings holds every setting's text as given (flag, environment or
// default), before it is parsed into Config.
type rawSettings struct {
	brokers, redisURL, group, orders, lifecycle, changes, dlq, httpAddr, file string
	segments                                                                  string
	workers, maxBatch, linger, maxMsg, drain, logLevel, logFormat, session    string
	dlqMaxMsg                                                                 string
	pprof, stateCache, eventSource, redisMinReplicas, redisLostGrace          string
	apiAddr, apiCORS                                                          string

	kafkaClientID, kafkaMech, kafkaUser, kafkaPass, kafkaTLS, kafkaCA, kafkaCert, kafkaKey, kafkaInsecure string
	redisUser, redisPass, redisCA, redisCert, redisKey, redisInsecure                                     string
}

// settings lists every setting shared by the commands, each with its
// environment variable, flag, default and usage, and the field of r that
// receives its text.
func (r *rawSettings) settings() []setting {
	return []setting{
		{"LTV_KAFKA_BROKERS", "kafka-brokers", "localhost:9092", "comma-separated bootstrap brokers", &r.brokers, false},
		{"LTV_REDIS_URL", "redis-url", "redis://localhost:6379/0", "redis:// or rediss:// URL; several comma-separated URLs mean Redis Cluster seed nodes", &r.redisURL, false},
		{"LTV_GROUP_ID", "group-id", settings.DefaultGroupID, "Kafka consumer group", &r.group, false},
		{"LTV_ORDERS_TOPIC", "orders-topic", settings.DefaultOrdersTopic, "input topic of order events", &r.orders, false},
		{"LTV_LIFECYCLE_TOPIC", "lifecycle-topic", settings.DefaultLifecycleTopic, "input topic of churn/reactivation events", &r.lifecycle, false},
		{"LTV_CHANGES_TOPIC", "changes-topic", settings.DefaultChangesTopic, "output topic of LTV-change events", &r.changes, false},
		{"LTV_SEGMENTS_TOPIC", "segments-topic", settings.DefaultSegmentsTopic, "output topic of segment-change events", &r.segments, false},
		{"LTV_DLQ_TOPIC", "dlq-topic", settings.DefaultDLQTopic, "dead-letter topic for rejected input", &r.dlq, false},
		{"LTV_HTTP_ADDR", "http-addr", ":8080", "address of /healthz, /readyz and /metrics", &r.httpAddr, false},
		{"LTV_CONFIG", "config", "", "YAML file with model and tier settings", &r.file, false},
		{"LTV_EVENT_SOURCE", "event-source", "", "CloudEvents source (ce_source header) of the change events: a URI-reference (empty: /ltv-stream/<group id>)", &r.eventSource, false},
		{"LTV_WORKERS", "workers", strconv.Itoa(stream.DefaultWorkers), "parallel batch workers (partitions are spread over them)", &r.workers, false},
		{"LTV_MAX_BATCH", "max-batch", strconv.Itoa(stream.DefaultMaxBatch), "maximum records per batch", &r.maxBatch, false},
		{"LTV_LINGER", "linger", stream.DefaultLinger.String(), "how long a partial batch waits for more records", &r.linger, false},
		{"LTV_MAX_MESSAGE_BYTES", "max-message-bytes", strconv.Itoa(decode.DefaultMaxBytes), "input values larger than this go to the DLQ", &r.maxMsg, false},
		{"LTV_DLQ_MAX_MESSAGE_BYTES", "dlq-max-message-bytes", "0", "largest record batch the DLQ topic accepts; dead letters above it are written cut to fit (0: read the topic's max.message.bytes from the broker, at start and every minute)", &r.dlqMaxMsg, false},
		{"LTV_STATE_CACHE_BYTES", "state-cache-bytes", strconv.Itoa(store.DefaultCacheBytes), "memory for copies of recently written customers, which then need no Redis read (0: off)", &r.stateCache, false},
		{"LTV_REDIS_MIN_REPLICAS", "redis-min-replicas", "0", "replicas of each Redis master that must have a batch's writes before its offsets are committed, even while fewer are online (a batch always waits for every replica online)", &r.redisMinReplicas, false},
		{"LTV_REDIS_LOST_REPLICA_GRACE", "redis-lost-replica-grace", store.DefaultLostReplicaGrace.String(), "how long a batch keeps waiting for a replica that was online and left before it waits only for those left", &r.redisLostGrace, false},
		{"LTV_DRAIN_TIMEOUT", "drain-timeout", stream.DefaultDrainTimeout.String(), "on SIGTERM and at a rebalance, how long in-flight work may take to finish and commit", &r.drain, false},
		{"LTV_KAFKA_SESSION_TIMEOUT", "kafka-session-timeout", stream.DefaultSessionTimeout.String(), "consumer-group session timeout: how soon a dead instance's partitions move", &r.session, false},
		{"LTV_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", &r.logLevel, false},
		{"LTV_LOG_FORMAT", "log-format", "json", "json or console", &r.logFormat, false},
		{"LTV_PPROF", "pprof", "false", "serve Go profiles under /debug/pprof/ on the HTTP address", &r.pprof, false},
		{"LTV_API_ADDR", "api-addr", ":8081", "address of the read API and dashboard of ltvctl serve", &r.apiAddr, false},
		{"LTV_API_CORS_ORIGINS", "api-cors-origins", "", "comma-separated browser origins (https://host[:port], or *) allowed to call the read API cross-site (empty: CORS off)", &r.apiCORS, false},

		{"LTV_KAFKA_CLIENT_ID", "kafka-client-id", "", "client.id sent to the brokers: shows in broker logs and quotas, and prefixes this instance's group member id (empty: kafka-go's default)", &r.kafkaClientID, false},
		{"LTV_KAFKA_SASL_MECHANISM", "kafka-sasl-mechanism", "", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none)", &r.kafkaMech, false},
		{"LTV_KAFKA_SASL_USERNAME", "kafka-sasl-username", "", "Kafka SASL user name", &r.kafkaUser, false},
		{"LTV_KAFKA_SASL_PASSWORD", "kafka-sasl-password", "", "Kafka SASL password (prefer the environment variable: flags are visible in ps)", &r.kafkaPass, true},
		{"LTV_KAFKA_TLS", "kafka-tls", "false", "connect to Kafka over TLS (implied by any LTV_KAFKA_TLS_* file)", &r.kafkaTLS, false},
		{"LTV_KAFKA_TLS_CA_FILE", "kafka-tls-ca-file", "", "PEM CA bundle to verify the brokers (default: system roots)", &r.kafkaCA, false},
		{"LTV_KAFKA_TLS_CERT_FILE", "kafka-tls-cert-file", "", "PEM client certificate for mutual TLS", &r.kafkaCert, false},
		{"LTV_KAFKA_TLS_KEY_FILE", "kafka-tls-key-file", "", "PEM client key for mutual TLS", &r.kafkaKey, false},
		{"LTV_KAFKA_TLS_INSECURE_SKIP_VERIFY", "kafka-tls-insecure-skip-verify", "false", "do not verify the brokers' certificates (testing only)", &r.kafkaInsecure, false},
		{"LTV_REDIS_USERNAME", "redis-username", "", "Redis ACL user (overrides the URL's)", &r.redisUser, false},
		{"LTV_REDIS_PASSWORD", "redis-password", "", "Redis password (overrides the URL's; prefer the environment variable)", &r.redisPass, true},
		{"LTV_REDIS_TLS_CA_FILE", "redis-tls-ca-file", "", "PEM CA bundle to verify Redis (rediss:// URLs; default: system roots)", &r.redisCA, false},
		{"LTV_REDIS_TLS_CERT_FILE", "redis-tls-cert-file", "", "PEM client certificate for Redis mutual TLS", &r.redisCert, false},
		{"LTV_REDIS_TLS_KEY_FILE", "redis-tls-key-file", "", "PEM client key for Redis mutual TLS", &r.redisKey, false},
		{"LTV_REDIS_TLS_INSECURE_SKIP_VERIFY", "redis-tls-insecure-skip-verify", "false", "do not verify Redis's certificate (testing only)", &r.redisInsecure, false},
	}
}

// newFlagSet registers the command's own flags and then the settings on a
// flag set whose usage lists the command's own flags first. A setting's
// default is its environment variable's value when that is set, so the
// flag wins over the environment (SPEC §7).
func newFlagSet(cmd Command, flags []setting, getenv func(string) string, usageOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(usageOut)
	own := map[string]bool{} // the command's own flags, listed first in usage
	if cmd.Flags != nil {
		cmd.Flags(fs)
		fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	}
	for _, s := range flags {
		if s.secret {
			// Never shown as the flag's default in usage output; the
			// environment applies after parsing (applySecrets).
			fs.StringVar(s.dst, s.flag, s.def, s.usage+" (env "+s.env+")")
			continue
		}
		EnvStringVar(fs, getenv, s.dst, s.flag, s.env, s.def, s.usage)
		if s.def == "false" { // the true/false settings
			f := fs.Lookup(s.flag)
			f.Value = bareBool{f.Value}
		}
		if s.flag == "redis-url" {
			// A password in the URL (taken from the environment) is not
			// shown as the flag's default in usage output either.
			f := fs.Lookup(s.flag)
			f.DefValue = store.RedactURL(f.DefValue)
		}
	}
	fs.Usage = func() {
		usage := cmd.Usage
		if usage == "" {
			usage = cmd.Name + " [flags]"
		}
		if len(own) == 0 {
			fmt.Fprintf(usageOut, "Usage: %s\n\nEvery setting flag has an environment variable; the flag wins.\n\n", usage)
			fs.PrintDefaults()
			return
		}
		// A command's own flags first, then the settings it shares with
		// the consumer (SPEC §10), which are most of the list.
		fmt.Fprintf(usageOut, "Usage: %s\n\nFlags of %s:\n", usage, cmd.Name)
		printFlags(usageOut, fs, func(name string) bool { return own[name] })
		fmt.Fprintf(usageOut, "\nSettings shared with the consumer (every one has an environment variable; the flag wins):\n")
		printFlags(usageOut, fs, func(name string) bool { return !own[name] })
	}
	return fs
}

// parseArgs parses args on fs and hands the positional arguments to the
// command that takes them; any other is an error.
func parseArgs(fs *flag.FlagSet, cmd Command, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case cmd.Args != nil:
		// Flags end at the first argument, as in Go's flag package; a
		// known flag after one would be taken as an argument silently.
		for _, a := range fs.Args() {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if strings.HasPrefix(a, "-") && fs.Lookup(name) != nil {
				return fmt.Errorf("flag %s after the arguments: put flags first", a)
			}
		}
		*cmd.Args = fs.Args()
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// applySecrets sets the secret settings from the environment unless their
// flag was given: their environment value is never a flag default, so
// usage output cannot show it.
func applySecrets(fs *flag.FlagSet, flags []setting, getenv func(string) string) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range flags {
		if s.secret && !given[s.flag] {
			*s.dst = getenv(s.env)
		}
	}
}

// config is the Config of the text settings, trimmed and split where a
// setting allows blanks or lists; the event source defaults to the
// group's.
func (r *rawSettings) config() *Config {
	c := &Config{
		Brokers:        settings.SplitList(r.brokers),
		RedisURL:       strings.TrimSpace(r.redisURL),
		GroupID:        r.group,
		OrdersTopic:    r.orders,
		LifecycleTopic: r.lifecycle,
		ChangesTopic:   r.changes,
		SegmentsTopic:  r.segments,
		DLQTopic:       r.dlq,
		HTTPAddr:       strings.TrimSpace(r.httpAddr),
		APIAddr:        strings.TrimSpace(r.apiAddr),
		APICORSOrigins: settings.SplitList(r.apiCORS),
		ConfigFile:     r.file,
		EventSource:    strings.TrimSpace(r.eventSource),
		LogLevel:       r.logLevel,
		LogFormat:      r.logFormat,

		KafkaClientID:      strings.TrimSpace(r.kafkaClientID),
		KafkaSASLMechanism: strings.ToUpper(strings.TrimSpace(r.kafkaMech)),
		KafkaSASLUsername:  r.kafkaUser,
		KafkaSASLPassword:  r.kafkaPass,
		KafkaTLS:           TLSFiles{CAFile: r.kafkaCA, CertFile: r.kafkaCert, KeyFile: r.kafkaKey},
		RedisUsername:      r.redisUser,
		RedisPassword:      r.redisPass,
		RedisTLS:           TLSFiles{CAFile: r.redisCA, CertFile: r.redisCert, KeyFile: r.redisKey},
	}
	if c.EventSource == "" {
		c.EventSource = pipeline.EventSourceFor(c.GroupID)
	}
	return c
}

// parseValues parses the true/false, number and duration settings into c;
// the first invalid one is the error, naming its flag and variable.
func (r *rawSettings) parseValues(c *Config, flags []setting) error {
	p := parser{env: map[string]string{}}
	for _, s := range flags {
		p.env[s.flag] = s.env
	}
	c.KafkaTLS.Enabled = p.bool("kafka-tls", r.kafkaTLS)
	c.KafkaTLS.InsecureSkipVerify = p.bool("kafka-tls-insecure-skip-verify", r.kafkaInsecure)
	c.RedisTLS.InsecureSkipVerify = p.bool("redis-tls-insecure-skip-verify", r.redisInsecure)
	c.PProf = p.bool("pprof", r.pprof)
	c.Workers = p.positiveInt("workers", r.workers)
	c.MaxBatch = p.positiveInt("max-batch", r.maxBatch)
	c.MaxMessageBytes = p.positiveInt("max-message-bytes", r.maxMsg)
	c.DLQMaxMessageBytes = p.int("dlq-max-message-bytes", r.dlqMaxMsg, "0 (read from the broker) or a byte count of at least 1024",
		func(n int) bool { return n == 0 || n >= 1024 })
	c.StateCacheBytes = p.int("state-cache-bytes", r.stateCache, "a byte count (0 or more)", func(n int) bool { return n >= 0 })
	c.RedisMinReplicas = p.int("redis-min-replicas", r.redisMinReplicas, "a replica count (0 or more)", func(n int) bool { return n >= 0 })
	c.Linger = p.positiveDuration("linger", r.linger)
	c.RedisLostReplicaGrace = p.positiveDuration("redis-lost-replica-grace", r.redisLostGrace)
	c.DrainTimeout = p.positiveDuration("drain-timeout", r.drain)
	c.SessionTimeout = p.positiveDuration("kafka-session-timeout", r.session)
	return p.err
}

// readConfigFile reads the YAML file named by ConfigFile (the SPEC
// defaults when there is none) into the model, currency and skew settings.
func (c *Config) readConfigFile() error {
	model, file, err := LoadModelFile(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("--config (LTV_CONFIG): %w", err)
	}
	c.Model, c.BaseCurrency, c.FXRates = model, string(file.BaseCurrency), file.fx
	// The currency table is checked as the decoder will check it, so a bad
	// code is a start-up error here, not a failure once the service runs.
	if _, err := decode.New(decode.Config{BaseCurrency: c.BaseCurrency, FXRates: c.FXRates}); err != nil {
		return fmt.Errorf("--config (LTV_CONFIG): config file %s: %w", c.ConfigFile, err)
	}
	c.MaxFutureSkew = decode.DefaultMaxFutureSkew
	if file.MaxFutureSkew != nil {
		c.MaxFutureSkew = file.MaxFutureSkew.Duration
		if c.MaxFutureSkew == 0 {
			c.MaxFutureSkew = -1
		}
	}
	return nil
}

// Validate checks the settings that are not checked while parsing.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("--kafka-brokers (LTV_KAFKA_BROKERS): no Kafka brokers")
	}
	for _, b := range c.Brokers {
		if !validBroker(b) {
			// kafka-go would retry it forever ("lookup kafka://k1: no such host").
			return fmt.Errorf("--kafka-brokers (LTV_KAFKA_BROKERS): %q is not host:port (e.g. kafka-0:9092; no scheme, no blanks)", b)
		}
	}
	if c.RedisURL == "" {
		return errors.New("--redis-url (LTV_REDIS_URL): no Redis URL")
	}
	named := []struct{ setting, value string }{
		{"--group-id (LTV_GROUP_ID)", c.GroupID},
		{"--orders-topic (LTV_ORDERS_TOPIC)", c.OrdersTopic}, {"--lifecycle-topic (LTV_LIFECYCLE_TOPIC)", c.LifecycleTopic},
		{"--changes-topic (LTV_CHANGES_TOPIC)", c.ChangesTopic}, {"--segments-topic (LTV_SEGMENTS_TOPIC)", c.SegmentsTopic},
		{"--dlq-topic (LTV_DLQ_TOPIC)", c.DLQTopic},
	}
	for _, n := range named {
		if strings.TrimSpace(n.value) == "" {
			return fmt.Errorf("%s: empty", n.setting)
		}
	}
	if g := c.GroupID; strings.TrimSpace(g) != g {
		// Kafka takes any string, so " ltv-updater" (a stray blank from
		// quoting) would silently be a second group that reads every
		// partition from the start, beside the real one.
		return fmt.Errorf("--group-id (LTV_GROUP_ID): %q has blanks around it", g)
	}
	topics := named[1:]
	for i, a := range topics {
		if !ValidTopic(a.value) {
			return fmt.Errorf("%s: invalid topic name %q (Kafka allows [a-zA-Z0-9._-], at most 249 characters)", a.setting, a.value)
		}
		for _, b := range topics[i+1:] {
			if a.value == b.value {
				return fmt.Errorf("%s and %s: topic %q is configured for two purposes", a.setting, b.setting, a.value)
			}
		}
	}
	if aggregate.TopicsCollide(c.OrdersTopic, c.LifecycleTopic) {
		// About one pair of names in four billion: the offset guard could
		// not tell the two topics' offsets apart.
		return fmt.Errorf("--orders-topic (LTV_ORDERS_TOPIC) and --lifecycle-topic (LTV_LIFECYCLE_TOPIC): input topics %q and %q have the same 32-bit id in the offset guard; rename one of them", c.OrdersTopic, c.LifecycleTopic)
	}
	if err := pipeline.ValidateEventSource(c.EventSource); err != nil {
		return fmt.Errorf("--event-source (LTV_EVENT_SOURCE): %w", err)
	}
	switch c.KafkaSASLMechanism {
	case "":
		if c.KafkaSASLUsername != "" || c.KafkaSASLPassword != "" {
			return errors.New("kafka sasl credentials are set but --kafka-sasl-mechanism (LTV_KAFKA_SASL_MECHANISM) is empty: set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or remove them")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.KafkaSASLUsername == "" || c.KafkaSASLPassword == "" {
			return fmt.Errorf("kafka sasl %s needs LTV_KAFKA_SASL_USERNAME and LTV_KAFKA_SASL_PASSWORD (--kafka-sasl-username, --kafka-sasl-password)", c.KafkaSASLMechanism)
		}
	default:
		return fmt.Errorf("--kafka-sasl-mechanism (LTV_KAFKA_SASL_MECHANISM): kafka sasl mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.KafkaSASLMechanism)
	}
	for _, side := range []struct {
		name  string
		files TLSFiles
	}{{"kafka", c.KafkaTLS}, {"redis", c.RedisTLS}} {
		t := side.files
		if (t.CertFile == "") != (t.KeyFile == "") {
			return fmt.Errorf("%s and %s: %s tls: a client certificate needs both the cert and the key file",
				tlsSetting(side.name, "cert-file"), tlsSetting(side.name, "key-file"), side.name)
		}
		// The TLS files are read now, so a missing or unreadable one is a
		// start-up error like any other bad setting.
		if _, err := t.Config(); err != nil {
			var which string
			switch {
			case errors.Is(err, errCAFile):
				which = tlsSetting(side.name, "ca-file")
			default:
				which = tlsSetting(side.name, "cert-file") + " and " + tlsSetting(side.name, "key-file")
			}
			return fmt.Errorf("%s: %s %w", which, side.name, err)
		}
	}
	if c.RedisTLS.Wanted() && !strings.HasPrefix(c.RedisURL, "rediss://") {
		var set []string
		for _, f := range []struct {
			name string
			on   bool
		}{
			{"ca-file", c.RedisTLS.CAFile != ""}, {"cert-file", c.RedisTLS.CertFile != ""},
			{"key-file", c.RedisTLS.KeyFile != ""}, {"insecure-skip-verify", c.RedisTLS.InsecureSkipVerify},
		} {
			if f.on {
				set = append(set, tlsSetting("redis", f.name))
			}
		}
		return fmt.Errorf("%s: redis tls settings are set but LTV_REDIS_URL is not rediss:// (--redis-url): TLS to Redis is chosen by the URL's scheme", strings.Join(set, ", "))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level (LTV_LOG_LEVEL): %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		return fmt.Errorf("--log-format (LTV_LOG_FORMAT): %q is not json or console", c.LogFormat)
	}
	// The URL is parsed now (no connection is made), so a malformed one is
	// a start-up error naming its variable.
	client, err := store.NewClient(store.Config{URL: c.RedisURL})
	if err != nil {
		return fmt.Errorf("--redis-url (LTV_REDIS_URL): %w", err)
	}
	_ = client.Close()
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		return fmt.Errorf("--http-addr (LTV_HTTP_ADDR): %w", err)
	}
	if c.SessionTimeout > maxSessionTimeout {
		return fmt.Errorf("--kafka-session-timeout (LTV_KAFKA_SESSION_TIMEOUT): %s is longer than %s (Kafka's own limit, group.max.session.timeout.ms, is 30m by default)", c.SessionTimeout, maxSessionTimeout)
	}
	if c.Workers > MaxWorkers {
		return fmt.Errorf("--workers (LTV_WORKERS): %d is more than %d; each worker's buffers are allocated when partitions are assigned", c.Workers, MaxWorkers)
	}
	if c.MaxBatch > MaxMaxBatch {
		return fmt.Errorf("--max-batch (LTV_MAX_BATCH): %d is more than %d; each worker's buffers of this many records are allocated when partitions are assigned", c.MaxBatch, MaxMaxBatch)
	}
	if c.StateCacheBytes > MaxStateCacheBytes {
		return fmt.Errorf("--state-cache-bytes (LTV_STATE_CACHE_BYTES): %d is more than %d (64 GiB); the cache is allocated whole at start", c.StateCacheBytes, MaxStateCacheBytes)
	}
	return nil
}

// tlsSetting names the flag and variable of a TLS setting of side (kafka
// or redis): "--kafka-tls-ca-file (LTV_KAFKA_TLS_CA_FILE)".
func tlsSetting(side, name string) string {
	flagName := side + "-tls-" + name
	return "--" + flagName + " (LTV_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_")) + ")"
}

// maxSessionTimeout is the longest session timeout the group protocol can
// carry (milliseconds in an int32).
const maxSessionTimeout = time.Duration(1<<31-1) * time.Millisecond

// MaxStateCacheBytes bounds LTV_STATE_CACHE_BYTES: the cache takes its
// whole size at start, so a mistyped value would end the process for want
// of memory instead of as a configuration error.
const MaxStateCacheBytes = 64 << 30

// MaxWorkers and MaxMaxBatch bound LTV_WORKERS and LTV_MAX_BATCH: every
// worker allocates its queue and batch buffers of LTV_MAX_BATCH records
// each time partitions are assigned, so a mistyped value would end the
// process for want of memory after it joined the group (a fatal error,
// not an exit naming the setting). No partition count or batch a Redis
// round trip can carry needs more.
const (
	MaxWorkers  = 1024
	MaxMaxBatch = 1_000_000
)

// ValidateAPI checks the read API's settings (LTV_API_ADDR,
// LTV_API_CORS_ORIGINS). Only ltvctl serve calls it: the consumer ignores
// them, so a bad origin in a settings ConfigMap both read cannot stop the
// consumer.
func (c *Config) ValidateAPI() error {
	if err := checkListenAddr(c.APIAddr); err != nil {
		return fmt.Errorf("--api-addr (LTV_API_ADDR): %w", err)
	}
	for _, o := range c.APICORSOrigins {
		if err := checkOrigin(o); err != nil {
			return fmt.Errorf("--api-cors-origins (LTV_API_CORS_ORIGINS): %w", err)
		}
	}
	return nil
}

// checkListenAddr accepts an address to listen on as host:port or :port
// whose port is a number from 0 to 65535 (0: any free port), so that a
// port no listener can take is a start-up error naming its setting, not a
// failure once the clients are made. A service name (:http) is refused,
// as in LTV_KAFKA_BROKERS: `consumer healthcheck` could not probe it.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(addr, " \t") {
		return fmt.Errorf("%q is not host:port or :port", addr)
	}
	if _, ok := settings.Port(port); !ok {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkOrigin accepts "*" or a browser origin as the Origin header carries
// it: scheme, host and an optional port, nothing after.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an origin like https://shop.example.com or http://localhost:3000 (or *)", o)
	}
	return nil
}

// validBroker reports whether b is an address kafka-go can dial: host:port
// with a port of 1 to 65535, or a host alone (kafka-go then dials 9092).
// A host is an IP address (an IPv6 one with its zone, fe80::1%eth0, too)
// or a DNS name of letters, digits, '.', '-' and '_'.
func validBroker(b string) bool {
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		if _, ipErr := netip.ParseAddr(b); strings.Contains(b, ":") && ipErr != nil {
			return false // a bad port, or "[::1]" with no port
		}
		host, port = b, "9092"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ValidTopic reports whether Kafka accepts t as a topic name:
// [a-zA-Z0-9._-], 1 to 249 characters, not "." or "..".
func ValidTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parser reads the settings' text values and keeps the first error, so
// Load states each setting's type once and checks for an error once.
type parser struct {
	err error
	// env is each flag's environment variable, named in the error.
	env map[string]string
}

func (p *parser) fail(name, v, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("--%s (%s): %q is not %s", name, p.env[name], v, want)
	}
}

func (p *parser) bool(name, v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		p.fail(name, v, "true or false")
	}
	return b
}

// int parses a whole number that ok accepts; want describes the accepted
// values for the error.
func (p *parser) int(name, v, want string, ok func(int) bool) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || !ok(n) {
		p.fail(name, v, want)
	}
	return n
}

func (p *parser) positiveInt(name, v string) int {
	return p.int(name, v, "a positive integer", func(n int) bool { return n > 0 })
}

func (p *parser) positiveDuration(name, v string) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		p.fail(name, v, "a positive duration (e.g. 2ms, 20s)")
	}
	return d
}
