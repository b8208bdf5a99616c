package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RecordSource yields records; Next returns io.EOF after the last one.
// JSONLReader is one; FromGenerator adapts a Generator.
type RecordSource interface {
	Next() (Record, error)
}

type generatorSource struct{ g *Generator }

func (s generatorSource) Next() (Record, error) {
	r, ok := s.g.Next()
	if !ok {
		return Record{}, io.EOF
	}
	return r, nil
}

// FromGenerator returns g as a RecordSource.
func FromGenerator(g *Generator) RecordSource { return generatorSource{g} }

// ReplayOptions configure Replay. Zero values take the documented
// defaults.
type ReplayOptions struct {
	// Speed paces the replay against event time. 0 sends as fast as the
	// sink accepts. N > 0 replays N times faster than real time: the
	// wall-clock gap before a record is the event-time gap since the
	// latest event time sent so far divided by N (records with an earlier
	// event time, such as late events, go without delay), and no single
	// gap is longer than MaxGap. E.g. 86400 replays a day per second.
	// Before each pause the sink is flushed, so paced records are
	// delivered when they are due rather than when a chunk fills.
	Speed float64
	// MaxGap caps one wall-clock pause when Speed > 0, so quiet months in
	// event time do not stall a replay. Default 1 s.
	MaxGap time.Duration
	// Total is the number of records expected, for the percentage and
	// ETA in progress reports; 0 means unknown.
	Total int
	// Progress, when set, is called about every ProgressInterval and once
	// more at the end with Done set.
	Progress func(ReplayStats)
	// ProgressInterval defaults to 1 s.
	ProgressInterval time.Duration
	// FlushTimeout bounds the final flush after ctx was cancelled, so the
	// records already handed to the sink are still delivered on an
	// interrupt. Default 10 s.
	FlushTimeout time.Duration
	// IdleFlush, when set, is for a source that may wait for its next
	// record (a pipe, stdin): the source is read on a goroutine of its
	// own, an interrupt does not wait for the next record, and the sink
	// is flushed when no record came for this long, so what was read is
	// delivered. The goroutine ends at the source's next record or end.
	IdleFlush time.Duration
}

// ReplayStats counts what a replay wrote.
type ReplayStats struct {
	Records     int           // records written to the sink
	Orders      int           // of which on the orders topic
	Lifecycle   int           // of which on the lifecycle topic
	Valid       int           // labelled valid, or not labelled at all
	Duplicates  int           // producer-retry copies (LabelDuplicate): must count once
	Late        int           // out of event-time order (LabelLate): must count normally
	Bad         int           // SPEC §2 violations (LabelBad): must be dead-lettered
	Total       int           // expected records, 0 if unknown
	Elapsed     time.Duration // since the replay started
	EventTime   time.Time     // latest event time written
	Paced       bool          // Speed > 0
	Done        bool          // the final report
	Interrupted bool          // with Done: ctx was cancelled before the source ended
	// Failed, with Done: the replay ended with an error other than the
	// cancellation; Records then counts the records handed to the sink,
	// not all of which may have been delivered.
	Failed bool
}

// Rate returns records per second over the whole replay.
func (s ReplayStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Records) / s.Elapsed.Seconds()
}

