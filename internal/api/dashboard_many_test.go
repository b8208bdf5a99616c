package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/report"
)

// manyShown is what TestDashboardStaysUsableWithManyCohorts reads.
type manyShown struct {
	CohortRows  int    `json:"cohortRows"`
	LastCohort  string `json:"lastCohort"`
	CohortNote  string `json:"cohortNote"`
	ChannelRows int    `json:"channelRows"`
	ChannelNote string `json:"channelNote"`
}

// grouped writes n as the page does (Intl.NumberFormat en-US): 19,700.
func grouped(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestDashboardStaysUsableWithManyCohorts: a channel field that carries a
// campaign id per customer makes 20,000 cohorts and channels. The page
// still draws within seconds (in full it took over 15 s, every refresh):
// it shows the most recent cohorts and the largest channels, up to a
// bound, and says how many it leaves out.
func TestDashboardStaysUsableWithManyCohorts(t *testing.T) {
	const n = 20000
	acc, err := report.NewAccumulator(report.Config{AsOf: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		first := time.Date(2024, time.Month(1+i%24), 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
		if err := acc.Add(fmt.Sprint("c", i), map[string]string{"orders": "1", "revenue": "10.00", "gross_profit": "4.00", "churned": "0", "ltv": "40.00",
			"tier": "bronze", "segment": "new", "first_order_at": first, "last_order_at": first, "channel": fmt.Sprintf("utm_campaign=%05d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	st := acc.Stats(report.Meta{GeneratedAt: time.Now()})
	if len(st.Cohorts) != n || len(st.Channels) != n {
		t.Fatalf("%d cohorts, %d channels", len(st.Cohorts), len(st.Channels))
	}
	start := time.Now()
	bctx := openDashboard(t, fixedStats{st: st}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#status-dot.ok, #status-dot.err`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("the page drew its first figures after %s", took.Round(time.Millisecond))
	}
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[manyShown](`(() => {
  const rows = [...document.querySelectorAll("#cohorts tbody tr[data-cohort]")];
  return {
    cohortRows: rows.length,
    lastCohort: rows.length ? rows[rows.length - 1].dataset.cohort : "",
    cohortNote: (document.querySelector("#cohorts tbody tr.note") || {}).textContent || "",
    channelRows: document.querySelectorAll("#channels tbody tr[data-channel]").length,
    channelNote: (document.querySelector("#channels tbody tr.note") || {}).textContent || "",
  };
})()`))
	if err != nil {
		t.Fatal(err)
	}
	last := st.Cohorts[len(st.Cohorts)-1].Cohort
	if shown.CohortRows > 500 || shown.LastCohort != last || !strings.Contains(shown.CohortNote, grouped(n-shown.CohortRows)+" older cohorts not shown") {
		t.Errorf("cohorts: %d rows, the last %q (want %q), note %q", shown.CohortRows, shown.LastCohort, last, shown.CohortNote)
	}
	if shown.ChannelRows > 500 || !strings.Contains(shown.ChannelNote, grouped(n-shown.ChannelRows)+" smaller channels not shown") {
		t.Errorf("channels: %d rows, note %q", shown.ChannelRows, shown.ChannelNote)
	}
}
