package stream

import (
	"context"

	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/segmentio/kafka-go"
)

// Publisher writes the pipeline's output messages (tier changes and dead
// letters) through one Writer and returns only when every message is
// acknowledged by all in-sync replicas.
type Publisher struct {
	w *kafka.Writer
}

// NewPublisher wraps a Writer built by NewWriter with an empty Topic (each
// message names its topic).
func NewPublisher(w *kafka.Writer) *Publisher { return &Publisher{w: w} }

// Publish implements pipeline.Publisher.
func (p *Publisher) Publish(ctx context.Context, msgs []pipeline.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
		if len(m.Headers) > 0 {
			hs := make([]kafka.Header, len(m.Headers))
			for j, h := range m.Headers {
				hs[j] = kafka.Header{Key: h.Key, Value: h.Value}
			}
			out[i].Headers = hs
		}
	}
	return WriteAll(ctx, p.w, out)
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }

var _ pipeline.Publisher = (*Publisher)(nil)
