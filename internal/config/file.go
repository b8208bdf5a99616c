// The YAML file named by LTV_CONFIG: the model, tier, segment and
// predictive settings (SPEC §7), read strictly and checked as a whole.

package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/clv"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// File is the YAML file's content (LTV_CONFIG).
type File struct {
	// The model settings of SPEC §4, §5 and §7; nil or absent keeps the
	// default given on each line.
	BaseCurrency       CurrencyCode   `yaml:"base_currency"`        // absent or null means SEK (Model fills it in)
	DefaultGrossMargin *Dec           `yaml:"default_gross_margin"` // margin of orders without gross_margin; 1.0
	LifespanYears      *Dec           `yaml:"lifespan_years"`       // 3
	MinWindowYears     *Dec           `yaml:"min_window_years"`     // 1
	Hysteresis         *Dec           `yaml:"hysteresis"`           // demotion band as a fraction; 0.05
	Tiers              TierList       `yaml:"tiers"`                // bronze 0, silver 1000, gold 5000, platinum 20000; given but empty is an error
	FXRates            map[string]Dec `yaml:"fx_rates"`             // currency code → rate (> 0) into the base currency; none by default
	DedupeWindow       WholeNumber    `yaml:"dedupe_window"`        // event ids remembered per customer; 0 means 32, less than 32 is an error
	// MaxFutureSkew is how far occurred_at may lie after the wall clock
	// before a record is refused (SPEC §2); absent means the default 24h,
	// 0 turns the check off.
	MaxFutureSkew *Duration `yaml:"max_future_skew"`
	// AtRiskAfterDays and LapsedAfterDays are the segment thresholds of
	// SPEC §8 (defaults 90 and 180; 0 < at risk < lapsed).
	AtRiskAfterDays *Dec `yaml:"at_risk_after_days"`
	LapsedAfterDays *Dec `yaml:"lapsed_after_days"` // see AtRiskAfterDays
	// Predictive turns on the predictive model of SPEC §9 (absent: off).
	Predictive *Predictive `yaml:"predictive"`

	fx map[string]decimal.Decimal
}

// Predictive is the `predictive:` block of the YAML (SPEC §9), as `ltvctl
// fit` prints it. Every parameter is required: they come from a fit, never
// from a default.
type Predictive struct {
	Model    string `yaml:"model"`     // bgnbd or mbgnbd
	TimeUnit string `yaml:"time_unit"` // day or week
	// Purchases holds the BG/NBD or MBG/NBD parameters (clv.Purchases);
	// all four required.
	Purchases *struct {
		R     *Float `yaml:"r"`
		Alpha *Float `yaml:"alpha"`
		A     *Float `yaml:"a"`
		B     *Float `yaml:"b"`
	} `yaml:"purchases"`
	// Spend holds the Gamma-Gamma parameters (clv.Spend); all three required.
	Spend *struct {
		P *Float `yaml:"p"`
		Q *Float `yaml:"q"`
		V *Float `yaml:"v"`
	} `yaml:"spend"`
	HorizonMonths       *WholeNumber `yaml:"horizon_months"`        // months of predicted_clv; required
	DiscountRateMonthly *Float       `yaml:"discount_rate_monthly"` // d in SPEC §9's (1 + d)^i; required
	RescoreEveryDays    *Float       `yaml:"rescore_every_days"`    // periodic re-scoring, 0 to 3650 days; absent or 0: off
}

// model validates the block and builds the predictive model. Every
// parameter is required; a missing or bad one is named.
func (p *Predictive) model() (*aggregate.Predictive, error) {
	kind, err := clv.ParseKind(p.Model)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	unit, err := clv.ParseTimeUnit(p.TimeUnit)
	if err != nil {
		return nil, fmt.Errorf("time_unit: %w", err)
	}
	need := func(name string, v *Float) (float64, error) {
		if v == nil {
			return 0, fmt.Errorf("%s is missing (run ltvctl fit; parameters are never guessed)", name)
		}
		return float64(*v), nil
	}
	if p.Purchases == nil || p.Spend == nil {
		return nil, errors.New("purchases and spend are required (run ltvctl fit to get them)")
	}
	var cfg clv.Config
	cfg.TimeUnit = unit
	cfg.Purchases.Kind = kind
	for _, f := range []struct {
		name string
		src  *Float
		dst  *float64
	}{
		{"purchases.r", p.Purchases.R, &cfg.Purchases.R}, {"purchases.alpha", p.Purchases.Alpha, &cfg.Purchases.Alpha},
		{"purchases.a", p.Purchases.A, &cfg.Purchases.A}, {"purchases.b", p.Purchases.B, &cfg.Purchases.B},
		{"spend.p", p.Spend.P, &cfg.Spend.P}, {"spend.q", p.Spend.Q, &cfg.Spend.Q}, {"spend.v", p.Spend.V, &cfg.Spend.V},
		{"discount_rate_monthly", p.DiscountRateMonthly, &cfg.DiscountRateMonthly},
	} {
		if *f.dst, err = need(f.name, f.src); err != nil {
			return nil, err
		}
	}
	if p.HorizonMonths == nil {
		return nil, errors.New("horizon_months is missing")
	}
	cfg.HorizonMonths = int(*p.HorizonMonths)
	model, err := clv.NewModel(cfg)
	if err != nil {
		return nil, err
	}
	rescore := 0.0
	if p.RescoreEveryDays != nil {
		rescore = float64(*p.RescoreEveryDays)
	}
	if !(rescore >= 0) || rescore > 3650 {
		return nil, fmt.Errorf("rescore_every_days = %v: must be 0 (off) to 3650", rescore)
	}
	if rescore > 0 && time.Duration(rescore*float64(aggregate.Day)) < time.Second {
		// It would round to 0, which means off.
		return nil, fmt.Errorf("rescore_every_days = %v: shorter than a second; 0 turns rescoring off", rescore)
	}
	return &aggregate.Predictive{
		Predictor:    clvPredictor{m: model, failures: new(atomic.Int64)},
		TimeUnit:     time.Duration(unit.Days() * float64(aggregate.Day)),
		RescoreEvery: time.Duration(rescore * float64(aggregate.Day)),
	}, nil
}

