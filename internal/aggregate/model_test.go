package aggregate_test

import (
	"strings"
	"testing"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
)

func TestDefaultModel(t *testing.T) {
	m := aggregate.DefaultModel()
	for _, f := range []struct{ name, got, want string }{
		{"lifespan_years", m.LifespanYears.String(), "3"},
		{"min_window_years", m.MinWindowYears.String(), "1"},
		{"default_gross_margin", m.DefaultMargin.String(), "1"},
		{"hysteresis", m.Hysteresis.String(), "0.05"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %s, want %s", f.name, f.got, f.want)
		}
	}
	if m.DedupeWindow != 32 || aggregate.DefaultDedupeWindow != 32 {
		t.Errorf("dedupe window = %d (const %d), want 32", m.DedupeWindow, aggregate.DefaultDedupeWindow)
	}
	wantTiers := []struct{ name, min string }{{"bronze", "0"}, {"silver", "1000"}, {"gold", "5000"}, {"platinum", "20000"}}
	if len(m.Tiers) != len(wantTiers) {
		t.Fatalf("%d tiers, want %d", len(m.Tiers), len(wantTiers))
	}
	for i, w := range wantTiers {
		if m.Tiers[i].Name != w.name || !m.Tiers[i].Min.Equal(dd(w.min)) {
			t.Errorf("tier %d = %s@%s, want %s@%s", i, m.Tiers[i].Name, m.Tiers[i].Min, w.name, w.min)
		}
	}
	if err := m.Validate(); err != nil {
		t.Errorf("default model does not validate: %v", err)
	}
	// every call returns an independent model
	m.Tiers[0].Name = "changed"
	m.Hysteresis = dd("0.5")
	if n := aggregate.DefaultModel(); n.Tiers[0].Name != "bronze" || !n.Hysteresis.Equal(dd("0.05")) {
		t.Errorf("DefaultModel shares state between calls")
	}
	if aggregate.DefaultTiers()[0].Name != "bronze" {
		t.Errorf("DefaultTiers shares its slice")
	}
}

