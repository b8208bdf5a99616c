package api_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/report"
)

// TestDashboardSaysHowManyKeysWereLeftOut: keys under ltv:{…} that are not
// readable customers (skipped in /v1/stats) are not in the customer count;
// the count's caption says how many were left out, and why the first was
// in its tooltip, so an operator learns of them without reading the JSON.
func TestDashboardSaysHowManyKeysWereLeftOut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		skipped report.Skipped
		want    string // in the caption; "" for no mention
	}{
		{"none", report.Skipped{}, ""},
		{"some", report.Skipped{NotHash: 5, NoPublicFields: 3, Unreadable: 1, First: "key ltv:{x} is not a hash"}, "9 keys left out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := *smallStats(t)
			st.Skipped = tc.skipped
			bctx := openDashboard(t, fixedStats{st: &st}, nil)
			if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
				t.Fatalf("browser: %v", err)
			}
			type caption struct {
				Text  string `json:"text"`
				Title string `json:"title"`
			}
			got, err := chromedp.Run(bctx, chromedp.Evaluate[caption](`({text: document.getElementById("kpi-sample").textContent, title: document.getElementById("kpi-sample").title})`))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if strings.Contains(got.Text, "left out") {
					t.Errorf("caption %q with nothing left out", got.Text)
				}
				return
			}
			if !strings.Contains(got.Text, tc.want) || !strings.Contains(got.Title, tc.skipped.First) {
				t.Errorf("caption %+v, want %q and the first reason", got, tc.want)
			}
		})
	}
}
