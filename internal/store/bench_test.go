// The Redis store's benchmark: one customer update as the pipeline makes it.

package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
)

// BenchmarkCustomerUpdate measures one customer update as the pipeline
// does it, against a real redis-server: load (pipelined HGETALL + GET),
// apply an order, compare-and-set save, clear the pending change, in
// batches of 500 customers. Besides ns/op (client wall time per customer)
// it reports redis-µs/op, the server's own CPU per customer from INFO, which
// is what bounds throughput when Redis is saturated.
func BenchmarkCustomerUpdate(b *testing.B) {
	srv := testutil.StartRedis(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer client.Close()
	st := store.NewRedis(client, store.Config{})
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	m := aggregate.DefaultModel()
	const batch = 500
	const customers = 20_000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cpu0 := redisCPU(b, client)
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("c-%06d", (done+i)%customers)
		}
		snaps, _, err := st.Load(ctx, ids)
		if err != nil {
			b.Fatal(err)
		}
		writes := make([]store.Write, n)
		var acked []store.Acked
		for i := range snaps {
			s := snaps[i].State
			ev := aggregate.Event{
				EventID: "e-" + strconv.Itoa(done+i), Kind: aggregate.OrderPlaced, CustomerID: ids[i],
				Amount: decimal.RequireFromString("123.45"), OccurredAt: at.Add(time.Duration(done+i) * time.Minute),
			}
			res := m.Apply(&s, &ev, aggregate.SourceOffset{Topic: aggregate.TopicOf("orders"), Partition: 0, Offset: int64(done + i)})
			var pending [][]byte
			if res.Changed {
				pending = [][]byte{res.Change.AppendJSON(nil, at)}
			}
			writes[i] = store.Encode(m, &snaps[i], &s, pending, store.EncodeOptions{Figures: true, Computed: &res.Figures, Now: at})
			if res.Changed {
				acked = append(acked, store.Acked{CustomerID: ids[i], Token: writes[i].Token})
			}
		}
		if c, err := st.Save(ctx, writes); err != nil || len(c) > 0 {
			b.Fatal(c, err)
		}
		if err := st.ClearPending(ctx, acked); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, client)-cpu0).Microseconds())/float64(b.N), "redis-µs/op")
}

// redisCPU is the server's user+system CPU time so far.
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
