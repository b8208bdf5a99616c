package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/pipeline"
	"github.com/ltv-stream/ltv-stream/internal/report"
	"github.com/ltv-stream/ltv-stream/internal/sim"
	"github.com/ltv-stream/ltv-stream/internal/stats"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/stream"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// findChromium returns the browser to drive, or skips the test: outside
// CI a missing browser is a skip with how to get one; on CI (CI set) it is
// a failure, since `make test` installs it (scripts/ensure-chromium.sh).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no chromium on PATH: `scripts/ensure-chromium.sh` (or `apt-get install chromium`) installs it"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// dashboardData runs simulated customers through the real pipeline into
// redis-server, publishing their tier and segment changes to the broker,
// and then one last customer whose changes are the newest of all. It
// returns that customer's id.
func dashboardData(t *testing.T, ctx context.Context, client redis.UniversalClient, brokers []string, model *aggregate.Model) string {
	t.Helper()
	st := store.NewRedis(client, store.Config{})
	dec, err := decode.New(decode.Config{MaxFutureSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := stream.NewPublisher(stream.PublisherConfig{Writer: stream.WriterConfig{Brokers: brokers}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	p, err := pipeline.New(pipeline.Config{Model: model, Decoder: dec, Store: st, Out: pub, Timers: st})
	if err != nil {
		t.Fatal(err)
	}
	// About three years of history, ending a little before now.
	start := time.Now().UTC().AddDate(0, -35, 0).Truncate(24 * time.Hour)
	gen, err := sim.NewGenerator(sim.Config{Seed: 11, Customers: 1200, Events: 12000, Start: start, AcquisitionDays: 240})
	if err != nil {
		t.Fatal(err)
	}
	var batch []pipeline.Record
	var latest time.Time // the latest event time of the stream
	offsets := map[string]int64{}
	add := func(topic string, key, value []byte) error {
		batch = append(batch, pipeline.Record{Topic: topic, Offset: offsets[topic], Key: key, Value: value})
		offsets[topic]++
		if len(batch) < 1000 {
			return nil
		}
		_, err := p.Process(ctx, batch)
		batch = batch[:0]
		return err
	}
	for rec := range gen.All() {
		topic := rec.Topic.String() // SPEC §1's default names
		if at, ok := decode.EventTime(rec.Value); ok && at.After(latest) {
			latest = at
		}
		if err := add(topic, rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Process(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The last customer's first order comes after every other event, so it
	// is a new customer at the stream's end.
	const newest = "c-newest"
	last := fmt.Sprintf(`{"schema":"ltv.order.v1","event_id":"e-newest","type":"order_placed","customer_id":%q,"order_id":"o-newest","amount":"31000.00","currency":"SEK","gross_margin":"0.30","occurred_at":%q,"channel":"email"}`,
		newest, latest.Add(time.Hour).UTC().Format(time.RFC3339))
	if _, err := p.Process(ctx, []pipeline.Record{{Topic: "orders", Offset: offsets["orders"], Key: []byte(newest), Value: []byte(last)}}); err != nil {
		t.Fatal(err)
	}
	return newest
}

// expectedCounts reads every customer's tier and segment from Redis: the
// figures the page must show, found without the API.
func expectedCounts(t *testing.T, ctx context.Context, rc *redis.Client) (customers int, tiers, segments map[string]int) {
	t.Helper()
	tiers, segments = map[string]int{}, map[string]int{}
	iter := rc.Scan(ctx, 0, "ltv:{*}", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if !strings.HasSuffix(key, "}") {
			continue
		}
		vals, err := rc.HMGet(ctx, key, "tier", "segment").Result()
		if err != nil {
			t.Fatal(err)
		}
		customers++
		if s, ok := vals[0].(string); ok {
			tiers[s]++
		}
		if s, ok := vals[1].(string); ok {
			segments[s]++
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return customers, tiers, segments
}

// newestEvent is the event the topics hold with the latest emitted_at
// (then occurred_at: one batch emits all its events at once).
func newestEvent(t *testing.T, ctx context.Context, brokers []string) (id, customer string) {
	t.Helper()
	var best, bestOccurred time.Time
	for _, topic := range []string{"ltv-changes", "ltv-segments"} {
		msgs, err := testutil.ReadAll(ctx, brokers, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var ev struct {
				EventID    string    `json:"event_id"`
				CustomerID string    `json:"customer_id"`
				EmittedAt  time.Time `json:"emitted_at"`
				OccurredAt time.Time `json:"occurred_at"`
			}
			if err := json.Unmarshal(m.Value, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.EmittedAt.After(best) || (ev.EmittedAt.Equal(best) && ev.OccurredAt.After(bestOccurred)) {
				best, bestOccurred, id, customer = ev.EmittedAt, ev.OccurredAt, ev.EventID, ev.CustomerID
			}
		}
	}
	return id, customer
}

// pageState is what the test reads off the rendered page.
type pageState struct {
	Population  string            `json:"population"`
	Tiers       map[string]string `json:"tiers"`
	TierOrder   []string          `json:"tierOrder"`
	Segments    map[string]string `json:"segments"`
	Bins        int               `json:"bins"`
	CohortRows  int               `json:"cohortRows"`
	ChannelRows int               `json:"channelRows"`
	Changes     []struct {
		EventID  string `json:"eventId"`
		Customer string `json:"customer"`
		Kind     string `json:"kind"`
		Text     string `json:"text"`
	} `json:"changes"`
	Banner string `json:"banner"`
	Status string `json:"status"`
}

const readPage = `(() => {
  const named = (sel) => Object.fromEntries([...document.querySelectorAll(sel)].map((r) => [r.dataset.name, r.querySelector(".count").textContent]));
  return {
    population: document.getElementById("kpi-population").textContent,
    tiers: named("#tiers .bar-row"),
    tierOrder: [...document.querySelectorAll("#tiers .bar-row")].map((r) => r.dataset.name),
    segments: named("#segments .bar-row"),
    bins: document.querySelectorAll("#histogram rect.bin").length,
    cohortRows: document.querySelectorAll("#cohorts tbody tr[data-cohort]").length,
    channelRows: document.querySelectorAll("#channels tbody tr[data-channel]").length,
    changes: [...document.querySelectorAll("#changes li[data-event-id]")].map((li) => ({eventId: li.dataset.eventId, customer: li.dataset.customer, kind: li.dataset.kind, text: li.textContent})),
    banner: document.getElementById("banner").hidden ? "" : document.getElementById("banner").textContent,
    status: document.getElementById("status-text").textContent,
  };
})()`

// TestDashboardInBrowser loads the dashboard in headless Chromium, served
// by the real API over redis-server (customers written by the pipeline)
// and kfake (the change events it published), and checks that the page
// shows the figures Redis holds, the tiers in the ladder's order and the
// newest change first: with the default ladder, and with one whose names
// sort otherwise. With LTV_DASHBOARD_SCREENSHOT=path it also saves a
// screenshot of the default ladder's page there (how docs/dashboard.png
// is made).
func TestDashboardInBrowser(t *testing.T) {
	testutil.SkipShort(t, "runs the pipeline and a browser")
	browser := findChromium(t)
	renamed := aggregate.DefaultTiers()
	for i, name := range []string{"member", "plus", "elite", "apex"} { // in name order: apex, elite, member, plus
		renamed[i].Name = name
	}
	for _, tc := range []struct {
		name       string
		ladder     []aggregate.Tier
		screenshot bool
	}{
		{"default ladder", aggregate.DefaultTiers(), true},
		{"renamed ladder", renamed, false},
	} {
		t.Run(tc.name, func(t *testing.T) { dashboardInBrowser(t, browser, tc.ladder, tc.screenshot) })
	}
}

func dashboardInBrowser(t *testing.T, browser string, ladder []aggregate.Tier, screenshot bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	model := aggregate.DefaultModel()
	model.Tiers = ladder
	if err := model.Validate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tier := range ladder {
		names = append(names, tier.Name)
	}
	rs := testutil.StartRedis(t)
	_, brokers := testutil.StartKafka(t, testutil.KafkaConfig{Partitions: 3, Topics: []string{"ltv-changes", "ltv-segments", "ltv-dlq"}})
	client := rs.StoreClient()
	newest := dashboardData(t, ctx, client, brokers, model)
	customers, tiers, segments := expectedCounts(t, ctx, rs.Client())
	newestID, newestCustomer := newestEvent(t, ctx, brokers)
	if newestCustomer != newest {
		t.Fatalf("the newest event in the topics is %s's, not %s's", newestCustomer, newest)
	}

	provider, err := stats.NewProvider(stats.Config{Source: store.NewRedis(client, store.Config{}), Report: report.Config{Tiers: ladder}})
	if err != nil {
		t.Fatal(err)
	}
	defer provider.Close()
	feed, err := api.NewFeed(api.FeedConfig{Client: stream.NewAdminClient(brokers, nil), Topics: []string{"ltv-changes", "ltv-segments"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Redis: client, Stats: provider, Changes: feed})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1440, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	err = chromedp.Do(bctx,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#tiers .bar-row`)),
		chromedp.WaitVisible(chromedp.CSS(`#changes li[data-event-id]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cohorts tbody tr[data-cohort]`)),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	page, err := chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}

	if page.Banner != "" || !strings.HasPrefix(page.Status, "live") {
		t.Errorf("the page reports a problem: banner %q, status %q", page.Banner, page.Status)
	}
	if want := thousands(customers); page.Population != want {
		t.Errorf("population shown %q, Redis holds %s customers", page.Population, want)
	}
	checkCounts(t, "tier", page.Tiers, tiers)
	if fmt.Sprint(page.TierOrder) != fmt.Sprint(names) {
		t.Errorf("tiers shown in the order %v, not the ladder's %v", page.TierOrder, names)
	}
	checkCounts(t, "segment", page.Segments, segments)
	if page.Bins != len(defaultEdges) {
		t.Errorf("%d histogram bins shown, want %d", page.Bins, len(defaultEdges))
	}
	st, err := provider.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if page.CohortRows != len(st.Cohorts) || page.CohortRows < 10 || page.ChannelRows != len(st.Channels) {
		t.Errorf("%d cohort rows and %d channel rows shown; the statistics have %d and %d", page.CohortRows, page.ChannelRows, len(st.Cohorts), len(st.Channels))
	}
	if len(page.Changes) == 0 || page.Changes[0].Customer != newest {
		t.Fatalf("first change shown: %+v; want %s's, the newest", page.Changes, newest)
	}
	first := page.Changes[:0]
	for _, c := range page.Changes {
		if c.Customer == newest {
			first = append(first, c)
		}
	}
	if len(first) != 2 || (first[0].EventID != newestID && first[1].EventID != newestID) {
		t.Fatalf("the newest customer's changes shown: %+v; want its tier and segment change, %s among them", first, newestID)
	}
	for _, c := range first {
		if want := map[string]string{"tier": "(new) → " + names[len(names)-1], "segment": "(none) → new"}[c.Kind]; !strings.Contains(c.Text, want) {
			t.Errorf("%s change shown as %q, want %q", c.Kind, c.Text, want)
		}
	}

	if path := os.Getenv("LTV_DASHBOARD_SCREENSHOT"); path != "" && screenshot {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", path)
	}
}

// defaultEdges are the histogram's bands for the default tiers.
var defaultEdges = []string{"0", "500", "1000", "2500", "5000", "10000", "20000", "40000"}

func checkCounts(t *testing.T, what string, shown map[string]string, want map[string]int) {
	t.Helper()
	for name, n := range want {
		if shown[name] != thousands(n) {
			t.Errorf("%s %s: shown %q, Redis holds %d", what, name, shown[name], n)
		}
	}
	for name, s := range shown {
		if _, ok := want[name]; !ok && s != "0" {
			t.Errorf("%s %s shown with %s customers, Redis holds none", what, name, s)
		}
	}
}

// thousands renders n as the page does (en-US grouping).
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
