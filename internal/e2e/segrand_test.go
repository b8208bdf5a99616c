package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// srRandomStream builds a stream from seed over parts partitions: a few
// customers per partition, times on a grid of 6 to 30 hours, which the
// thresholds (2.5 and 6.25 days) are multiples of for some seeds, so events
// share instants and land exactly on due times; late events, event ids
// reused (by the customer or another one, with another time), refunds of
// orders that may not exist, churns and reactivations; three phases, with
// the consumers stopped and started between them.
func srRandomStream(seed uint64, parts int) *srStream {
	r := rand.New(rand.NewPCG(seed, seed*7+1))
	s := &srStream{name: "random-" + strconv.FormatUint(seed, 10), parts: parts, atRisk: 60 * time.Hour, lapsed: 150 * time.Hour,
		yaml: "at_risk_after_days: 2.5\nlapsed_after_days: 6.25\n"}
	b := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	step := time.Duration(6*(1+seed%5)) * time.Hour
	for p := range parts {
		now := 0
		ncust := 3 + r.IntN(4)
		var ids []string
		for phase := 0; phase < 3; phase++ {
			s.phase = phase
			for range 8 + r.IntN(12) {
				cust := fmt.Sprintf("p%d-c%d", p, r.IntN(ncust))
				gap := r.IntN(6)
				if r.IntN(5) == 0 {
					gap = 6 + r.IntN(12)
				}
				now += gap
				at := now
				if r.IntN(5) == 0 {
					at = max(0, now-r.IntN(20)) // late
				}
				t := b.Add(time.Duration(at) * step)
				switch k := r.IntN(10); {
				case k < 5:
					ids = append(ids, s.place(p, cust, strconv.Itoa(10+r.IntN(900))+".00", t, 0))
				case k < 6:
					s.refund(p, cust, "o-"+strconv.Itoa(r.IntN(s.seq+1)), strconv.Itoa(1+r.IntN(50))+".00", t, 0)
				case k < 8:
					s.churn(p, cust, t)
				case k < 9:
					s.reactivate(p, cust, t)
				default:
					if len(ids) > 0 {
						// a producer retry of an earlier order, maybe with another time
						id := ids[r.IntN(len(ids))]
						s.orderRec(p, "order_placed", id, cust, "o-"+id, "10.00", "SEK", srAt(t, 0))
					}
				}
			}
		}
	}
	return s
}

// TestSegmentsRandomAgainstReference runs the consumer binary over random
// streams (srRandomStream) and compares everything runSegRef compares with
// the independent reference of segref_test.go, under what the hand-built
// streams do not vary: 1 to 4 partitions, one or two instances, one or two
// workers, batches of 1, 3 or 500 records, with and without the state
// cache. SEGRAND_N sets the number of seeds (3 by default; 40 passed when
// it was written).
func TestSegmentsRandomAgainstReference(t *testing.T) {
	testutil.SkipShort(t, "runs the consumer binary")
	n := 3
	if v := os.Getenv("SEGRAND_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		env := map[string]string{"LTV_MAX_BATCH": []string{"1", "3", "500"}[seed%3], "LTV_WORKERS": []string{"1", "2"}[seed%2]}
		if seed%4 == 0 {
			env["LTV_STATE_CACHE_BYTES"] = "0"
		}
		s := srRandomStream(seed, 1+int(seed%4))
		t.Run(s.name, func(t *testing.T) { runSegRef(t, s, env, 1+int(seed/3%2)) })
	}
}