// clvPredictor adapts the model package to the domain's Predictor.
type clvPredictor struct {
	m *clv.Model
	// failures counts the scorings the model could not compute (see
	// Predict); shared by the copies of the adapter.
	failures *atomic.Int64
}

// Failures is how many scorings failed so far: the service exports it as
// ltv_prediction_failures_total, so zeros given for want of a number
// are seen, not silent.
func (c clvPredictor) Failures() int64 { return c.failures.Load() }

// Model is the configured model: ltvctl fit repeats its horizon and
// discount rate in the block it prints, so pasting a refit over the old
// block keeps the operator's choices.
func (c clvPredictor) Model() *clv.Model { return c.m }

// Predict implements aggregate.Predictor. The state only passes valid
// histories; a refund-heavy customer's negative mean spend counts as 0.
// A scoring the numerics cannot compute (parameters far outside what a
// fit on real data gives) is a zero prediction, counted in Failures.
func (c clvPredictor) Predict(x, tx, T, m, marginRate float64) aggregate.Prediction {
	s, err := c.m.Score(x, tx, T, max(m, 0), marginRate)
	if err != nil {
		c.failures.Add(1)
		return aggregate.Prediction{}
	}
	return aggregate.Prediction{PAlive: s.PAlive, ExpectedOrders: s.ExpectedOrders, ExpectedSpend: s.ExpectedSpend, CLV: s.PredictedCLV}
}

// Duration is a duration read from YAML as Go writes it ("24h", "90m");
// a bare 0 is zero.
type Duration struct{ time.Duration }

// UnmarshalYAML parses the scalar with time.ParseDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return badValue(n, "expected a duration such as 24h")
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil || v < 0 {
		return badValue(n, "%q is not a duration of 0 or more (e.g. 24h, 90m)", n.Value)
	}
	d.Duration = v
	return nil
}

// CurrencyCode is base_currency in the YAML. Absent or null (a key with no
// value) means the default; an empty string is an error, not the default
// silently. The code itself is checked as the event decoder checks it.
type CurrencyCode string

// UnmarshalYAML accepts a non-empty string. yaml.v3 does not call it for
// a null value.
func (c *CurrencyCode) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err // a *yaml.TypeError: listed with the file's others
	}
	if s == "" {
		return badValue(n, "empty: leave the key out (or give it no value) for the default SEK")
	}
	*c = CurrencyCode(s)
	return nil
}

// Dec is a decimal read from YAML by its text, so 0.1 stays exactly 0.1.
type Dec struct{ decimal.Decimal }

// UnmarshalYAML parses the scalar's text exactly.
func (d *Dec) UnmarshalYAML(n *yaml.Node) error {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return badValue(n, "expected a number")
	}
	text := strings.TrimSpace(n.Value)
	v, err := decimal.NewFromString(text)
	if err != nil {
		if exponentForm.MatchString(text) { // a number, with an exponent too large to read
			return badValue(n, "%s is out of range (below 10^18, at most %d decimal places)", shortText(n.Value), maxSettingPlaces)
		}
		return badValue(n, "%q is not a decimal number", n.Value)
	}
	if !v.Abs().LessThan(maxSetting) || !v.Equal(v.Round(maxSettingPlaces)) {
		return badValue(n, "%s is out of range (below 10^18, at most %d decimal places)", shortText(n.Value), maxSettingPlaces)
	}
	d.Decimal = v
	return nil
}

