package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardNamesADemotionBelowTheLadder: with a ladder that starts
// above 0, a customer demoted below its lowest tier gets tier "" (SPEC §5);
// the recent-changes card shows that as "(none)", as the tier chart does
// and as the demo's terminal does, not as an arrow pointing at nothing.
func TestDashboardNamesADemotionBelowTheLadder(t *testing.T) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	down, err := json.Marshal(map[string]any{"schema": "ltv.change.v1", "event_id": "e-down", "customer_id": "c-1",
		"previous_tier": "silver", "tier": "", "direction": "down", "ltv": "80.00", "previous_ltv": "120.00",
		"aov": "40.00", "frequency": "1.0000", "orders": 2, "churned": true, "caused_by": "x",
		"occurred_at": now, "emitted_at": now})
	if err != nil {
		t.Fatal(err)
	}
	bctx := openDashboard(t, fixedStats{st: smallStats(t)}, fixedChanges{down, changeEvent(t, "c-2")})
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#changes li[data-event-id]`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	what, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#changes li[data-event-id] .what")].map((e) => e.textContent)`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	want := []string{"silver → (none)", "silver → gold"}
	if len(what) != len(want) || what[0] != want[0] || what[1] != want[1] {
		t.Errorf("changes shown as %q, want %q", what, want)
	}
}