// String renders a progress line, e.g.
//
//	523,000/1,000,000 records (52%) 210,400 rec/s, dup 1,020 late 2,000 bad 510, eta 2s
//
// and, when Done, a summary ("stopped:" instead of "done:" when
// interrupted, "failed:" when the replay failed):
//
//	done: 1,000,000 records in 4.1s (243,902 rec/s): valid 975,000 dup 10,000 late 10,000 bad 5,000; orders 934,211 lifecycle 65,789
func (s ReplayStats) String() string {
	var b strings.Builder
	rate := s.Rate()
	if s.Done {
		word := "done"
		switch {
		case s.Failed:
			word = "failed"
		case s.Interrupted:
			word = "stopped"
		}
		fmt.Fprintf(&b, "%s: %s records in %s (%s rec/s): valid %s dup %s late %s bad %s; orders %s lifecycle %s",
			word, Thousands(int64(s.Records)), s.Elapsed.Round(time.Millisecond), Thousands(int64(rate)),
			Thousands(int64(s.Valid)), Thousands(int64(s.Duplicates)), Thousands(int64(s.Late)), Thousands(int64(s.Bad)),
			Thousands(int64(s.Orders)), Thousands(int64(s.Lifecycle)))
		return b.String()
	}
	b.WriteString(Thousands(int64(s.Records)))
	if s.Total > 0 {
		fmt.Fprintf(&b, "/%s records (%d%%)", Thousands(int64(s.Total)), s.Records*100/s.Total)
	} else {
		b.WriteString(" records")
	}
	fmt.Fprintf(&b, " %s rec/s, dup %s late %s bad %s", Thousands(int64(rate)),
		Thousands(int64(s.Duplicates)), Thousands(int64(s.Late)), Thousands(int64(s.Bad)))
	if s.Total > 0 && rate > 0 && s.Records < s.Total {
		eta := time.Duration(float64(s.Total-s.Records) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", eta %s", eta.Round(time.Second))
	}
	if s.Paced && !s.EventTime.IsZero() {
		fmt.Fprintf(&b, ", event time %s", s.EventTime.Format(time.RFC3339))
	}
	return b.String()
}

// Thousands formats n with comma separators: 1234567 → "1,234,567".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ProgressPrinter returns a Progress callback that prints one line per
// report to w, each prefixed with prefix and ": ".
func ProgressPrinter(w io.Writer, prefix string) func(ReplayStats) {
	return func(s ReplayStats) {
		fmt.Fprintf(w, "%s: %s\n", prefix, s)
	}
}

// Replay reads src until io.EOF and writes every record to sink, paced as
// opts.Speed says, then flushes the sink. It does not close the sink.
//
// Cancelling ctx stops the replay between records; the records already
// handed to the sink are still flushed (bounded by opts.FlushTimeout) and
// Replay returns the statistics with ctx's error. Any other error (from
// src, sink or the flush) ends the replay and is returned wrapped.
func Replay(ctx context.Context, src RecordSource, sink Sink, opts ReplayOptions) (ReplayStats, error) {
	if opts.MaxGap <= 0 {
		opts.MaxGap = time.Second
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = time.Second
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 10 * time.Second
	}
	if opts.Speed < 0 {
		return ReplayStats{}, fmt.Errorf("replay: speed %v must not be negative", opts.Speed)
	}
	st := ReplayStats{Total: opts.Total, Paced: opts.Speed > 0}
	start := time.Now()
	lastReport := start
	p := pacer{speed: opts.Speed, maxGap: opts.MaxGap}

	// A chunk write in flight when the replay is interrupted is let finish
	// (for up to FlushTimeout): cut off mid-request, the broker may still
	// have taken it, and the final flush would send it again.
	writeCtx, stopWrites := graceContext(ctx, opts.FlushTimeout)
	defer stopWrites()
	next := src.Next
	if opts.IdleFlush > 0 {
		a := readAhead(src)
		defer a.stop()
		next = func() (Record, error) {
			return a.next(ctx, opts.IdleFlush, func() error { return sink.Flush(writeCtx) })
		}
	}
	runErr := func() error {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && ctx.Err() != nil {
				return ctx.Err() // interrupted while waiting for a record
			}
			if err != nil {
				return fmt.Errorf("replay: read record %d: %w", st.Records+1, err)
			}
			if p.speed > 0 {
				if err := p.wait(ctx, rec.OccurredAt, sink); err != nil {
					return err
				}
			}
			if err := sink.Write(writeCtx, rec); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("replay: write record %d: %w", st.Records+1, err)
			}
			st.count(rec)
			if opts.Progress != nil && (p.speed > 0 || st.Records&255 == 0) {
				if now := time.Now(); now.Sub(lastReport) >= opts.ProgressInterval {
					lastReport = now
					st.Elapsed = now.Sub(start)
					opts.Progress(st)
				}
			}
		}
	}()

	flushCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), opts.FlushTimeout)
		defer cancel()
	}
	flushErr := sink.Flush(flushCtx)
	var err error
	switch {
	case runErr != nil && flushErr != nil:
		// The flush failure is what matters: records handed to the sink
		// were lost. It is not reported as a plain cancellation.
		err = fmt.Errorf("replay: stopped (%v) and the final flush failed: %w", runErr, flushErr) //nolint:errorlint // only the flush error is the cause
	case runErr != nil:
		err = runErr
	case flushErr != nil:
		err = fmt.Errorf("replay: final flush: %w", flushErr)
	}
	st.Elapsed = time.Since(start)
	st.Done = true
	st.Interrupted = ctx.Err() != nil
	st.Failed = err != nil && !(st.Interrupted && errors.Is(err, ctx.Err()))
	if opts.Progress != nil {
		opts.Progress(st)
	}
	return st, err
}

