package clv

import (
	"errors"
	"math"
	"testing"
)

// Score's single walk over the months must agree with the definition of
// SPEC §9 computed from the public single-horizon functions.
func TestScoreMatchesDefinition(t *testing.T) {
	for _, kind := range []Kind{BGNBD, MBGNBD} {
		cfg := specConfig(kind)
		m, err := NewModel(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range [][4]float64{{0, 0, 0, 0}, {0, 0, 20, 0}, {1, 0.1, 0.1, 35}, {3, 20, 30, 12}, {40, 100, 101, 80}, {2, 5, 150, 20}} {
			x, tx, T, mon := c[0], c[1], c[2], c[3]
			got, err := m.Score(x, tx, T, mon, 0.4)
			if err != nil {
				t.Fatal(err)
			}
			pa, _ := cfg.Purchases.PAlive(x, tx, T)
			spend, _ := cfg.Spend.ExpectedSpend(x, mon)
			var clv, prev float64
			for i := 1; i <= cfg.HorizonMonths; i++ {
				e, err := cfg.Purchases.ExpectedPurchases(float64(i)*MonthDays/7, x, tx, T)
				if err != nil {
					t.Fatal(err)
				}
				clv += 0.4 * spend * (e - prev) / math.Pow(1+cfg.DiscountRateMonthly, float64(i))
				prev = e
			}
			want := Score{PAlive: pa, ExpectedOrders: prev, ExpectedSpend: spend, PredictedCLV: clv}
			if !within(got.PAlive, want.PAlive, 1e-13) || !within(got.ExpectedOrders, want.ExpectedOrders, 1e-11) ||
				!within(got.ExpectedSpend, want.ExpectedSpend, 1e-13) || !within(got.PredictedCLV, want.PredictedCLV, 1e-11) {
				t.Errorf("%v Score(%v) = %+v, definition %+v", kind, c, got, want)
			}
		}
	}
}

// The same customer in days (α·7, t_x·7, T·7) scores the same as in weeks.
func TestScoreTimeUnits(t *testing.T) {
	week := specConfig(BGNBD)
	day := week
	day.TimeUnit = Day
	day.Purchases.Alpha *= 7
	mw, _ := NewModel(week)
	md, _ := NewModel(day)
	for _, c := range [][3]float64{{0, 0, 3}, {2, 4, 9}, {7, 30, 31}} {
		sw, err1 := mw.Score(c[0], c[1], c[2], 25, 1)
		sd, err2 := md.Score(c[0], c[1]*7, c[2]*7, 25, 1)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !within(sw.PAlive, sd.PAlive, 1e-12) || !within(sw.ExpectedOrders, sd.ExpectedOrders, 1e-10) || !within(sw.PredictedCLV, sd.PredictedCLV, 1e-10) {
			t.Errorf("%v: weeks %+v, days %+v", c, sw, sd)
		}
	}
}

func TestScoreDiscountAndMargin(t *testing.T) {
	cfg := specConfig(BGNBD)
	cfg.DiscountRateMonthly = 0
	m, _ := NewModel(cfg)
	s, err := m.Score(4, 10, 20, 30, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	// Without discounting the sum telescopes to margin·spend·E[orders].
	if want := 0.25 * s.ExpectedSpend * s.ExpectedOrders; !within(s.PredictedCLV, want, 1e-12) {
		t.Errorf("undiscounted CLV = %v, want %v", s.PredictedCLV, want)
	}
	cfg.DiscountRateMonthly = 0.05
	md, _ := NewModel(cfg)
	sd, _ := md.Score(4, 10, 20, 30, 0.25)
	if !(sd.PredictedCLV < s.PredictedCLV && sd.PredictedCLV > s.PredictedCLV/math.Pow(1.05, 12)) {
		t.Errorf("discounted CLV %v should lie in (%v/1.05^12, %v)", sd.PredictedCLV, s.PredictedCLV, s.PredictedCLV)
	}
	if neg, _ := m.Score(4, 10, 20, 30, -0.1); neg.PredictedCLV >= 0 {
		t.Errorf("a negative margin gives CLV %v; the caller decides what to do with it", neg.PredictedCLV)
	}
}

// While nothing happens the forecast only decays: SPEC §8 finds the day a
// tier would fall by bisection on that.
func TestScoreDecaysWhileNothingHappens(t *testing.T) {
	for _, kind := range []Kind{BGNBD, MBGNBD} {
		m, _ := NewModel(specConfig(kind))
		for _, c := range [][2]float64{{0, 0}, {1, 0.5}, {6, 20}} {
			prev := math.Inf(1)
			for T := c[1]; T < 400; T += 0.75 {
				s, err := m.Score(c[0], c[1], T, 30, 1)
				if err != nil {
					t.Fatal(err)
				}
				if s.PredictedCLV > prev*(1+1e-12) {
					t.Errorf("%v x = %v, t_x = %v: CLV rose from %v to %v at T = %v", kind, c[0], c[1], prev, s.PredictedCLV, T)
					break
				}
				prev = s.PredictedCLV
			}
		}
	}
}

// The cached forecast of a brand-new customer equals the computed one.
func TestScoreNewcomerCache(t *testing.T) {
	for _, kind := range []Kind{BGNBD, MBGNBD} {
		m, _ := NewModel(specConfig(kind))
		cached, err := m.Score(0, 0, 0, 0, 0.3)
		if err != nil {
			t.Fatal(err)
		}
		h := m.cfg.Purchases.history(0, 0, 0)
		pa, orders, disc, err := m.forecast(&h, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := Score{PAlive: pa, ExpectedOrders: orders, ExpectedSpend: m.popSpend, PredictedCLV: 0.3 * m.popSpend * disc}
		if cached != want {
			t.Errorf("%v: cached %+v, computed %+v", kind, cached, want)
		}
		// and it is the limit of a customer first seen an instant ago
		s, _ := m.Score(0, 0, 1e-12, 0, 0.3)
		if !within(s.PredictedCLV, cached.PredictedCLV, 1e-9) {
			t.Errorf("%v: T = 1e-12 gives %v, T = 0 %v", kind, s.PredictedCLV, cached.PredictedCLV)
		}
	}
}

func TestScoreQuadratureFallback(t *testing.T) {
	// r ≫ a + b makes the series alternate: the model must switch to the
	// quadrature and still agree with the definition.
	cfg := Config{Purchases: Purchases{Kind: BGNBD, R: 100, Alpha: 4, A: 0.5, B: 0.3}, Spend: publishedSpend,
		TimeUnit: Week, HorizonMonths: 12, DiscountRateMonthly: 0}
	m, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	T := 2.0
	months := make([]float64, cfg.HorizonMonths)
	for i := range months {
		months[i] = float64(i+1) * MonthDays / 7 / (cfg.Purchases.Alpha + T)
	}
	if _, ok := curveAt(cfg.Purchases, 0, months); ok {
		t.Fatal("the fast route accepted this customer; the test would not reach the quadrature")
	}
	s, err := m.Score(0, 0, T, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Purchases.history(0, 0, T)
	want := refI(h.A, cfg.Purchases.A, h.Bp, months[len(months)-1])
	if !within(s.ExpectedOrders, want, 1e-9) {
		t.Errorf("expected orders %v, reference %v", s.ExpectedOrders, want)
	}
	if !within(s.PredictedCLV, s.ExpectedSpend*s.ExpectedOrders, 1e-12) {
		t.Errorf("undiscounted CLV %v, want spend × orders = %v", s.PredictedCLV, s.ExpectedSpend*s.ExpectedOrders)
	}
}

func TestNewModelValidation(t *testing.T) {
	good := specConfig(BGNBD)
	for _, c := range []struct {
		name    string
		edit    func(*Config)
		want    error
		mention string
	}{
		{"bad r", func(c *Config) { c.Purchases.R = -1 }, ErrInvalidParameter, "r = -1"},
		{"q = 1", func(c *Config) { c.Spend.Q = 1 }, ErrInvalidParameter, "q = 1"},
		{"no unit", func(c *Config) { c.TimeUnit = 0 }, ErrInvalidParameter, "time unit"},
		{"no horizon", func(c *Config) { c.HorizonMonths = 0 }, ErrInvalidParameter, "horizon_months = 0"},
		{"long horizon", func(c *Config) { c.HorizonMonths = MaxHorizonMonths + 1 }, ErrInvalidParameter, "horizon_months = 1201"},
		{"negative discount", func(c *Config) { c.DiscountRateMonthly = -0.01 }, ErrInvalidParameter, "discount_rate_monthly = -0.01"},
		{"NaN discount", func(c *Config) { c.DiscountRateMonthly = math.NaN() }, ErrInvalidParameter, "discount_rate_monthly = NaN"},
	} {
		cfg := good
		c.edit(&cfg)
		if _, err := NewModel(cfg); !errors.Is(err, c.want) || !containsStr(err.Error(), c.mention) {
			t.Errorf("%s: %v, want %v naming %q", c.name, err, c.want, c.mention)
		}
	}
	m, err := NewModel(good)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config() != good {
		t.Errorf("Config() = %+v, want %+v", m.Config(), good)
	}
	for _, c := range []struct {
		x, tx, T, mon, margin float64
		mention               string
	}{
		{-1, 0, 1, 0, 1, "x = -1"},
		{1, 2, 1, 0, 1, "T = 1"},
		{1, 0, 1, math.NaN(), 1, "monetary = NaN"},
		{1, 0, 1, 3, math.Inf(-1), "margin rate = -Inf"},
	} {
		if _, err := m.Score(c.x, c.tx, c.T, c.mon, c.margin); !errors.Is(err, ErrInvalidCustomer) || !containsStr(err.Error(), c.mention) {
			t.Errorf("Score(%v): %v, want ErrInvalidCustomer naming %q", c, err, c.mention)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, k := range []Kind{BGNBD, MBGNBD} {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	for _, u := range []TimeUnit{Day, Week} {
		if got, err := ParseTimeUnit(u.String()); err != nil || got != u {
			t.Errorf("ParseTimeUnit(%q) = %v, %v", u.String(), got, err)
		}
	}
	if _, err := ParseKind("pareto"); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("ParseKind(pareto): %v", err)
	}
	if _, err := ParseTimeUnit("month"); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("ParseTimeUnit(month): %v", err)
	}
	if Week.Days() != 7 || Day.Days() != 1 || MonthDays != 30.4375 {
		t.Errorf("units: week %v, day %v, month %v", Week.Days(), Day.Days(), MonthDays)
	}
}