// The range of a decimal setting. No margin, rate, threshold or number of
// days or years needs more, and a value such as 1e9000 would otherwise be
// taken as it is and carried into every customer's figures.
var maxSetting = decimal.New(1, 18)

const maxSettingPlaces = 20

// exponentForm is a decimal number with an exponent, such as 1e99999.
var exponentForm = regexp.MustCompile(`^` + digitsText + `[eE][+-]?[0-9]+$`)

// digitsText is a signed decimal number without exponent, as text.
const digitsText = `[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)`

// shortText quotes a value for an error message, cut to a readable length.
func shortText(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}

// Float is a parameter of the predictive model in the YAML: a finite
// number, read from its text whether quoted or not, as the decimal
// settings are ("0.243" and 0.243 are the same value; a block copied
// through a tool that quotes numbers still loads).
type Float float64

// UnmarshalYAML accepts a YAML number, or a quoted decimal number with or
// without an exponent.
func (f *Float) UnmarshalYAML(n *yaml.Node) error {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return badValue(n, "expected a number")
	}
	if tag := n.ShortTag(); tag == "!!float" || tag == "!!int" {
		// YAML's own numbers, .inf and .nan included: the model's checks
		// name those by their values.
		var v float64
		if err := n.Decode(&v); err != nil {
			return badValue(n, "want a number, got %s", shortText(n.Value))
		}
		*f = Float(v)
		return nil
	}
	text := strings.TrimSpace(n.Value)
	if !decimalForm.MatchString(text) {
		return badValue(n, "want a number, got %s", shortText(n.Value))
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(v, 0) {
		return badValue(n, "%s is out of range", shortText(n.Value))
	}
	*f = Float(v)
	return nil
}

// decimalForm is a quoted number as people and ltvctl fit write it:
// digits with an optional sign, point and exponent (not Go's hexadecimal,
// underscored or "Inf" forms).
var decimalForm = regexp.MustCompile(`^` + digitsText + `([eE][+-]?[0-9]+)?$`)

// WholeNumber is a count in the YAML: an integer, never a number with a
// fraction (which yaml.v3 would otherwise cut to an integer silently).
type WholeNumber int

// UnmarshalYAML accepts only an integer.
func (w *WholeNumber) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" && allDigits(n.Value) {
		// yaml.v3 resolves an integer too large for int64 as a float: it is
		// a whole number, only far beyond any usable count.
		return badValue(n, "%q is too large for a whole number setting", n.Value)
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return badValue(n, "%q is not a whole number", n.Value)
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return badValue(n, "%q is not a whole number of a usable size", n.Value)
	}
	*w = WholeNumber(v)
	return nil
}

// allDigits reports whether s is an optionally signed run of decimal
// digits (underscores, which YAML 1.1 allows between them, included).
func allDigits(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// resolve follows an alias (*name) to the node it stands for, as the
// file's decoder does before it calls an UnmarshalYAML; nodes walked by
// hand (the tiers) need it done here.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// TierList accepts tiers as a list of {name, min} objects (`threshold`
// is read as another name for `min`), as a mapping from name to
// threshold, or as a list of one-entry mappings name: threshold (the
// mapping written as a list, `- silver: 1000`); in every shape they are
// sorted by threshold.
type TierList []aggregate.Tier

// UnmarshalYAML implements the accepted shapes.
func (t *TierList) UnmarshalYAML(n *yaml.Node) error {
	var out []aggregate.Tier
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: a tier is {name, min} or name: min", item.Line)
			}
			if isNamedThreshold(item) {
				tier, err := tierOf(item.Content[0], item.Content[1])
				if err != nil {
					return err
				}
				out = append(out, tier)
				continue
			}
			// Decoded by hand: a node's Decode does not refuse unknown
			// keys, as the file's decoder does, nor (here) a key given
			// twice.
			var name string
			var min *Dec
			seen := map[string]bool{}
			for i := 0; i+1 < len(item.Content); i += 2 {
				key, value := resolve(item.Content[i]), item.Content[i+1]
				if seen[key.Value] {
					return fmt.Errorf("line %d: tier key %q given twice", key.Line, key.Value)
				}
				seen[key.Value] = true
				switch key.Value {
				case "name":
					if err := value.Decode(&name); err != nil {
						return err
					}
				case "min", "threshold":
					// SPEC §5 calls the value a threshold; both names are read.
					if min != nil {
						return fmt.Errorf("line %d: tier %q has more than one min/threshold", key.Line, name)
					}
					min = new(Dec)
					if err := min.UnmarshalYAML(value); err != nil {
						return err
					}
				default:
					return fmt.Errorf("line %d: unknown key %q in a tier (a tier is {name, min}; threshold is another name for min)", key.Line, key.Value)
				}
			}
			if min == nil {
				return fmt.Errorf("line %d: tier %q has no min", item.Line, name)
			}
			out = append(out, aggregate.Tier{Name: name, Min: min.Decimal})
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			tier, err := tierOf(n.Content[i], n.Content[i+1])
			if err != nil {
				return err
			}
			out = append(out, tier)
		}
	default:
		return fmt.Errorf("line %d: tiers must be a list of {name, min} or a mapping name: threshold", n.Line)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Min.LessThan(out[j].Min) })
	if out == nil {
		out = []aggregate.Tier{} // given but empty: an error, not the defaults
	}
	*t = out
	return nil
}

