package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/ltv-stream/ltv-stream/internal/settings"
)

// Defaults of LimitsConfig.
const (
	// DefaultAssumedMaxMessageBytes is assumed for a topic whose
	// max.message.bytes cannot be read (no DescribeConfigs permission, the
	// broker unreachable at start): just below the brokers' default of
	// 1,048,588 bytes.
	DefaultAssumedMaxMessageBytes = 1_000_000
	// DefaultLimitsRefresh is how often the output topics' limits are read
	// again, so a changed max.message.bytes is followed without a restart.
	DefaultLimitsRefresh = time.Minute
	// minMessageBytes is the floor below which a refused write no longer
	// halves an assumed limit: a real broker accepts at least this much.
	minMessageBytes = 1024
	// rereadEvery bounds how often a message about to be cut to a limit
	// that was never read makes the limits be read first (ReadIfUnread),
	// so a broker that never answers (no DescribeConfigs permission) costs
	// at most one reading per interval, counted from the end of the last.
	rereadEvery = 5 * time.Second
	// rereadTimeout bounds that reading, which a publish waits for.
	rereadTimeout = 5 * time.Second
)

// LimitsConfig configures TopicLimits.
type LimitsConfig struct {
	// Brokers are the bootstrap brokers. Required unless every topic is in
	// Fixed.
	Brokers []string
	// Transport carries TLS/SASL settings; nil means plain TCP.
	Transport *kafka.Transport
	// Topics are the topics whose limits are tracked (the output topics).
	Topics []string
	// Fixed holds configured limits (bytes of one record batch, as
	// max.message.bytes counts them) that override the broker's.
	Fixed map[string]int
	// Assumed is used for a topic whose limit cannot be read. Default
	// DefaultAssumedMaxMessageBytes.
	Assumed int
	// Refresh is how often Run reads the limits again. Default
	// DefaultLimitsRefresh.
	Refresh time.Duration
	// Logger; default zap.NewNop().
	Logger *zap.Logger
}

func (c *LimitsConfig) setDefaults() {
	settings.Positive(&c.Assumed, DefaultAssumedMaxMessageBytes)
	settings.Positive(&c.Refresh, DefaultLimitsRefresh)
	settings.IfZero(&c.Logger, zap.NewNop())
}

// TopicLimits knows the largest record batch each output topic accepts:
// the topic's max.message.bytes, read from the broker at start and again
// every Refresh and whenever the broker refuses a write as too large, or a
// configured value. The publisher cuts what would not fit, instead of
// retrying a write the broker will always refuse (which would stall the
// partition whose record caused it). Safe for concurrent use.
type TopicLimits struct {
	cfg    LimitsConfig
	client *kafka.Client

	mu     sync.RWMutex
	limits map[string]topicLimit
	// readings numbers each reading of the limits and each halving as it
	// starts. Readings may overlap (the periodic one, one before a cut,
	// one after a refusal) and their answers arrive in any order; a topic
	// keeps the value of the latest-started one, so an older answer that
	// arrives last cannot undo a newer one until the next reading.
	readings atomic.Uint64

	// rereadMu guards rereading and lastReread. rereading is closed when
	// the reading ReadIfUnread started ends (nil while none runs);
	// lastReread is when the last such reading ended.
	rereadMu   sync.Mutex
	rereading  chan struct{}
	lastReread time.Time
}

// topicLimit is one topic's limit and where it came from.
type topicLimit struct {
	bytes int
	// read is true when the value came from the broker or the
	// configuration, false when it is assumed.
	read bool
	// halved is true when the value is an earlier one halved after the
	// broker refused a write that fitted it (see Refused).
	halved bool
	// reading is the number of the reading (or halving) that gave the
	// value; 0 for the value a topic starts with.
	reading uint64
}

// NewTopicLimits starts with every topic at its configured or assumed
// limit; call Refresh (or Run) to read the brokers'.
func NewTopicLimits(cfg LimitsConfig) (*TopicLimits, error) {
	cfg.setDefaults()
	for topic, n := range cfg.Fixed {
		if n < minMessageBytes {
			return nil, fmt.Errorf("configured max message bytes of topic %s: %d is below %d", topic, n, minMessageBytes)
		}
	}
	l := &TopicLimits{cfg: cfg, limits: map[string]topicLimit{}}
	for _, t := range cfg.Topics {
		l.limits[t] = topicLimit{bytes: cfg.Assumed}
		if n, ok := cfg.Fixed[t]; ok {
			l.limits[t] = topicLimit{bytes: n, read: true}
		}
	}
	if len(cfg.Brokers) > 0 {
		l.client = newClient(cfg.Brokers, cfg.Transport)
	}
	return l, nil
}

// Limit returns the largest record batch, in bytes, that topic accepts.
// A topic that is not tracked gets the assumed limit.
func (l *TopicLimits) Limit(topic string) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if t, ok := l.limits[topic]; ok {
		return t.bytes
	}
	return l.cfg.Assumed
}

