// Package service assembles the updater from its parts (Kafka consumer,
// decoder, domain model, Redis store, publishers, metrics) and runs it. The
// consumer binary, the demo and the end-to-end tests all run this same
// code, so what is tested is what ships.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/metrics"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options are the programmatic extras beyond config.Config.
type Options struct {
	// Logger; default zap.NewNop().
	Logger *zap.Logger
	// Observer additionally receives batch statistics (the demo prints
	// from it); optional.
	Observer pipeline.Observer
	// Listening, when set, receives the HTTP server's bound address (useful
	// with HTTPAddr ":0").
	Listening func(addr string)
	// AfterStage is pipeline.Config.AfterStage: a hook after each durable
	// step of a batch, for crash tests only (the consumer binary sets it
	// only when built with the faultinject tag).
	AfterStage func(stage string)
}

// Run runs the updater until ctx is cancelled, then drains and returns nil
// on a clean shutdown. It returns an error only for a configuration or
// start-up problem it cannot retry (for example an HTTP port in use);
// unreachable Redis or Kafka are retried with backoff while /readyz
// reports not ready.
//
// Run owns every part it starts: each is stopped by a deferred call here,
// so on every return path they stop in the reverse order of their start.
func Run(ctx context.Context, cfg *config.Config, opt Options) error {
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	kafkaSec, redisTLS, err := Security(cfg)
	if err != nil {
		return err
	}
	u := &updater{cfg: cfg, opt: opt, log: log, kafkaSec: kafkaSec}
	rclient, err := u.openStore(redisTLS)
	if err != nil {
		return err
	}
	defer rclient.Close()

	dec, err := newDecoder(cfg)
	if err != nil {
		return err
	}
	transport, err := kafkaSec.Transport()
	if err != nil {
		return err
	}
	// Last to go (deferred first): the limits, the publisher and the
	// consumer use it. Its per-cluster metadata loop would otherwise dial
	// the brokers for as long as the process lives, after Run returned
	// (the demo and the tests run the service in a process that goes on).
	defer transport.CloseIdleConnections()
	dialer, err := kafkaSec.Dialer()
	if err != nil {
		return err
	}
	u.m = metrics.New()
	limits, err := u.newTopicLimits(transport)
	if err != nil {
		return err
	}
	stopLimits := startOwned(ctx, limits.Run)
	defer stopLimits()
	pub, err := u.newPublisher(transport, limits)
	if err != nil {
		return err
	}
	defer u.closePublisher(pub)

	if err := u.buildPipeline(dec, pub); err != nil {
		return err
	}
	u.buildHealth()
	cons, err := u.newConsumer(dialer, transport)
	if err != nil {
		return err
	}

	addr, stopHTTP, err := u.startHTTP(ctx)
	if err != nil {
		return err
	}
	defer stopHTTP()
	stopHealth := u.startHealthChecks(ctx)
	defer stopHealth()
	u.loadScripts(ctx)
	stopReindex := u.startReindex(ctx)
	defer stopReindex()
	u.logStarted(addr, redisTLS)
	stopClearer := u.startClearer()
	defer stopClearer()

	u.refreshHolds(ctx)
	err = cons.Run(ctx, u.process)
	log.Info("consumer stopped", zap.Error(err))
	return err
}

// updater holds the parts Run builds and its steps share. The closures
// handed to the parts (the durability wait's, the consumer's callbacks)
// read proc and health through it, so they see them once built.
type updater struct {
	cfg      *config.Config
	opt      Options
	log      *zap.Logger
	kafkaSec stream.Security

	st *store.Redis
	// cache is nil when the state cache is off; state is what the
	// pipeline reads and writes through (the cache, or st).
	cache *store.Cached
	state pipeline.Store
	m     *metrics.Metrics

	durable *durability
	proc    *pipeline.Processor
	// eviction and inputs hold the batches while the state could go
	// wrong without a trace; holds lists them in the order they are asked.
	eviction, inputs *batchHold
	holds            []*batchHold
	health           *metrics.Health
}

