package stats_test

import (
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/store"
)

// The Redis store is the Source the read API and ltvctl use.
var _ stats.Source = (*store.Redis)(nil)
