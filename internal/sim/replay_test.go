package sim

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSink records what it receives; flushed counts records covered by a
// successful Flush.
type memSink struct {
	mu       sync.Mutex
	recs     []Record
	flushed  int
	flushes  int
	writeErr error
	flushErr error
	failAt   int
}

func (s *memSink) Write(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil && len(s.recs) == s.failAt {
		return s.writeErr
	}
	s.recs = append(s.recs, r)
	return nil
}

func (s *memSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.flushErr != nil {
		return s.flushErr
	}
	s.flushes++
	s.flushed = len(s.recs)
	return nil
}

func (s *memSink) Close() error { return nil }

// sliceSource replays fixed records.
type sliceSource struct {
	recs []Record
	i    int
}

func (s *sliceSource) Next() (Record, error) {
	if s.i >= len(s.recs) {
		return Record{}, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

func at(sec int) time.Time { return time.Date(2025, 1, 1, 0, 0, sec, 0, time.UTC) }

func TestReplayFast(t *testing.T) {
	g, err := NewGenerator(faultyConfig(101, 20000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	var reports []ReplayStats
	st, err := Replay(t.Context(), FromGenerator(g), sink, ReplayOptions{
		Total: 20000, Progress: func(s ReplayStats) { reports = append(reports, s) }, ProgressInterval: time.Nanosecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 20000 || sink.flushed != 20000 || !st.Done {
		t.Fatalf("stats %+v, flushed %d", st, sink.flushed)
	}
	if st.Valid+st.Duplicates+st.Late+st.Bad != st.Records || st.Orders+st.Lifecycle != st.Records {
		t.Fatalf("counts do not add up: %+v", st)
	}
	if st.Duplicates == 0 || st.Late == 0 || st.Bad == 0 {
		t.Fatalf("faults not counted: %+v", st)
	}
	if len(reports) < 2 || !reports[len(reports)-1].Done {
		t.Fatalf("%d progress reports, last %+v", len(reports), reports[len(reports)-1])
	}
	// Same records, same order as the generator.
	want, _ := generate(t, faultyConfig(101, 20000, 1000))
	if digest(want) != digest(sink.recs) {
		t.Fatal("replayed records differ from the generated ones")
	}
}

func TestReplayPacing(t *testing.T) {
	tests := []struct {
		name     string
		times    []time.Time
		speed    float64
		maxGap   time.Duration
		min, max time.Duration
	}{
		// 4 s of event time at 40× = 100 ms.
		{"paced", []time.Time{at(0), at(1), at(2), at(3), at(4)}, 40, time.Second, 90 * time.Millisecond, 600 * time.Millisecond},
		// 30 days at 1× would stall; MaxGap caps each of the 2 gaps at 30 ms.
		{"max gap", []time.Time{at(0), at(0).AddDate(0, 0, 30), at(0).AddDate(0, 0, 60)}, 1, 30 * time.Millisecond, 55 * time.Millisecond, 500 * time.Millisecond},
		// Late (earlier) events and missing times go without delay.
		{"late and untimed", []time.Time{at(10), at(0), {}, at(1), at(10)}, 1, time.Second, 0, 100 * time.Millisecond},
		{"unpaced", []time.Time{at(0), at(0).AddDate(1, 0, 0)}, 0, time.Second, 0, 100 * time.Millisecond},
		// Slower than real time: a gap divided by the speed is beyond what
		// a time.Duration holds, and is still capped at MaxGap, not lost.
		{"slow motion", []time.Time{at(0), at(0).AddDate(1, 0, 0), at(0).AddDate(2, 0, 0)}, 0.001, 30 * time.Millisecond, 55 * time.Millisecond, 500 * time.Millisecond},
		{"tiny speed", []time.Time{at(0), at(1), at(2)}, 1e-300, 30 * time.Millisecond, 55 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []Record
			for _, ts := range tt.times {
				recs = append(recs, Record{Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}"), OccurredAt: ts, Label: LabelValid})
			}
			sink := &memSink{}
			start := time.Now()
			st, err := Replay(t.Context(), &sliceSource{recs: recs}, sink, ReplayOptions{Speed: tt.speed, MaxGap: tt.maxGap})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if st.Records != len(recs) || sink.flushed != len(recs) {
				t.Fatalf("wrote %d, flushed %d", st.Records, sink.flushed)
			}
			if took < tt.min || took > tt.max {
				t.Fatalf("took %v, want %v..%v", took, tt.min, tt.max)
			}
			if tt.name == "paced" && sink.flushes < 4 {
				t.Fatalf("paced records must be flushed before each pause; %d flushes", sink.flushes)
			}
		})
	}
}

// Cancelling stops between records and still flushes what was written.
func TestReplayCancelFlushes(t *testing.T) {
	var recs []Record
	for i := range 100 {
		recs = append(recs, Record{Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}"), OccurredAt: at(i), Label: LabelValid})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 80*time.Millisecond)
	defer cancel()
	sink := &memSink{}
	start := time.Now()
	st, err := Replay(ctx, &sliceSource{recs: recs}, sink, ReplayOptions{Speed: 50}) // 20 ms per record
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("did not stop promptly")
	}
	if st.Records == 0 || st.Records >= 100 || sink.flushed != st.Records || sink.flushed != len(sink.recs) {
		t.Fatalf("records %d, flushed %d of %d", st.Records, sink.flushed, len(sink.recs))
	}
}

// chunkSink writes its chunk of 5 records in a slow request; the replay
// is interrupted during the second one.
type chunkSink struct {
	memSink
	interrupt func()
	sent      int // records that reached the "broker"
}

func (s *chunkSink) Write(ctx context.Context, r Record) error {
	if err := s.memSink.Write(ctx, r); err != nil {
		return err
	}
	if len(s.recs)%5 != 0 {
		return nil
	}
	if len(s.recs) == 10 {
		s.interrupt()
	}
	select {
	case <-time.After(50 * time.Millisecond): // the request completes
	case <-ctx.Done():
		return ctx.Err() // cut off: a real broker may have the chunk anyway
	}
	s.sent = len(s.recs)
	return nil
}

// TestReplayLetsAChunkInFlightFinish: an interrupt arriving while a chunk
// is being written lets that write finish, so its records are counted
// once and not sent again by the final flush.
func TestReplayLetsAChunkInFlightFinish(t *testing.T) {
	var recs []Record
	for i := range 100 {
		recs = append(recs, Record{Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}"), OccurredAt: at(i), Label: LabelValid})
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &chunkSink{interrupt: cancel}
	st, err := Replay(ctx, &sliceSource{recs: recs}, sink, ReplayOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the interruption", err)
	}
	if sink.sent != 10 || st.Records != 10 || sink.flushed != 10 {
		t.Fatalf("chunk writes finished for %d records, %d counted, %d flushed; want 10 each", sink.sent, st.Records, sink.flushed)
	}
}

func TestReplayErrors(t *testing.T) {
	recs := []Record{{Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}")}, {Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}")}}
	boom := errors.New("boom")
	t.Run("write", func(t *testing.T) {
		sink := &memSink{writeErr: boom, failAt: 1}
		st, err := Replay(t.Context(), &sliceSource{recs: recs}, sink, ReplayOptions{})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "write record 2") || st.Records != 1 {
			t.Fatalf("got %v, %d records", err, st.Records)
		}
		if sink.flushed != 1 {
			t.Fatal("what was written before the error must be flushed")
		}
	})
	t.Run("flush", func(t *testing.T) {
		_, err := Replay(t.Context(), &sliceSource{recs: recs}, &memSink{flushErr: boom}, ReplayOptions{})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "final flush") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("source", func(t *testing.T) {
		r := NewJSONLReader(strings.NewReader(`{"topic":"orders","key":"k","value":"{}"}` + "\nnope\n"))
		st, err := Replay(t.Context(), r, &memSink{}, ReplayOptions{})
		var jerr *JSONLError
		if !errors.As(err, &jerr) || jerr.Line != 2 || st.Records != 1 {
			t.Fatalf("got %v, %d records", err, st.Records)
		}
	})
	t.Run("negative speed", func(t *testing.T) {
		if _, err := Replay(t.Context(), &sliceSource{}, &memSink{}, ReplayOptions{Speed: -1}); err == nil {
			t.Fatal("want an error")
		}
	})
}

// TestReplayFinalReport: the final report says how the replay ended. A
// replay that failed used to end with "done: N records", N counting
// records handed to a sink whose flush then failed, right before the
// error: a summary claiming completion for records never delivered.
func TestReplayFinalReport(t *testing.T) {
	recs := []Record{{Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}")}, {Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}")}}
	boom := errors.New("boom")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		src  RecordSource
		sink *memSink
		word string
	}{
		{"success", t.Context(), &sliceSource{recs: recs}, &memSink{}, "done:"},
		{"interrupted", cancelled, &sliceSource{recs: recs}, &memSink{}, "stopped:"},
		{"write fails", t.Context(), &sliceSource{recs: recs}, &memSink{writeErr: boom, failAt: 1}, "failed:"},
		{"flush fails", t.Context(), &sliceSource{recs: recs}, &memSink{flushErr: boom}, "failed:"},
		{"bad line", t.Context(), NewJSONLReader(strings.NewReader(`{"topic":"orders","key":"k","value":"{}"}` + "\nnope\n")), &memSink{}, "failed:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last ReplayStats
			_, err := Replay(tt.ctx, tt.src, tt.sink, ReplayOptions{Progress: func(s ReplayStats) { last = s }})
			if (tt.word == "failed:") != (err != nil && !errors.Is(err, context.Canceled)) {
				t.Fatalf("error %v", err)
			}
			if !last.Done || !strings.HasPrefix(last.String(), tt.word) {
				t.Fatalf("final report %q, want it to start with %q", last.String(), tt.word)
			}
			if last.Failed != (tt.word == "failed:") {
				t.Fatalf("Failed %v in %q", last.Failed, last.String())
			}
		})
	}
}

func TestReplayStatsString(t *testing.T) {
	tests := []struct {
		st   ReplayStats
		want string
	}{
		{ReplayStats{Records: 523000, Total: 1000000, Duplicates: 1020, Late: 2000, Bad: 510, Elapsed: 2 * time.Second},
			"523,000/1,000,000 records (52%) 261,500 rec/s, dup 1,020 late 2,000 bad 510, eta 2s"},
		{ReplayStats{Records: 1500, Elapsed: time.Second},
			"1,500 records 1,500 rec/s, dup 0 late 0 bad 0"},
		{ReplayStats{Records: 10, Elapsed: time.Second, Paced: true, EventTime: at(5)},
			"10 records 10 rec/s, dup 0 late 0 bad 0, event time 2025-01-01T00:00:05Z"},
		{ReplayStats{Records: 1000000, Valid: 975000, Duplicates: 10000, Late: 10000, Bad: 5000, Orders: 990000, Lifecycle: 10000, Elapsed: 4 * time.Second, Done: true},
			"done: 1,000,000 records in 4s (250,000 rec/s): valid 975,000 dup 10,000 late 10,000 bad 5,000; orders 990,000 lifecycle 10,000"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// waitingSource yields its records, then waits (as stdin with no more
// input does) until released.
type waitingSource struct {
	recs    []Record
	i       int
	release chan struct{}
}

func (s *waitingSource) Next() (Record, error) {
	if s.i < len(s.recs) {
		s.i++
		return s.recs[s.i-1], nil
	}
	<-s.release
	return Record{}, io.EOF
}

// TestReplayIdleFlush: with IdleFlush, records read from a source that
// then waits are flushed to the sink, and an interrupt ends the replay
// without waiting for the next record.
func TestReplayIdleFlush(t *testing.T) {
	src := &waitingSource{release: make(chan struct{})}
	defer close(src.release)
	for i := range 3 {
		src.recs = append(src.recs, Record{Topic: TopicOrders, Key: []byte("k"), Value: []byte("{}"), OccurredAt: at(i), Label: LabelValid})
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &memSink{}
	type result struct {
		st  ReplayStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := Replay(ctx, src, sink, ReplayOptions{IdleFlush: 20 * time.Millisecond})
		done <- result{st, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sink.mu.Lock()
		flushed := sink.flushed
		sink.mu.Unlock()
		if flushed == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 3 records read were not flushed while the source waited (flushed %d)", flushed)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) || r.st.Records != 3 {
			t.Fatalf("Replay = %d records, %v; want 3 and the interruption", r.st.Records, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the interrupt waited for the source's next record")
	}
}
