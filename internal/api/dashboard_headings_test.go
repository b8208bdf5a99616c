package api_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardHasAPageHeading: the page has one h1, the product's name,
// above the cards' h2 headings, so a screen reader's list of headings (and
// its "jump to main heading") starts with what the page is; the decorative
// logo character is not read out.
func TestDashboardHasAPageHeading(t *testing.T) {
	bctx := openDashboard(t, fixedStats{st: smallStats(t)}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	// An h2's own text, without its hint; the h1's whole text, the
	// logo (hidden from screen readers) left out.
	headings, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].map((h) =>
  h.tagName + " " + (h.tagName === "H1"
    ? [...h.childNodes].filter((n) => !(n.getAttribute && n.getAttribute("aria-hidden") === "true")).map((n) => n.textContent).join("")
    : h.firstChild.textContent).replace(/\s+/g, " ").trim())`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	want := []string{"H1 ltv-stream customer lifetime value, live", "H2 Tiers", "H2 Lifecycle segments", "H2 LTV distribution", "H2 Recent changes", "H2 Cohorts", "H2 Channels"}
	if len(headings) != len(want) {
		t.Fatalf("headings %q, want %q", headings, want)
	}
	for i := range want {
		if headings[i] != want[i] {
			t.Errorf("heading %d is %q, want %q", i, headings[i], want[i])
		}
	}
}