func (s *ReplayStats) count(r Record) {
	s.Records++
	if r.Topic == TopicLifecycle {
		s.Lifecycle++
	} else {
		s.Orders++
	}
	switch r.Label {
	case LabelDuplicate:
		s.Duplicates++
	case LabelLate:
		s.Late++
	case LabelBad:
		s.Bad++
	default:
		s.Valid++
	}
	if r.OccurredAt.After(s.EventTime) {
		s.EventTime = r.OccurredAt
	}
}

// pacer keeps a wall-clock schedule that follows event time at speed×.
type pacer struct {
	speed  float64
	maxGap time.Duration
	clock  time.Time // latest event time seen
	due    time.Time // wall-clock time the next record is due
}

// minSleep: shorter pauses accumulate instead of sleeping (timer
// resolution) and flushing every record.
const minSleep = time.Millisecond

func (p *pacer) wait(ctx context.Context, at time.Time, sink Sink) error {
	now := time.Now()
	if p.due.IsZero() {
		p.due = now
	}
	if at.IsZero() {
		return nil
	}
	if p.clock.IsZero() {
		p.clock = at
		return nil
	}
	if !at.After(p.clock) {
		return nil // same instant, or a late event: no delay
	}
	// Capped before the conversion: at a speed below 1 the quotient can
	// be beyond what a time.Duration holds.
	gap := p.maxGap
	if g := float64(at.Sub(p.clock)) / p.speed; g < float64(p.maxGap) {
		gap = time.Duration(g)
	}
	p.clock = at
	// Do not build up a backlog to burst through when the sink is slower
	// than the pace.
	if behind := now.Sub(p.due); behind > p.maxGap {
		p.due = now.Add(-p.maxGap)
	}
	p.due = p.due.Add(gap)
	d := p.due.Sub(now)
	if d < minSleep {
		return nil
	}
	if err := sink.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("replay: flush before pause: %w", err)
	}
	if d = time.Until(p.due); d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// graceContext returns a context that ends grace after ctx does, and a
// function that releases it (a grace timer still running then cancels a
// context already cancelled).
func graceContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return out, func() {
		stop()
		cancel()
	}
}

// aheadSource reads a source on a goroutine of its own (see
// ReplayOptions.IdleFlush).
type aheadSource struct {
	results chan aheadResult
	done    chan struct{}
}

type aheadResult struct {
	rec Record
	err error
}

func readAhead(src RecordSource) *aheadSource {
	a := &aheadSource{results: make(chan aheadResult), done: make(chan struct{})}
	go func() {
		for {
			rec, err := src.Next()
			select {
			case a.results <- aheadResult{rec, err}:
			case <-a.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

// next waits for the next record; when none came for idle it calls flush
// once, and it returns ctx's error when ctx ends first.
func (a *aheadSource) next(ctx context.Context, idle time.Duration, flush func() error) (Record, error) {
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for {
		select {
		case r := <-a.results:
			return r.rec, r.err
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-timer.C:
			if err := flush(); err != nil {
				return Record{}, err
			}
		}
	}
}

func (a *aheadSource) stop() { close(a.done) }