// Refresh reads max.message.bytes of every tracked topic that has no
// configured limit. Topics whose configuration cannot be read keep their
// current limit; the error names them.
func (l *TopicLimits) Refresh(ctx context.Context) error {
	var topics []string
	for _, t := range l.cfg.Topics {
		if _, fixed := l.cfg.Fixed[t]; !fixed {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return nil
	}
	if l.client == nil {
		return errors.New("topic limits: no brokers to read them from")
	}
	reading := l.readings.Add(1)
	req := &kafka.DescribeConfigsRequest{}
	for _, t := range topics {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: t, ConfigNames: []string{"max.message.bytes"},
		})
	}
	res, err := l.client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("describe configs of %v: %w", topics, err)
	}
	var errs []error
	for _, r := range res.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("describe configs of %s: %w", r.ResourceName, r.Error))
			continue
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != "max.message.bytes" {
				continue
			}
			n, err := strconv.Atoi(e.ConfigValue)
			if err != nil || n < minMessageBytes {
				errs = append(errs, fmt.Errorf("topic %s: max.message.bytes %q is not a usable size", r.ResourceName, e.ConfigValue))
				continue
			}
			l.set(r.ResourceName, topicLimit{bytes: n, read: true, reading: reading})
		}
	}
	return errors.Join(errs...)
}

// set records a topic's limit, unless the topic already holds one from a
// later-started reading, and logs a change.
func (l *TopicLimits) set(topic string, t topicLimit) {
	l.mu.Lock()
	old, had := l.limits[topic]
	if had && old.reading > t.reading {
		l.mu.Unlock()
		return
	}
	l.limits[topic] = t
	l.mu.Unlock()
	if had && old.bytes != t.bytes {
		l.cfg.Logger.Info("topic message size limit changed", zap.String("topic", topic),
			zap.Int("from_bytes", old.bytes), zap.Int("to_bytes", t.bytes), zap.Bool("read_from_broker", t.read))
	}
}

// ReadIfUnread reads the limits again, at once, if one of topics is
// tracked and its limit was never read (the reading at start failed, the
// broker being unreachable or refusing the describe), unless such a reading
// happened within rereadEvery. The publisher calls it before it cuts a
// message to fit a limit that is only assumed: the topic may well accept
// the whole message (SPEC §2 cuts a dead letter only when it is larger than
// the DLQ topic accepts), and the next periodic reading may be a minute
// away. A limit halved after a refusal is not read again here: the
// refusal said more than the broker's configuration did.
//
// A call made while such a reading runs waits for it (or for ctx) and
// starts none of its own, so no publish waits longer than one reading,
// rereadTimeout, however many arrive at once; and the interval counts from
// the end of a reading, so one that takes its whole timeout is not
// followed at once by the next.
func (l *TopicLimits) ReadIfUnread(ctx context.Context, topics ...string) {
	unread := false
	l.mu.RLock()
	for _, topic := range topics {
		if t, ok := l.limits[topic]; ok && !t.read && !t.halved {
			unread = true
		}
	}
	l.mu.RUnlock()
	if !unread {
		return
	}
	l.rereadMu.Lock()
	if running := l.rereading; running != nil {
		l.rereadMu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
		}
		return
	}
	if !l.lastReread.IsZero() && time.Since(l.lastReread) < rereadEvery {
		l.rereadMu.Unlock()
		return
	}
	done := make(chan struct{})
	l.rereading = done
	l.rereadMu.Unlock()
	defer func() {
		l.rereadMu.Lock()
		l.rereading, l.lastReread = nil, time.Now()
		l.rereadMu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(ctx, rereadTimeout)
	defer cancel()
	if err := l.Refresh(ctx); err != nil {
		l.cfg.Logger.Warn("cannot read the output topics' max.message.bytes before cutting a message; cutting to the assumed limit",
			zap.Strings("topics", topics), zap.Error(err), zap.Int("assumed_bytes", l.cfg.Assumed))
	}
}

// Refused is called when the broker refused a write of messages to these
// topics as too large although each fitted its known limit: one topic's
// limit was lowered since it was read. The limits are read again at once,
// once; if one of them dropped, that explains the refusal and the next
// attempt cuts to it. Otherwise (the limits cannot be read, or read the
// same) each topic's limit is halved (down to a floor), so the next
// attempt cuts more and the partition moves on.
func (l *TopicLimits) Refused(ctx context.Context, topics ...string) {
	before := make([]int, len(topics))
	refresh := false
	for i, topic := range topics {
		before[i] = l.Limit(topic)
		if _, fixed := l.cfg.Fixed[topic]; !fixed {
			refresh = true
		}
	}
	if refresh {
		if err := l.Refresh(ctx); err != nil {
			l.cfg.Logger.Warn("cannot read topic limits after a refused write", zap.Strings("topics", topics), zap.Error(err))
		}
	}
	for i, topic := range topics {
		if l.Limit(topic) < before[i] {
			return
		}
	}
	for i, topic := range topics {
		half := max(before[i]/2, minMessageBytes)
		l.cfg.Logger.Warn("broker refused a write as too large although it fitted the topic's known limit; assuming a smaller limit",
			zap.String("topic", topic), zap.Int("known_bytes", before[i]), zap.Int("assumed_bytes", half))
		l.set(topic, topicLimit{bytes: half, halved: true, reading: l.readings.Add(1)})
	}
}

// Run reads the limits every Refresh until ctx ends. The first read
// happens at once.
func (l *TopicLimits) Run(ctx context.Context) {
	t := time.NewTicker(l.cfg.Refresh)
	defer t.Stop()
	for {
		if err := l.Refresh(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Logger.Warn("cannot read the output topics' max.message.bytes; keeping the known or assumed limits",
				zap.Error(err), zap.Int("assumed_bytes", l.cfg.Assumed))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
