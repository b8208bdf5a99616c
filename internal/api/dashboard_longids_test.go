package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/decode"
)

// fixedChanges is a ChangesSource that always answers the same events.
type fixedChanges []json.RawMessage

func (f fixedChanges) Recent(context.Context, int) (api.RecentChanges, error) {
	return api.RecentChanges{ReadAt: time.Now(), Events: f}, nil
}

func (fixedChanges) Depth() int { return 100 }

// changeEvent is an ltv.change.v1 event of customer id, emitted now.
func changeEvent(t *testing.T, id string) json.RawMessage {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(map[string]any{"schema": "ltv.change.v1", "event_id": "e-" + fmt.Sprint(len(id)), "customer_id": id,
		"previous_tier": "silver", "tier": "gold", "direction": "up", "ltv": "5230.10", "previous_ltv": "4990.00",
		"aov": "523.01", "frequency": "4.0000", "orders": 10, "churned": false, "caused_by": "x",
		"occurred_at": now, "emitted_at": now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// changesShown is what TestDashboardKeepsLongCustomerIdsInTheChangesCard
// reads off the page.
type changesShown struct {
	Customers []string  `json:"customers"`
	Overflow  []float64 `json:"overflow"` // px each item's time runs past the card's right edge
	PageWider float64   `json:"pageWider"`
	Images    int       `json:"images"`
	Title     string    `json:"title"`
}

// TestDashboardKeepsLongCustomerIdsInTheChangesCard: a customer id as long
// as an id may be (256 bytes, no space to break at) stays inside the
// recent-changes card, with the time of the change in view, and an id
// that looks like HTML is shown as text.
func TestDashboardKeepsLongCustomerIdsInTheChangesCard(t *testing.T) {
	long := strings.Repeat("x", decode.MaxIDBytes)
	html := `<img src=x onerror="document.title='pwned'">`
	bctx := openDashboard(t, fixedStats{st: smallStats(t)}, fixedChanges{changeEvent(t, long), changeEvent(t, html), changeEvent(t, "c-1")})
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#changes li[data-event-id]`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[changesShown](`(() => {
  const card = document.querySelector(".changes-card").getBoundingClientRect();
  const items = [...document.querySelectorAll("#changes li[data-event-id]")];
  return {
    customers: items.map((li) => li.querySelector(".who").textContent),
    overflow: items.map((li) => li.querySelector(".when").getBoundingClientRect().right - card.right),
    pageWider: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    images: document.querySelectorAll("#changes img").length,
    title: document.title,
  };
})()`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	if len(shown.Customers) != 3 || shown.Customers[0] != long || shown.Customers[1] != html {
		t.Fatalf("customers shown %q", shown.Customers)
	}
	for i, o := range shown.Overflow {
		if o > 0 {
			t.Errorf("change %d: its time runs %.0f px past the card", i, o)
		}
	}
	if shown.PageWider > 0 {
		t.Errorf("the page is %.0f px wider than the window", shown.PageWider)
	}
	if shown.Images != 0 || strings.Contains(shown.Title, "pwned") {
		t.Errorf("an id was read as HTML: %d images, title %q", shown.Images, shown.Title)
	}
}
