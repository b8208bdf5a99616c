// Reading the timestamps this code stores.

package store

import (
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

// parseStoredTime parses a stored timestamp field: the form
// aggregate.TimeText writes on aggregate.ParseTimeText's path, anything
// else through time.Parse. A loaded customer has up to four such fields,
// and time.Parse was a tenth of decoding one.
func parseStoredTime(v string) (time.Time, error) {
	if t, ok := aggregate.ParseTimeText(v); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