// openStore makes the Redis client and the store on it, and the state
// cache in front of it unless that is off. The caller closes the client.
func (u *updater) openStore(redisTLS *tls.Config) (redis.UniversalClient, error) {
	cfg := u.cfg
	rclient, err := store.NewClient(store.Config{URL: cfg.RedisURL,
		Username: cfg.RedisUsername, Password: cfg.RedisPassword, TLS: redisTLS})
	if err != nil {
		return nil, err
	}
	u.st = store.NewRedis(rclient, store.Config{})
	// The pipeline reads and writes through the cache unless it is off; the
	// health check and script loading talk to Redis itself.
	u.state = u.st
	if cfg.StateCacheBytes > 0 {
		u.cache = store.NewCached(u.st, store.CacheConfig{MaxBytes: cfg.StateCacheBytes})
		u.state = u.cache
	}
	return rclient, nil
}

// newDecoder makes the input decoder with the file's currencies and
// limits.
func newDecoder(cfg *config.Config) (*decode.Decoder, error) {
	dec, err := decode.New(decode.Config{
		BaseCurrency: cfg.BaseCurrency, FXRates: cfg.FXRates, MaxBytes: cfg.MaxMessageBytes,
		MaxFutureSkew: cfg.MaxFutureSkew,
	})
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return dec, nil
}

// newTopicLimits reads the output topics' max.message.bytes, now and
// (once run) every minute, so that no output message (a 2 MiB rejected
// record, say) can be one the broker always refuses: the publisher cuts
// it to fit instead.
func (u *updater) newTopicLimits(transport *kafka.Transport) (*stream.TopicLimits, error) {
	cfg := u.cfg
	fixed := map[string]int{}
	if cfg.DLQMaxMessageBytes > 0 {
		fixed[cfg.DLQTopic] = cfg.DLQMaxMessageBytes
	}
	return stream.NewTopicLimits(stream.LimitsConfig{Brokers: cfg.Brokers, Transport: transport,
		Topics: []string{cfg.ChangesTopic, cfg.SegmentsTopic, cfg.DLQTopic}, Fixed: fixed, Logger: u.log})
}

