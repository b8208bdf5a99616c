package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// InputsKey is the hash that records which logs the state was built from
// (cluster_id, topic_id:<topic>, and the input topics' names as
// orders_topic and lifecycle_topic), so that no other log is ever applied
// to it with offsets the state would misread.
const InputsKey = "ltv:inputs"

// InputLogMismatchError says an input log is not the one the state was
// built from: the state's offset guards would take the new log's records
// for ones already applied and skip them.
type InputLogMismatchError struct {
	// Field is cluster_id, topic_id:<topic>, or an input's role
	// (orders_topic, lifecycle_topic) whose topic name changed.
	Field string
	// Recorded is the id the state was built from, Current the brokers'.
	Recorded, Current string
}

func (e *InputLogMismatchError) Error() string {
	if role, ok := strings.CutSuffix(e.Field, "_topic"); ok {
		// The offset guard tells input topics apart by name: a renamed
		// input starts with no guard at all.
		return fmt.Sprintf("the %s input is now topic %s, and the Redis state was built from topic %s: "+
			"events the state already counted would count again if the new topic holds them; stop the consumers and "+
			"rebuild the state into an empty Redis, or, if it holds only events the state has not seen, delete the key %s "+
			"(docs/operations.md)", role, e.Current, e.Recorded, InputsKey)
	}
	what := "the Kafka cluster"
	if topic, ok := strings.CutPrefix(e.Field, "topic_id:"); ok {
		what = "topic " + topic
	}
	return fmt.Sprintf("%s is not the one the Redis state was built from (%s %s, recorded %s): "+
		"its offsets would be taken for ones already applied; stop the consumers and rebuild the state into an empty Redis, "+
		"or, if the new log keeps the old offsets, delete the key %s (docs/operations.md)",
		what, e.Field, e.Current, e.Recorded, InputsKey)
}

// CheckInputLogs records each identity (field → id; "" means unknown and
// is skipped) the first time it is seen, and returns an
// *InputLogMismatchError for the first one that differs from what is
// recorded.
func (r *Redis) CheckInputLogs(ctx context.Context, ids map[string]string) error {
	var fields []string
	for f, id := range ids {
		if id != "" {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	slices.Sort(fields)
	var recorded *redis.SliceCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, f := range fields {
			p.HSetNX(ctx, InputsKey, f, ids[f])
		}
		recorded = p.HMGet(ctx, InputsKey, fields...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("input logs: %w", err)
	}
	for i, v := range recorded.Val() {
		if s, _ := v.(string); s != ids[fields[i]] {
			return &InputLogMismatchError{Field: fields[i], Recorded: s, Current: ids[fields[i]]}
		}
	}
	return nil
}
