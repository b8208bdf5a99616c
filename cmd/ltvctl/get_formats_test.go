package main

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/api"
	"github.com/ltv-stream/ltv-stream/internal/config"
	"github.com/ltv-stream/ltv-stream/internal/spectest"
	"github.com/ltv-stream/ltv-stream/internal/store"
	"github.com/ltv-stream/ltv-stream/internal/testutil"
)

// publicFormats are the formats SPEC §3 and §9 give the public fields
// (times are checked apart: RFC 3339 UTC).
var publicFormats = map[string]*regexp.Regexp{
	"orders":          regexp.MustCompile(`^(0|[1-9][0-9]*)$`),
	"revenue":         regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`),
	"gross_profit":    regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`),
	"refunds":         regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
	"aov":             regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`),
	"frequency":       regexp.MustCompile(`^[0-9]+\.[0-9]{4}$`),
	"tenure_days":     regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
	"churned":         regexp.MustCompile(`^[01]$`),
	"ltv":             regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
	"tier":            regexp.MustCompile(`^(bronze|silver|gold|platinum)$`),
	"channel":         regexp.MustCompile(`.`),
	"segment":         regexp.MustCompile(`^(new|active|at_risk|lapsed|churned)$`),
	"p_alive":         regexp.MustCompile(`^(0\.[0-9]{4}|1\.0000)$`),
	"expected_orders": regexp.MustCompile(`^[0-9]+\.[0-9]{4}$`),
	"expected_spend":  regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
	"predicted_clv":   regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`),
}

var publicTimes = []string{"first_order_at", "last_order_at", "updated_at", "segment_since", "scored_at"}

// TestPublicFieldsReachReadersInTheirFormats: customers written by the
// consumer's own pipeline with the predictive model on reach the read
// API's batchGet and ltvctl get with SPEC §3's names and formats (and
// §9's fields for every customer with orders), times RFC 3339 UTC, and no
// private field.
func TestPublicFieldsReachReadersInTheirFormats(t *testing.T) {
	cfgPath := testutil.WriteFile(t, "ltv.yaml", spectest.Predictive)
	model, _, err := config.LoadModelFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := seedRedis(t, model, 300, 4000)
	ctx := testutil.Context(t, time.Minute)
	var ids []string
	iter := srv.Client().Scan(ctx, 0, "ltv:{*}", 1000).Iterator()
	for iter.Next(ctx) {
		if k := iter.Val(); strings.HasSuffix(k, "}") && !strings.HasPrefix(k, "ltv:{p") {
			ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(k, "ltv:{"), "}"))
		}
	}
	if len(ids) < 200 || len(ids) > api.MaxBatch {
		t.Fatalf("%d customers", len(ids))
	}
	s, err := api.New(api.Config{Redis: srv.StoreClient()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	body, _ := json.Marshal(map[string]any{"ids": ids})
	code, _, doc := testutil.CallJSON(t, "POST", hs.URL+"/v1/customers:batchGet", "application/json", string(body), nil)
	if code != 200 || len(doc["missing"].([]any)) != 0 {
		t.Fatalf("batchGet: %d, missing %v", code, doc["missing"])
	}
	public := store.PublicFieldNames()
	check := func(who, id string, c map[string]any) {
		t.Helper()
		for name, v := range c {
			s, ok := v.(string)
			if !ok || !slices.Contains(public, name) {
				t.Fatalf("%s %s: field %q = %v is not a public field's string", who, id, name, v)
			}
			if re := publicFormats[name]; re != nil && !re.MatchString(s) {
				t.Errorf("%s %s: %s %q does not match %s", who, id, name, s, re)
			}
			if slices.Contains(publicTimes, name) {
				if at, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") || at.Location() != time.UTC {
					t.Errorf("%s %s: %s %q is not RFC 3339 UTC", who, id, name, s)
				}
			}
		}
		if c["orders"] != "0" {
			for _, name := range []string{"p_alive", "expected_orders", "expected_spend", "predicted_clv", "scored_at", "first_order_at", "ltv", "tier", "segment"} {
				if _, ok := c[name]; !ok {
					t.Errorf("%s %s: no %s: %v", who, id, name, c)
				}
			}
		}
	}
	for id, c := range doc["customers"].(map[string]any) {
		check("batchGet", id, c.(map[string]any))
	}
	code, out, errOut := ltvctl(t, map[string]string{"LTV_REDIS_URL": srv.URL(), "LTV_CONFIG": cfgPath}, append([]string{"get"}, ids[:50]...)...)
	if code != 0 {
		t.Fatalf("get: exit %d: %s", code, errOut)
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var c map[string]any
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("get %s: %v in %q", ids[i], err, line)
		}
		check("get", ids[i], c)
	}
}