// isNamedThreshold reports whether a list item is written name: threshold
// (one entry whose key is not one of {name, min}'s); any other item is
// read as {name, min}.
func isNamedThreshold(item *yaml.Node) bool {
	if len(item.Content) != 2 {
		return false
	}
	switch resolve(item.Content[0]).Value {
	case "name", "min", "threshold":
		return false
	}
	return true
}

// tierOf reads one name: threshold entry.
func tierOf(key, value *yaml.Node) (aggregate.Tier, error) {
	var d Dec
	if err := d.UnmarshalYAML(value); err != nil {
		return aggregate.Tier{}, err
	}
	// Read as the list's name is: a null key (~) is no name, not a tier
	// called "~".
	var name string
	if err := resolve(key).Decode(&name); err != nil {
		return aggregate.Tier{}, err
	}
	return aggregate.Tier{Name: name, Min: d.Decimal}, nil
}

// LoadModelFile reads the YAML file (none: the SPEC defaults) and returns
// the validated model. Unknown keys are errors, so a typo never silently
// falls back to a default.
func LoadModelFile(path string) (*aggregate.Model, *File, error) {
	f := &File{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config file: %w", err)
		}
		if err := ParseFile(data, f); err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	m, err := f.Model()
	if err != nil {
		if path != "" {
			return nil, nil, fmt.Errorf("config file %s: %w", path, err)
		}
		return nil, nil, err
	}
	return m, f, nil
}

// ParseFile decodes YAML into f strictly.
func ParseFile(data []byte, f *File) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nameKeys(data, err)
	}
	// A second document would be ignored: say so instead.
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document (a line of ---): put every setting in one")
	}
	return nil
}

// Model builds the validated model and fills BaseCurrency's default.
func (f *File) Model() (*aggregate.Model, error) {
	m := aggregate.DefaultModel()
	if f.BaseCurrency == "" {
		f.BaseCurrency = CurrencyCode(decode.DefaultBaseCurrency)
	}
	if f.DefaultGrossMargin != nil {
		m.DefaultMargin = f.DefaultGrossMargin.Decimal
	}
	if f.LifespanYears != nil {
		m.LifespanYears = f.LifespanYears.Decimal
	}
	if f.MinWindowYears != nil {
		m.MinWindowYears = f.MinWindowYears.Decimal
	}
	if f.Hysteresis != nil {
		m.Hysteresis = f.Hysteresis.Decimal
	}
	if f.Tiers != nil {
		if len(f.Tiers) == 0 {
			return nil, errors.New("tiers: at least one tier is required")
		}
		m.Tiers = f.Tiers
	}
	for _, d := range []struct {
		name string
		v    *Dec
		dst  *time.Duration
	}{
		{"at_risk_after_days", f.AtRiskAfterDays, &m.AtRiskAfter},
		{"lapsed_after_days", f.LapsedAfterDays, &m.LapsedAfter},
	} {
		if d.v == nil {
			continue
		}
		ns := d.v.Mul(decimal.NewFromInt(int64(aggregate.Day)))
		if d.v.Sign() <= 0 || !ns.IsInteger() || ns.GreaterThan(decimal.NewFromInt(100*365*int64(aggregate.Day))) {
			return nil, fmt.Errorf("%s must be a positive number of days (at most 36500 days, to the nanosecond), got %s", d.name, d.v)
		}
		*d.dst = time.Duration(ns.IntPart())
	}
	if f.Predictive != nil {
		pred, err := f.Predictive.model()
		if err != nil {
			return nil, fmt.Errorf("predictive: %w", err)
		}
		m.Predictive = pred
	}
	if f.DedupeWindow != 0 {
		if f.DedupeWindow < aggregate.DefaultDedupeWindow {
			return nil, fmt.Errorf("dedupe_window must be at least %d (SPEC §6), got %d", aggregate.DefaultDedupeWindow, f.DedupeWindow)
		}
		m.DedupeWindow = int(f.DedupeWindow)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	f.fx = map[string]decimal.Decimal{}
	for cur, rate := range f.FXRates {
		if rate.Sign() <= 0 {
			return nil, fmt.Errorf("fx_rates: rate of %s must be > 0", cur)
		}
		f.fx[cur] = rate.Decimal
	}
	return m, nil
}
