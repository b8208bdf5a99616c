// Recent changes: the latest tier and segment change events, read from the
// end of the output topics, merged newest first, cached briefly.

package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/schemas"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// DefaultChangesLimit is how many changes GET /v1/changes returns without
// ?limit=.
const DefaultChangesLimit = 20

// ChangesSource gives the most recent change events.
type ChangesSource interface {
	// Recent returns up to limit events, newest first. limit is at most
	// Depth().
	Recent(ctx context.Context, limit int) (RecentChanges, error)
	// Depth is the largest limit Recent serves.
	Depth() int
}

// RecentChanges is what Recent returns.
type RecentChanges struct {
	// ReadAt is when the events were read from Kafka.
	ReadAt time.Time
	// Events are the events as published, newest first.
	Events []json.RawMessage
}

// FeedConfig configures a Feed. Zero values take the defaults.
type FeedConfig struct {
	// Client reaches the brokers (stream.NewAdminClient, with the
	// consumer's TLS and SASL settings).
	Client *kafka.Client
	// Topics are the output topics to read: the changes and segments
	// topics of the configuration.
	Topics []string
	// Depth is how many of the latest records of each partition are read,
	// and so the largest limit served. Default 100.
	Depth int
	// MaxAge is how long one read is served before the topics are read
	// again. Default 2 s.
	MaxAge time.Duration
	// Timeout bounds one read of the topics. Default 5 s.
	Timeout time.Duration
	// Logger receives records that are not change events.
	Logger *zap.Logger
}

func (c *FeedConfig) setDefaults() {
	if c.Depth <= 0 {
		c.Depth = 100
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Feed is the ChangesSource reading the output topics. One read of the
// topics at a time serves every request arriving meanwhile, and its
// result (or error) is served for MaxAge. It is safe for concurrent use
// and starts no goroutines.
type Feed struct {
	cfg FeedConfig

	mu   sync.Mutex
	last *feedRead // the latest read that ended; nil before the first
	// reading is the read in flight; nil when none is.
	reading *feedRead
}

// feedRead is one read of the topics; done is closed once its result is
// set.
type feedRead struct {
	done   chan struct{}
	result RecentChanges
	err    error
	at     time.Time
}

// NewFeed checks the configuration; it connects to nothing yet.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	cfg.setDefaults()
	if cfg.Client == nil {
		return nil, errors.New("changes feed: no Kafka client")
	}
	if len(cfg.Topics) == 0 {
		return nil, errors.New("changes feed: no topics")
	}
	return &Feed{cfg: cfg}, nil
}

// Depth implements ChangesSource.
func (f *Feed) Depth() int { return f.cfg.Depth }

// Recent implements ChangesSource. If a read is due, the caller does it
// (with a deadline of its own, so a caller that gives up does not spoil
// the read for the others waiting on it); callers arriving meanwhile wait
// for that read or for their context.
func (f *Feed) Recent(ctx context.Context, limit int) (RecentChanges, error) {
	f.mu.Lock()
	rd := f.last
	if rd == nil || time.Since(rd.at) >= f.cfg.MaxAge {
		if rd = f.reading; rd == nil {
			rd = &feedRead{done: make(chan struct{})}
			f.reading = rd
			f.mu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Timeout)
			events, err := f.read(rctx)
			cancel()
			rd.result, rd.err, rd.at = RecentChanges{ReadAt: time.Now().UTC(), Events: events}, err, time.Now()
			f.mu.Lock()
			f.last, f.reading = rd, nil
			close(rd.done)
		}
	}
	f.mu.Unlock()
	select {
	case <-rd.done:
	case <-ctx.Done():
		return RecentChanges{}, ctx.Err()
	}
	if rd.err != nil {
		return RecentChanges{}, rd.err
	}
	out := rd.result
	out.Events = out.Events[:min(limit, len(out.Events))]
	return out, nil
}

// feedEvent is one event with what it is ordered by.
type feedEvent struct {
	raw               json.RawMessage
	id                string
	emitted, occurred time.Time
	recordTime        time.Time
	topic             string
	partition         int
	offset            int64
}

// read reads the tails of the topics and merges them, newest first: by
// emitted_at (when the updater published the event), then occurred_at,
// then the record's position, so equal times still give a stable order.
// A re-emitted copy (same event_id) appears once.
func (f *Feed) read(ctx context.Context) ([]json.RawMessage, error) {
	var all []feedEvent
	skipped := 0
	for _, topic := range f.cfg.Topics {
		recs, err := stream.Tail(ctx, f.cfg.Client, topic, f.cfg.Depth)
		if err != nil {
			return nil, fmt.Errorf("read recent changes: %w", err)
		}
		for _, r := range recs {
			ev, ok := parseFeedEvent(r.Value)
			if !ok {
				skipped++
				continue
			}
			ev.recordTime, ev.topic, ev.partition, ev.offset = r.Time, r.Topic, r.Partition, r.Offset
			all = append(all, ev)
		}
	}
	if skipped > 0 {
		f.cfg.Logger.Debug("records that are not change events skipped", zap.Int("records", skipped))
	}
	slices.SortFunc(all, func(a, b feedEvent) int {
		return cmp.Or(b.emitted.Compare(a.emitted), b.occurred.Compare(a.occurred), b.recordTime.Compare(a.recordTime),
			cmp.Compare(b.topic, a.topic), cmp.Compare(b.partition, a.partition), cmp.Compare(b.offset, a.offset))
	})
	seen := make(map[string]bool, len(all))
	out := make([]json.RawMessage, 0, min(len(all), f.cfg.Depth))
	for _, ev := range all {
		if seen[ev.id] {
			continue
		}
		seen[ev.id] = true
		out = append(out, ev.raw)
		if len(out) == f.cfg.Depth {
			break
		}
	}
	return out, nil
}

// parseFeedEvent keeps a record that is a tier or segment change event
// with the times it is ordered by.
func parseFeedEvent(value []byte) (feedEvent, bool) {
	var head schemas.Change
	if json.Unmarshal(value, &head) != nil || (head.Schema != aggregate.SchemaChange && head.Schema != aggregate.SchemaSegment) || head.EventID == "" {
		return feedEvent{}, false
	}
	emitted, err1 := time.Parse(time.RFC3339Nano, head.EmittedAt)
	occurred, err2 := time.Parse(time.RFC3339Nano, head.OccurredAt)
	if err1 != nil || err2 != nil {
		return feedEvent{}, false
	}
	return feedEvent{raw: json.RawMessage(value), id: head.EventID, emitted: emitted, occurred: occurred}, true
}

// changesBody is the answer of GET /v1/changes.
type changesBody struct {
	ReadAt  time.Time         `json:"read_at"`
	Changes []json.RawMessage `json:"changes"`
}

// changes answers GET /v1/changes?limit=N.
func (s *Server) changes(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Changes == nil {
		writeError(w, http.StatusServiceUnavailable, "recent changes are not available on this server")
		return
	}
	depth := s.cfg.Changes.Depth()
	limit := DefaultChangesLimit
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > depth {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a whole number from 1 to %d", q, depth))
			return
		}
		limit = n
	}
	rc, err := s.cfg.Changes.Recent(r.Context(), min(limit, depth))
	if err != nil {
		s.cfg.Logger.Warn("recent changes unavailable", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "recent changes unavailable: "+err.Error())
		return
	}
	if rc.Events == nil {
		rc.Events = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, changesBody{ReadAt: rc.ReadAt, Changes: rc.Events})
}
