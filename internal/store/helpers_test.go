// Helpers shared by the package's external tests: a store on a fresh
// redis-server, events, and writes made the way the pipeline makes them.

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func newStore(t *testing.T) (*store.Redis, *testutil.RedisServer) {
	t.Helper()
	srv := testutil.StartRedis(t)
	st := store.NewRedis(srv.StoreClient(), store.Config{KeysPerScript: 3})
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, srv
}

// fixture is the usual start of a store test: a store over a fresh
// redis-server, the default model, the test's context and a client for
// checking what the scripts wrote.
func fixture(t *testing.T) (*store.Redis, *aggregate.Model, context.Context, *redis.Client) {
	t.Helper()
	st, srv := newStore(t)
	return st, aggregate.DefaultModel(), ctxT(t), srv.Client()
}

func ctxT(t *testing.T) context.Context { return testutil.Context(t, 20*time.Second) }

func order(id, customer, amount, margin string, at string) aggregate.Event {
	ev := aggregate.Event{Kind: aggregate.OrderPlaced, EventID: id, CustomerID: customer, OrderID: "o-" + id,
		Amount: money.MustParse(amount), Currency: "SEK", OccurredAt: mustTime(at)}
	if margin != "" {
		ev.Margin, ev.HasMargin = money.MustParse(margin), true
	}
	return ev
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// applyAndWrite loads a customer, applies events and writes the result.
func applyAndWrite(t *testing.T, st *store.Redis, m *aggregate.Model, id string, evs []aggregate.Event, offset0 int64) (store.Write, []int) {
	t.Helper()
	ctx := ctxT(t)
	snaps, errs, err := st.Load(ctx, []string{id})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if errs[0] != nil {
		t.Fatalf("load: %v", errs[0])
	}
	s := snaps[0].State
	var pending [][]byte
	for i := range evs {
		r := m.Apply(&s, &evs[i], aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: offset0 + int64(i)})
		if r.Changed {
			pending = append(pending, r.Change.AppendJSON(nil, time.Unix(0, 0)))
		}
	}
	w := store.Encode(m, &snaps[0], &s, pending, store.EncodeOptions{Figures: true, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	conflicts, err := st.Save(ctx, []store.Write{w})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return w, conflicts
}

// saveOnto applies one event to a loaded snapshot and saves the result,
// which must not conflict. withPending: the write carries the snapshot's
// pending events and the event's change, as the pipeline's would; without
// it the write carries none (the caller published them itself).
func saveOnto(t *testing.T, st *store.Redis, m *aggregate.Model, snap *store.Snapshot, ev aggregate.Event, offset int64, withPending bool) aggregate.Result {
	t.Helper()
	s := snap.State
	res := m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: offset})
	var pending [][]byte
	if withPending {
		pending = append(pending, snap.Pending...)
		if res.Changed {
			pending = append(pending, res.Change.AppendJSON(nil, time.Unix(0, 0)))
		}
	}
	w := store.Encode(m, snap, &s, pending, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: time.Now()})
	if c, err := st.Save(ctxT(t), []store.Write{w}); err != nil || len(c) != 0 {
		t.Fatal(c, err)
	}
	return res
}

// holdClears holds every clear attempt of r's clearer until the test
// sends on gate: nil lets the attempt through to Redis, an error fails it
// without reaching Redis. Every attempt let through then sends its batch
// on cleared.
func holdClears(r *store.Redis) (gate chan error, cleared chan []store.Acked) {
	gate, cleared = make(chan error), make(chan []store.Acked, 8)
	r.HoldClears(func(ctx context.Context, acked []store.Acked, clear func(context.Context, []store.Acked) error) error {
		select {
		case err := <-gate:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		err := clear(ctx, acked)
		cleared <- acked
		return err
	})
	return gate, cleared
}