// startOwned runs fn in a goroutine of its own; the returned stop cancels
// fn's context and returns once fn has, so nothing fn does outlives the
// owner that calls stop.
func startOwned(ctx context.Context, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// newPublisher makes the publisher of the outputs. As many concurrent
// publishes as workers: each worker's batch waits for its own outputs'
// acknowledgement. Missing output topics may be created by the broker, as
// Kafka's own producer asks by default: a broker that allows it
// (auto.create.topics.enable) creates them, one that does not (production
// practice) refuses and the outputs wait.
func (u *updater) newPublisher(transport *kafka.Transport, limits *stream.TopicLimits) (*stream.Publisher, error) {
	return stream.NewPublisher(stream.PublisherConfig{
		Writer:  stream.WriterConfig{Brokers: u.cfg.Brokers, Transport: transport, AllowAutoTopicCreation: true},
		Writers: u.cfg.Workers, Limits: limits, OnCut: u.m.OutputCut,
	})
}

// closePublisher closes pub at shutdown; a failure to flush is only
// logged, as nothing is left to retry it.
func (u *updater) closePublisher(pub *stream.Publisher) {
	if err := pub.Close(); err != nil {
		u.log.Warn("close writer", zap.Error(err))
	}
}

// buildPipeline makes the processor of batches, with the metrics of the
// state cache and of the predictor, and the durability wait that ends
// each batch.
func (u *updater) buildPipeline(dec *decode.Decoder, pub *stream.Publisher) error {
	cfg, m := u.cfg, u.m
	if u.cache != nil {
		m.StateCache(u.cache.Stats)
	}
	if pr := cfg.Model.Predictive; pr != nil {
		if f, ok := pr.Predictor.(interface{ Failures() int64 }); ok {
			m.PredictionFailures(f.Failures)
		}
	}
	var obs pipeline.Observer = m
	if u.opt.Observer != nil {
		obs = teeObserver{m, u.opt.Observer}
	}
	// A batch is done, and its outputs are published, only once its writes
	// are on the replicas a failover could promote; a batch that finds the
	// masters replaced is made again (durability).
	u.durable = &durability{st: u.st, wait: store.ReplicaWait{MinReplicas: cfg.RedisMinReplicas, LostReplicaGrace: cfg.RedisLostReplicaGrace}, log: u.log,
		forget: func() {
			if u.cache != nil {
				u.cache.Forget()
			}
			u.proc.ForgetStreamTimes()
			m.MastersChanged()
		},
		health: func(err error) { u.health.Set("replication", err) }}
	var err error
	u.proc, err = pipeline.New(pipeline.Config{
		Model: cfg.Model, Decoder: dec, Store: u.state, Out: durablePublisher{pub, u.durable},
		ChangesTopic: cfg.ChangesTopic, SegmentsTopic: cfg.SegmentsTopic, DLQTopic: cfg.DLQTopic, Observer: obs,
		EventSource: cfg.EventSource,
		Timers:      u.st,
		AfterStage:  u.opt.AfterStage,
		// Last, so that the metrics count a batch made again once.
		Finish: u.durable.end,
	})
	return err
}

// buildHealth makes the batch holds and the readiness checks that refresh
// them. Two things would make the state wrong without a trace, so batches
// wait while either holds: a Redis that may evict keys (its policy is
// read with every probe), and an input log that is not the one the state
// was built from (its ids are read every half minute).
func (u *updater) buildHealth() {
	cfg, st, kafkaSec := u.cfg, u.st, u.kafkaSec
	u.eviction = &batchHold{what: "redis eviction policy", log: u.log, check: st.CheckEvictionPolicy,
		isReason: errorIs[*store.EvictionPolicyError]}
	inputTopics := []string{cfg.OrdersTopic, cfg.LifecycleTopic}
	u.inputs = &batchHold{what: "input logs", log: u.log, every: 30 * time.Second,
		check:    func(ctx context.Context) error { return checkInputLogs(ctx, kafkaSec, cfg.Brokers, inputTopics, st) },
		isReason: errorIs[*store.InputLogMismatchError]}
	u.holds = []*batchHold{u.eviction, u.inputs}
	u.health = metrics.NewHealth(u.m, 2*time.Second,
		metrics.Check{Name: "redis", Fn: func(ctx context.Context) error {
			if err := st.Ping(ctx); err != nil {
				return fmt.Errorf("redis unreachable: %w", err)
			}
			return u.eviction.refreshIfDue(ctx)
		}},
		metrics.Check{Name: "kafka", Fn: func(ctx context.Context) error {
			if err := kafkaSec.Ping(ctx, cfg.Brokers); err != nil {
				return err
			}
			return u.inputs.refreshIfDue(ctx)
		}},
	)
	u.health.Set("processing", nil)
	u.health.Set("replication", nil)
}

// newConsumer makes the consumer of the input topics, whose callbacks
// keep the metrics, the processor's stream times and the "processing"
// check up to date.
func (u *updater) newConsumer(dialer *kafka.Dialer, transport *kafka.Transport) (*stream.Consumer, error) {
	cfg, m, log := u.cfg, u.m, u.log
	return stream.NewConsumer(stream.ConsumerConfig{
		Brokers: cfg.Brokers, GroupID: cfg.GroupID,
		Topics: []string{cfg.OrdersTopic, cfg.LifecycleTopic},
		// Stream time and timers (SPEC §8) and the worker routing rely on
		// partition p of both inputs holding the same customers.
		CoPartitioned: true,
		// Each partition's records of both inputs reach the pipeline in
		// event-time order, so a replay gives what the live run gave.
		EventTime: mergeTime(cfg.MaxFutureSkew),
		Workers:   cfg.Workers, MaxBatch: cfg.MaxBatch, Linger: cfg.Linger,
		DrainTimeout:   cfg.DrainTimeout,
		SessionTimeout: cfg.SessionTimeout,
		Dialer:         dialer,
		Transport:      transport,
		Logger:         log,
		OnCommit:       m.Lag,
		OnRevoked: func(topic string, partition int) {
			m.Revoked(topic, partition)
			// Its next owner moves its stream time on (SPEC §8).
			u.proc.ForgetStreamTime(int32(partition))
		},
		OnHealth: func(ok bool, err error) {
			if ok {
				log.Info("processing recovered")
				// Only "processing": "replication" is the durability
				// wait's own, cleared when no batch waits any more.
				u.health.Set("processing", nil)
				return
			}
			u.health.Set("processing", fmt.Errorf("consuming failing: %w", err))
		},
	})
}

// startHTTP listens on the HTTP address and serves /healthz, /readyz,
// /metrics (and /debug/pprof/ when asked for) there. It returns the bound
// address and stop, which shuts the server down (within 2 s, even once ctx
// has ended); a port in use is an error here, before any batch.
func (u *updater) startHTTP(ctx context.Context) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", u.cfg.HTTPAddr)
	if err != nil {
		return "", nil, fmt.Errorf("http listen %s: %w", u.cfg.HTTPAddr, err)
	}
	if u.opt.Listening != nil {
		u.opt.Listening(ln.Addr().String())
	}
	mux := u.health.Mux(u.m)
	if u.cfg.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			u.log.Error("http server", zap.Error(err))
		}
	}()
	return ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// startHealthChecks runs the readiness checks in the background until
