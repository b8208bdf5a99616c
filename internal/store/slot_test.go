// Tests that Slot agrees with the server's own hash slot function.

package store_test

import (
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

func TestSlotMatchesRedis(t *testing.T) {
	srv := testutil.StartRedisClusterNode(t)
	c := srv.Client()
	for _, key := range []string{"ltv:{c-000042}", "ltv:{}", "foo", "ltv:{a}b}", "{user1000}.following", "ltv:{ö-é}"} {
		want, err := c.ClusterKeySlot(ctxT(t), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := store.Slot(key); int64(got) != want {
			t.Errorf("Slot(%q) = %d, redis says %d", key, got, want)
		}
	}
}