func TestModelValidate(t *testing.T) {
	tiers := func(pairs ...string) []aggregate.Tier {
		var ts []aggregate.Tier
		for i := 0; i < len(pairs); i += 2 {
			ts = append(ts, aggregate.Tier{Name: pairs[i], Min: dd(pairs[i+1])})
		}
		return ts
	}
	rows := []struct {
		name    string
		edit    func(m *aggregate.Model)
		wantErr string // "" = valid; otherwise a word the message must contain
	}{
		{"defaults", func(m *aggregate.Model) {}, ""},
		{"lifespan 0", func(m *aggregate.Model) { m.LifespanYears = dd("0") }, "lifespan"},
		{"lifespan negative", func(m *aggregate.Model) { m.LifespanYears = dd("-1") }, "lifespan"},
		{"lifespan 0.1", func(m *aggregate.Model) { m.LifespanYears = dd("0.1") }, ""},
		{"min_window 0", func(m *aggregate.Model) { m.MinWindowYears = dd("0") }, "min_window"},
		{"min_window negative", func(m *aggregate.Model) { m.MinWindowYears = dd("-0.5") }, "min_window"},
		{"min_window 0.5", func(m *aggregate.Model) { m.MinWindowYears = dd("0.5") }, ""},
		{"margin negative", func(m *aggregate.Model) { m.DefaultMargin = dd("-0.01") }, "margin"},
		{"margin above 1", func(m *aggregate.Model) { m.DefaultMargin = dd("1.01") }, "margin"},
		{"margin 1.0000001", func(m *aggregate.Model) { m.DefaultMargin = dd("1.0000001") }, "margin"},
		{"margin 0", func(m *aggregate.Model) { m.DefaultMargin = dd("0") }, ""},
		{"margin 1", func(m *aggregate.Model) { m.DefaultMargin = dd("1") }, ""},
		{"hysteresis negative", func(m *aggregate.Model) { m.Hysteresis = dd("-0.01") }, "hysteresis"},
		{"hysteresis 1", func(m *aggregate.Model) { m.Hysteresis = dd("1") }, "hysteresis"},
		{"hysteresis 1.5", func(m *aggregate.Model) { m.Hysteresis = dd("1.5") }, "hysteresis"},
		{"hysteresis 0", func(m *aggregate.Model) { m.Hysteresis = dd("0") }, ""},
		{"hysteresis 0.99", func(m *aggregate.Model) { m.Hysteresis = dd("0.99") }, ""},
		{"duplicate tier names", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "10", "a", "20") }, "twice"},
		{"equal thresholds", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "10", "c", "10") }, "ascending"},
		{"descending thresholds", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "20", "c", "10") }, "ascending"},
		{"negative threshold", func(m *aggregate.Model) { m.Tiers = tiers("a", "-1", "b", "10") }, "negative"},
		{"empty tier name", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "", "10") }, "empty"},
		{"ladder starting above 0", func(m *aggregate.Model) { m.Tiers = tiers("silver", "1000", "gold", "5000") }, ""},
		{"single tier", func(m *aggregate.Model) { m.Tiers = tiers("all", "0") }, ""},
		{"no tiers", func(m *aggregate.Model) { m.Tiers = nil }, "tier"},
		{"fractional thresholds", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "0.01", "c", "0.02") }, ""},
		// The ladder is applied to the stored ltv (2 places): a tier whose
		// threshold and the next one's lie within one cent can never be held.
		{"two thresholds within a cent", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "10.001", "c", "10.009") }, `"b" can never be held`},
		{"two thresholds within the cent above 0", func(m *aggregate.Model) { m.Tiers = tiers("a", "0.001", "b", "0.01") }, `"a" can never be held`},
		{"thresholds with more places, a cent apart", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "10.001", "c", "10.011") }, ""},
		{"a threshold on a cent, the next just above it", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "b", "10", "c", "10.001") }, ""},
		{"blank tier name", func(m *aggregate.Model) { m.Tiers = tiers("a", "0", "  ", "10") }, "empty"},
		{"dedupe window 0", func(m *aggregate.Model) { m.DedupeWindow = 0 }, "dedupe"},
		{"dedupe window negative", func(m *aggregate.Model) { m.DedupeWindow = -1 }, "dedupe"},
		{"dedupe window 1025", func(m *aggregate.Model) { m.DedupeWindow = 1025 }, "dedupe"},
		// SPEC §6: duplicates are caught within "at least its last 32
		// distinct event ids", so a smaller window breaks the contract.
		{"dedupe window 31 (below the SPEC §6 minimum)", func(m *aggregate.Model) { m.DedupeWindow = 31 }, "dedupe"},
		{"dedupe window 1 (below the SPEC §6 minimum)", func(m *aggregate.Model) { m.DedupeWindow = 1 }, "dedupe"},
		{"dedupe window 32", func(m *aggregate.Model) { m.DedupeWindow = 32 }, ""},
		{"dedupe window 1024", func(m *aggregate.Model) { m.DedupeWindow = 1024 }, ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			m := aggregate.DefaultModel()
			r.edit(m)
			err := m.Validate()
			switch {
			case r.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case r.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error mentioning %q", r.wantErr)
			case r.wantErr != "" && !strings.Contains(err.Error(), r.wantErr):
				t.Fatalf("error %q does not mention %q", err, r.wantErr)
			}
		})
	}
}