// the returned stop is called.
func (u *updater) startHealthChecks(ctx context.Context) (stop context.CancelFunc) {
	hctx, stopHealth := context.WithCancel(ctx)
	go u.health.Run(hctx)
	return stopHealth
}

// loadScripts loads the Lua scripts eagerly when Redis is up; if it is
// not, Save loads them on the first NOSCRIPT reply once Redis is back.
func (u *updater) loadScripts(ctx context.Context) {
	if err := u.st.LoadScripts(ctx); err != nil {
		u.log.Warn("redis not ready at start; will retry", zap.Error(err))
	}
}

// startReindex re-derives the timer index once, beside the batches, when
// the timer rules changed since it was written (docs/operations.md). The
// returned stop ends it and waits for it.
func (u *updater) startReindex(ctx context.Context) (stop func()) {
	return startOwned(ctx, func(ctx context.Context) {
		newReindexer(u.st, u.cfg.Model, u.log).run(ctx)
	})
}

// logStarted logs what the updater runs with: where it reads and writes,
// how it authenticates (never a secret) and how it batches.
func (u *updater) logStarted(httpAddr string, redisTLS *tls.Config) {
	cfg := u.cfg
	u.log.Info("consumer started",
		zap.Strings("brokers", cfg.Brokers), zap.String("redis", store.RedactURL(cfg.RedisURL)),
		zap.String("group", cfg.GroupID), zap.Strings("topics", []string{cfg.OrdersTopic, cfg.LifecycleTopic}),
		zap.String("changes_topic", cfg.ChangesTopic), zap.String("segments_topic", cfg.SegmentsTopic), zap.String("dlq_topic", cfg.DLQTopic),
		zap.Stringer("kafka_security", u.kafkaSec), zap.Bool("redis_tls", redisTLS != nil || isTLSURL(cfg.RedisURL)),
		zap.String("http", httpAddr), zap.Int("workers", cfg.Workers), zap.Int("max_batch", cfg.MaxBatch))
}

// startClearer starts the store's clearer of pending change events, with
// the state cache on or off: batches do not wait for that round trip, and
// a failed clear is retried there. The returned stop is called once the
// consumer has drained (not only when ctx ends, so the last batches'
// clears are queued too); it clears what is still queued before exit.
func (u *updater) startClearer() (stop func()) {
	stopClearer := u.st.Clearer().Start(250 * time.Millisecond)
	return func() {
		stopClearer()
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := u.st.Clearer().Flush(fctx); err != nil {
			u.log.Warn("pending change events not cleared at exit; they are published again when their customers are next loaded", zap.Error(err))
		}
	}
}

// refreshHolds checks the batch holds before the first batch; what cannot
// be checked now the probes check.
func (u *updater) refreshHolds(ctx context.Context) {
	if u.st.Ping(ctx) == nil {
		_ = u.eviction.refresh(ctx)
		if u.kafkaSec.Ping(ctx, u.cfg.Brokers) == nil {
			_ = u.inputs.refresh(ctx)
		}
	}
}

// process is the consumer's handler of a batch: refused while a hold
// holds, else processed within the durability wait. A batch that fails
// (not for ctx ending) is counted.
func (u *updater) process(ctx context.Context, batch []pipeline.Record) error {
	for _, hold := range u.holds {
		if err := hold.err(); err != nil {
			u.m.BatchFailed()
			return err
		}
	}
	ctx, err := u.durable.begin(ctx)
	if err == nil {
		_, err = u.proc.Process(ctx, batch) // ends with durable.end (Finish)
	}
	if err != nil && ctx.Err() == nil {
		u.m.BatchFailed()
	}
	return err
}

