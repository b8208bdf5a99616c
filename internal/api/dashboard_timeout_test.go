package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardSaysWhenTheAPIDoesNotAnswer: when /v1/stats does not
// answer within the page's 8 s (a long first computation), the banner
// names the endpoint and says so, instead of the browser's bare
// "signal is aborted without reason".
func TestDashboardSaysWhenTheAPIDoesNotAnswer(t *testing.T) {
	bctx := openDashboard(t, slowStats{takes: time.Minute}, nil)
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#banner:not([hidden])`))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	var banner string
	for time.Now().Before(deadline) {
		var err error
		banner, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("banner").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(banner, "/v1/stats") {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the page, not synchronising
	}
	if !strings.Contains(banner, "/v1/stats: no answer within 8 s") {
		t.Errorf("banner %q, want it to say /v1/stats gave no answer within 8 s", banner)
	}
}
