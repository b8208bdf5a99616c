package api_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardEmptyTablesAreReadable: the sentence an empty table shows
// ("no cohorts yet"; the "—" of an undefined figure and the note of rows
// left out have the same class) has a contrast of at least 4.5:1 with its
// card (WCAG AA for text); at 2.8:1 it was hard to read on the dark card.
func TestDashboardEmptyTablesAreReadable(t *testing.T) {
	bctx := openDashboard(t, statsOf(t, nil), nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#cohorts tbody td.null`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	type shown struct {
		Text     string  `json:"text"`
		Contrast float64 `json:"contrast"`
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[shown](`(() => {
  const lum = (css) => {
    const [r, g, b] = css.match(/\d+(\.\d+)?/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const td = document.querySelector("#cohorts tbody td.null");
  const fg = lum(getComputedStyle(td).color), bg = lum(getComputedStyle(td.closest(".card")).backgroundColor);
  return { text: td.textContent, contrast: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05) };
})()`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	if got.Text != "no cohorts yet" {
		t.Fatalf("empty cohort table shows %q", got.Text)
	}
	if got.Contrast < 4.5 {
		t.Errorf("%q has a contrast of %.2f:1 with its card, want at least 4.5:1", got.Text, got.Contrast)
	}
}