// checkInputLogs compares the ids of the Kafka cluster and of the input
// topics (orders, then lifecycle), and the input topics' names, with those
// the state in Redis was built from (recording them the first time).
func checkInputLogs(ctx context.Context, sec stream.Security, brokers, topics []string, st *store.Redis) error {
	id, err := sec.LogIdentity(ctx, brokers, topics)
	if err != nil {
		return err
	}
	fields := map[string]string{"cluster_id": id.ClusterID, "orders_topic": topics[0], "lifecycle_topic": topics[1]}
	for topic, tid := range id.TopicIDs {
		fields["topic_id:"+topic] = tid
	}
	return st.CheckInputLogs(ctx, fields)
}

// NewLogger builds the zap logger of a level (debug, info, warn, error)
// and format (json, or console for people), as every command logs.
func NewLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if format == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	// No Go stack trace after error lines (nor, in the console format,
	// after warnings): each line says what went wrong, and the
	// consumer's last one when it cannot start ("consumer failed") stays
	// one line on stderr.
	zc.DisableStacktrace = true
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	log, err := zc.Build()
	if err == nil {
		RouteRedisLogs(log)
	}
	return log, err
}

// RouteRedisLogs sends go-redis's own log lines (dial failures, pool and
// cluster notices) to log at debug level, for the whole process: the
// service reports what they mean (readiness, retries, the error) in its
// own lines, and go-redis's default, raw lines on stderr, would break a
// JSON log pipeline. NewLogger calls it.
func RouteRedisLogs(log *zap.Logger) {
	redis.SetLogger(redisLogs{log.Named("go-redis")})
}

type redisLogs struct{ log *zap.Logger }

func (l redisLogs) Printf(_ context.Context, format string, v ...any) {
	if l.log.Core().Enabled(zapcore.DebugLevel) {
		l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}

// mergeTime is the event time the consumer merges its input topics by: the
// record's occurred_at, except that a record the decoder will refuse for
// lying beyond max_future_skew has none (it goes at once, instead of
// waiting for the other topic to reach its far-off time).
func mergeTime(skew time.Duration) func([]byte) (time.Time, bool) {
	return func(value []byte) (time.Time, bool) {
		t, ok := decode.EventTime(value)
		if ok && skew >= 0 && time.Until(t) > skew {
			return time.Time{}, false
		}
		return t, ok
	}
}

// Security builds the Kafka and Redis security settings from the
// configuration, for the service and for ltvctl serve (config.Validate has
// checked them, the Redis TLS settings against the URL's scheme included).
// Secrets stay inside
// the returned values; only stream.Security.String (which leaves the
// password out) is ever logged.
func Security(cfg *config.Config) (stream.Security, *tls.Config, error) {
	ktls, err := cfg.KafkaTLS.Config()
	if err != nil {
		return stream.Security{}, nil, fmt.Errorf("kafka %w", err)
	}
	sec := stream.Security{SASLMechanism: cfg.KafkaSASLMechanism,
		Username: cfg.KafkaSASLUsername, Password: cfg.KafkaSASLPassword, TLS: ktls, ClientID: cfg.KafkaClientID}
	if err := sec.Validate(); err != nil {
		return stream.Security{}, nil, err
	}
	rtls, err := cfg.RedisTLS.Config()
	if err != nil {
		return stream.Security{}, nil, fmt.Errorf("redis %w", err)
	}
	return sec, rtls, nil
}

func isTLSURL(u string) bool { return strings.HasPrefix(strings.TrimSpace(u), "rediss://") }

// teeObserver hands what the processor did to several observers.
type teeObserver []pipeline.Observer

// BatchProcessed implements pipeline.Observer.
func (t teeObserver) BatchProcessed(s pipeline.BatchStats) {
	for _, o := range t {
		o.BatchProcessed(s)
	}
}

// TierChanged implements pipeline.Observer.
func (t teeObserver) TierChanged(from, to string, up bool) {
	for _, o := range t {
		o.TierChanged(from, to, up)
	}
}

// SegmentChanged implements pipeline.Observer.
func (t teeObserver) SegmentChanged(from, to string) {
	for _, o := range t {
		o.SegmentChanged(from, to)
	}
}
