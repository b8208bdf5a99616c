package api_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardNamesTheCurrency: every place the page shows money says in
// which currency, the one the statistics carry (the consumer's
// base_currency); from a server whose statistics name none, the page
// shows no empty parentheses.
func TestDashboardNamesTheCurrency(t *testing.T) {
	for _, tc := range []struct {
		name, currency string
		want           []string
	}{
		{"named", "EUR", []string{"Mean LTV (EUR)", "Revenue (EUR)", "customers per LTV band in EUR", "amounts in EUR", "amounts in EUR"}},
		{"not named", "", []string{"Mean LTV", "Revenue", "customers per LTV band", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := smallStats(t)
			st.Currency = tc.currency
			bctx := openDashboard(t, fixedStats{st: st}, nil)
			if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
				t.Fatalf("browser: %v", err)
			}
			// What a reader sees: the labels' and hints' rendered text,
			// the money-naming part of each (hidden text is not rendered).
			shown, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[
  document.querySelectorAll(".kpi .label")[1].innerText,
  document.querySelectorAll(".kpi .label")[2].innerText,
  document.querySelector("#histogram").previousElementSibling.querySelector(".hint").innerText,
  ...[...document.querySelectorAll("#cohorts, #channels")].map(t => {
    const m = t.closest(".card").querySelector("h2 .hint").innerText.match(/amounts in \w*/);
    return m ? m[0] : "";
  }),
]`))
			if err != nil {
				t.Fatalf("reading the page: %v", err)
			}
			if len(shown) != len(tc.want) {
				t.Fatalf("read %d places, want %d: %q", len(shown), len(tc.want), shown)
			}
			for i, want := range tc.want {
				// The labels are upper-cased by the style sheet.
				if !strings.EqualFold(strings.TrimSpace(shown[i]), want) {
					t.Errorf("place %d shows %q, want %q", i, shown[i], want)
				}
			}
		})
	}
}