// TestValidateRecomputes: the precomputed constants follow the fields
// after a second Validate.
func TestValidateRecomputes(t *testing.T) {
	m := aggregate.DefaultModel()
	if got := m.NextTier("silver", d("960")); got != "silver" {
		t.Fatalf("default hysteresis: %q", got)
	}
	m.Hysteresis = dd("0")
	m.LifespanYears = dd("1")
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := m.NextTier("silver", d("960")); got != "bronze" {
		t.Errorf("after Validate with hysteresis 0: %q, want bronze", got)
	}
	s := aggregate.State{Orders: 1, Revenue: d("100"), GrossProfit: d("100"),
		FirstOrderAt: at("2026-01-01T00:00:00Z"), LastOrderAt: at("2026-01-01T00:00:00Z")}
	if got := m.Figures(&s).LTV.StringFixed(2); got != "100.00" {
		t.Errorf("after Validate with lifespan 1: ltv %s, want 100.00", got)
	}
}

func TestKind(t *testing.T) {
	rows := []struct {
		k      aggregate.Kind
		wire   string
		schema string
		order  bool
	}{
		{aggregate.OrderPlaced, "order_placed", "ltv.order.v1", true},
		{aggregate.OrderRefunded, "order_refunded", "ltv.order.v1", true},
		{aggregate.CustomerChurned, "customer_churned", "ltv.lifecycle.v1", false},
		{aggregate.CustomerReactivated, "customer_reactivated", "ltv.lifecycle.v1", false},
	}
	for _, r := range rows {
		if r.k.String() != r.wire || r.k.Schema() != r.schema || r.k.IsOrder() != r.order {
			t.Errorf("kind %d: %q %q %v", r.k, r.k.String(), r.k.Schema(), r.k.IsOrder())
		}
		if k, ok := aggregate.ParseKind(r.wire); !ok || k != r.k {
			t.Errorf("ParseKind(%q) = %d, %v", r.wire, k, ok)
		}
	}
	for _, bad := range []string{"", "Order_Placed", "order_placed ", "order", "customer_deleted"} {
		if k, ok := aggregate.ParseKind(bad); ok || k != aggregate.KindUnknown {
			t.Errorf("ParseKind(%q) = %d, %v; want unknown", bad, k, ok)
		}
	}
	for _, k := range []aggregate.Kind{aggregate.KindUnknown, 200} {
		if k.String() != "" || k.Schema() != "" || k.IsOrder() {
			t.Errorf("kind %d: %q %q %v", k, k.String(), k.Schema(), k.IsOrder())
		}
	}
	if aggregate.SchemaChange != "ltv.change.v1" {
		t.Errorf("SchemaChange = %q", aggregate.SchemaChange)
	}
}

func TestOutcome(t *testing.T) {
	rows := []struct {
		o     aggregate.Outcome
		name  string
		dirty bool
	}{
		{aggregate.Applied, "applied", true},
		{aggregate.DuplicateEvent, "duplicate", true},
		{aggregate.Redelivered, "redelivered", false},
		{0, "unknown", true},
	}
	for _, r := range rows {
		if r.o.String() != r.name {
			t.Errorf("Outcome(%d).String() = %q, want %q", r.o, r.o.String(), r.name)
		}
		if got := (aggregate.Result{Outcome: r.o}).Dirty(); got != r.dirty {
			t.Errorf("Result{%s}.Dirty() = %v, want %v", r.name, got, r.dirty)
		}
	}
}

// TestStateClone: the clone shares no slices with the original.
func TestStateClone(t *testing.T) {
	c := newCustomer(t, nil)
	c.applyAll(placed("e1", "10", "2026-01-01T00:00:00Z"), placed("e2", "10", "2026-01-01T00:00:00Z"))
	cl := c.s.Clone()
	c.applyAll(placed("e3", "10", "2026-01-01T00:00:00Z"))
	c.s.Seen[0] = 0
	c.s.Applied[0].Offset = 999
	if len(cl.Seen) != 2 || cl.Seen[0] != aggregate.EventDigest("e1") {
		t.Errorf("clone Seen changed: %v", cl.Seen)
	}
	if len(cl.Applied) != 1 || cl.Applied[0].Offset != 2 {
		t.Errorf("clone Applied changed: %+v", cl.Applied)
	}
	if cl.Orders != 2 {
		t.Errorf("clone orders %d", cl.Orders)
	}
}
