package report

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/aggregate"
	"github.com/ltv-stream/ltv-stream/internal/decode"
	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

// The public fields a report reads (SPEC §3 and §9). Readers fetch only
// these (Fields), so a report needs no access to private bookkeeping.
const (
	fieldOrders       = "orders"
	fieldRevenue      = "revenue"
	fieldGrossProfit  = "gross_profit"
	fieldFirstOrderAt = "first_order_at"
	fieldLastOrderAt  = "last_order_at"
	fieldChurned      = "churned"
	fieldLTV          = "ltv"
	fieldTier         = "tier"
	fieldChannel      = "channel"
	fieldSegment      = "segment"
	fieldSegmentSince = "segment_since"
	fieldPredictedCLV = "predicted_clv"
)

// Fields lists the public fields an Accumulator reads; a reader need fetch
// no others. Callers must not modify it.
var Fields = []string{fieldOrders, fieldRevenue, fieldGrossProfit, fieldFirstOrderAt, fieldLastOrderAt,
	fieldChurned, fieldLTV, fieldTier, fieldChannel, fieldSegment, fieldSegmentSince, fieldPredictedCLV}

// NoTier is the key of Stats.Tiers counting the customers without a tier:
// those below the lowest threshold of a ladder that starts above 0 (SPEC
// §5 stores them with tier "") and any hash without the field. A
// configured tier name is never empty, so it names no tier.
const NoTier = ""

// NoSegment is the key of Stats.Segments counting the customers without a
// segment: without orders and not churned (SPEC §8: the field is absent),
// for example a customer whose only events are refunds or a reactivation.
const NoSegment = ""

// MonthSeconds is the length of a month in customer-months: a year of
// 365.25 days over 12, 30.4375 days (as SPEC §9 counts months).
const MonthSeconds = 2629800

// monthNanos is MonthSeconds in nanoseconds.
var monthNanos = decimal.New(MonthSeconds, 9)

// Config configures an Accumulator.
type Config struct {
	// AsOf ends every customer's observed months (customer-months run
	// from first_order_at to AsOf, or to the churn). Required.
	AsOf time.Time
	// Tiers is the tier ladder: every tier is listed, with zero customers
	// too, and it gives the default histogram edges. Default
	// aggregate.DefaultTiers().
	Tiers []aggregate.Tier
	// Edges are the lower edges of the LTV histogram's bands, ascending,
	// the first 0 (ltv is never below 0); the last band is open. Default
	// DefaultEdges(Tiers).
	Edges []decimal.Decimal
	// CAC is the acquisition cost per new customer, by channel (in base
	// currency, > 0); channels without one get no LTV:CAC.
	CAC map[string]decimal.Decimal
	// Currency is the base currency every amount is in (the consumer's
	// base_currency, SPEC §7): a reader of the figures cannot tell it from
	// the stored fields, which carry none. Default SEK, as there.
	Currency string
}

// DefaultEdges returns histogram edges around a tier ladder: 0, then for
// every positive threshold T both T/2 and T, then twice the highest
// threshold. For the default ladder (0, 1000, 5000, 20000): 0, 500, 1000,
// 2500, 5000, 10000, 20000, 40000.
func DefaultEdges(tiers []aggregate.Tier) []decimal.Decimal {
	two := decimal.NewFromInt(2)
	edges := []decimal.Decimal{decimal.Zero}
	for _, t := range tiers {
		if t.Min.Sign() <= 0 {
			continue
		}
		for _, e := range []decimal.Decimal{t.Min.Div(two), t.Min} {
			if e.GreaterThan(edges[len(edges)-1]) {
				edges = append(edges, e)
			}
		}
	}
	if last := edges[len(edges)-1]; last.Sign() > 0 {
		edges = append(edges, last.Mul(two))
	}
	return edges
}

func (c *Config) setDefaults() {
	if len(c.Tiers) == 0 {
		c.Tiers = aggregate.DefaultTiers()
	}
	if len(c.Edges) == 0 {
		c.Edges = DefaultEdges(c.Tiers)
	}
	if c.Currency == "" {
		c.Currency = decode.DefaultBaseCurrency
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.AsOf.IsZero() {
		return errors.New("report: no as-of time")
	}
	if len(c.Edges) == 0 || c.Edges[0].Sign() != 0 {
		return errors.New("report: the histogram edges must start at 0")
	}
	for i := 1; i < len(c.Edges); i++ {
		if !c.Edges[i].GreaterThan(c.Edges[i-1]) {
			return fmt.Errorf("report: histogram edge %s is not above %s", c.Edges[i], c.Edges[i-1])
		}
	}
	for ch, cac := range c.CAC {
		if cac.Sign() <= 0 {
			return fmt.Errorf("report: acquisition cost of channel %q is %s; it must be above 0", ch, cac)
		}
	}
	return nil
}

// cohortKey is a cohort: months since year 0 of the first order, and the
// channel.
type cohortKey struct {
	month   int
	channel string
}

// cohortSums are a cohort's running sums. Counts and money are exact.
type cohortSums struct {
	customers, isNew, isActive, repeat, churned int64
	revenue, grossProfit, histLTV               decimal.Decimal
	predicted                                   decimal.Decimal
	withPredicted                               int64
	// exposure is the observed time summed over the customers, exactly:
	// whole customer-seconds, and nanoseconds below one second (the
	// timestamps and the as-of time carry fractions of a second, and a
	// cohort's nanoseconds overflow an int64 after 292 years).
	exposureSec, exposureNs int64
}

// addExposure adds one customer's observed time.
func (s *cohortSums) addExposure(d time.Duration) {
	s.exposureSec += int64(d / time.Second)
	s.exposureNs += int64(d % time.Second)
	if s.exposureNs >= int64(time.Second) {
		s.exposureSec++
		s.exposureNs -= int64(time.Second)
	}
}

// customerMonths is the exposure in months of MonthSeconds.
func (s *cohortSums) customerMonths() float64 {
	return (float64(s.exposureSec) + float64(s.exposureNs)/1e9) / MonthSeconds
}

// Accumulator sums customers into the report's figures. Its memory grows
// with the number of cohorts, tiers and segments, not with the customers
// added. It is not safe for concurrent use.
type Accumulator struct {
	cfg      Config
	cohorts  map[cohortKey]*cohortSums
	tiers    map[string]int64
	segments map[string]int64
	hist     []int64
	n        int64
	skipped  Skipped
}

// NewAccumulator returns an empty accumulator; see Config for defaults.
func NewAccumulator(cfg Config) (*Accumulator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Accumulator{
		cfg:      cfg,
		cohorts:  map[cohortKey]*cohortSums{},
		tiers:    map[string]int64{},
		segments: map[string]int64{},
		hist:     make([]int64, len(cfg.Edges)),
	}, nil
}

// customer is one customer's fields, parsed.
type customer struct {
	orders                    int64
	revenue, grossProfit, ltv decimal.Decimal
	predicted                 decimal.Decimal
	hasPredicted, hasFirst    bool
	churned                   bool
	first, last, segmentSince time.Time
	tier, channel, segment    string
}

// Add counts one customer, given its public fields as read from its hash
// (absent fields absent). A field that cannot be parsed leaves the
// customer out (counted in Stats.Skipped) and is returned as an error
// naming the customer and the field.
func (a *Accumulator) Add(id string, fields map[string]string) error {
	c, err := parseCustomer(fields)
	if err != nil {
		err = fmt.Errorf("customer %q: %w", id, err)
		a.Skip(SkipUnreadable, err)
		return err
	}
	a.n++
	// A customer below a ladder that starts above 0 has tier "" (SPEC §5:
	// the first assignment is from ""); counted under "", the tier counts
	// add up to the population.
	a.tiers[c.tier]++
	// A customer without orders and not churned has no segment (SPEC §8);
	// counted under "", the segment counts add up to the population.
	a.segments[c.segment]++
	if _, ok := fields[fieldLTV]; ok {
		a.hist[a.band(c.ltv)]++
	}
	if !c.hasFirst {
		return nil // no order yet: no cohort
	}
	y, m, _ := c.first.Date()
	key := cohortKey{month: y*12 + int(m) - 1, channel: c.channel}
	s := a.cohorts[key]
	if s == nil {
		s = &cohortSums{}
		a.cohorts[key] = s
	}
	s.customers++
	switch c.segment {
	case aggregate.SegmentNew:
		s.isNew++
	case aggregate.SegmentActive:
		s.isActive++
	}
	if c.orders >= 2 {
		s.repeat++
	}
	s.revenue = s.revenue.Add(c.revenue)
	s.grossProfit = s.grossProfit.Add(c.grossProfit)
	s.histLTV = s.histLTV.Add(historicalLTV(c))
	if c.hasPredicted {
		s.predicted = s.predicted.Add(c.predicted)
		s.withPredicted++
	}
	exposure, churnedByAsOf := a.observed(c)
	if churnedByAsOf {
		s.churned++
	}
	s.addExposure(exposure)
	return nil
}

// SkipReason is why a key was left out of the figures (Stats.Skipped).
type SkipReason int

// The reasons, one per count of Skipped.
const (
	SkipUnreadable     SkipReason = iota // a public field cannot be parsed
	SkipNotHash                          // the key is of another Redis type
	SkipNoPublicFields                   // a hash without public fields
)

// Skip counts a key left out, as Add does a customer with a field that
// cannot be parsed: in Stats.Skipped under reason, with why if it is the
// first. Readers call it for the keys they find are not customers (of
// another type, or a hash without public fields), so that those are in
// neither the figures nor the population.
func (a *Accumulator) Skip(reason SkipReason, why error) {
	if a.skipped.Total() == 0 {
		a.skipped.First = why.Error()
	}
	switch reason {
	case SkipNotHash:
		a.skipped.NotHash++
	case SkipNoPublicFields:
		a.skipped.NoPublicFields++
	default:
		a.skipped.Unreadable++
	}
}

// historicalLTV is the history part of a customer's LTV: the stored ltv
// (the SPEC §4 model) while the predictive model is off; with it on, ltv is
// gross_profit + predicted_clv, and the history part is gross_profit
// (never below 0, as ltv).
func historicalLTV(c *customer) decimal.Decimal {
	if !c.hasPredicted {
		return c.ltv
	}
	if c.grossProfit.Sign() < 0 {
		return decimal.Zero
	}
	return c.grossProfit
}

// observed is the customer's observed time, exactly, from its first
// order to the as-of time or to its churn, never below 0, and whether it
// churned by the as-of time. The churn time is the segment_since of its
// churned segment, or its last order when that is missing or earlier. A
// customer that churned after the as-of time was still a customer then:
// its months run to the as-of time and its churn is not counted, or the
// churn rate (churns per customer-month) would count churns outside the
// months it divides by.
func (a *Accumulator) observed(c *customer) (observed time.Duration, churnedByAsOf bool) {
	end := a.cfg.AsOf
	if c.churned {
		// A churn is later than every order (SPEC §4). The churned
		// segment can date from an earlier churn that a later order made
		// obsolete, when the lifecycle topic was read ahead of the orders
		// and a second churn kept the segment: the churn then lies after
		// the last order, which is the best bound the public fields give.
		churnAt := c.last
		if c.segment == aggregate.SegmentChurned && c.segmentSince.After(churnAt) {
			churnAt = c.segmentSince
		}
		switch {
		case churnAt.IsZero(): // no time to place the churn at: observed to the as-of time
			churnedByAsOf = true
		case !churnAt.After(a.cfg.AsOf):
			end, churnedByAsOf = churnAt, true
		}
	}
	if !end.After(c.first) {
		return 0, churnedByAsOf
	}
	return end.Sub(c.first), churnedByAsOf
}

// band is the index of the histogram band holding ltv.
func (a *Accumulator) band(ltv decimal.Decimal) int {
	i := sort.Search(len(a.cfg.Edges), func(i int) bool { return money.Cmp(a.cfg.Edges[i], ltv) > 0 })
	return max(i-1, 0)
}

func parseCustomer(f map[string]string) (*customer, error) {
	c := &customer{tier: f[fieldTier], channel: f[fieldChannel], segment: f[fieldSegment]}
	var err error
	if v, ok := f[fieldOrders]; ok {
		if c.orders, err = strconv.ParseInt(v, 10, 64); err != nil || c.orders < 0 {
			return nil, fmt.Errorf("orders %q is not a count", v)
		}
	}
	for _, d := range []struct {
		name string
		dst  *decimal.Decimal
		has  *bool
	}{
		{fieldRevenue, &c.revenue, nil},
		{fieldGrossProfit, &c.grossProfit, nil},
		{fieldLTV, &c.ltv, nil},
		{fieldPredictedCLV, &c.predicted, &c.hasPredicted},
	} {
		v, ok := f[d.name]
		if !ok {
			continue
		}
		if *d.dst, err = decimal.NewFromString(v); err != nil {
			return nil, fmt.Errorf("%s %q is not a decimal", d.name, v)
		}
		if d.has != nil {
			*d.has = true
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{
		{fieldFirstOrderAt, &c.first},
		{fieldLastOrderAt, &c.last},
		{fieldSegmentSince, &c.segmentSince},
	} {
		v, ok := f[t.name]
		if !ok || v == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("%s %q is not RFC 3339", t.name, v)
		}
		*t.dst = t.dst.UTC()
	}
	c.hasFirst = !c.first.IsZero()
	switch v := f[fieldChurned]; v {
	case "", "0":
	case "1":
		c.churned = true
	default:
		return nil, fmt.Errorf("churned %q is not 0 or 1", v)
	}
	return c, nil
}

// Meta is what the reader knows beyond the customers it added.
type Meta struct {
	// GeneratedAt is the wall-clock time of the computation.
	GeneratedAt time.Time
	// Population is the number of customers the added ones stand for
	// (raised to the number added when lower): the reader's estimate when
	// Sampled, else the number added.
	Population int64
	// Sampled says the customers added are a uniform sample of the
	// population: counts and sums are then scaled up to it.
	Sampled bool
}

// Stats returns the figures of the customers added so far. It does not
// change the accumulator.
func (a *Accumulator) Stats(meta Meta) *Stats {
	st := &Stats{
		GeneratedAt: meta.GeneratedAt.UTC().Truncate(time.Second),
		Population:  max(meta.Population, a.n),
		SampleSize:  a.n,
		AsOf:        a.cfg.AsOf.UTC(),
		Currency:    a.cfg.Currency,
		Skipped:     a.skipped,
		Tiers:       map[string]int64{},
		Segments:    map[string]int64{},
		Cohorts:     []Cohort{},
		Channels:    []Channel{},
	}
	sc := scaler{}
	if meta.Sampled && a.n > 0 && st.Population > a.n {
		st.Sampled = true
		sc = scaler{on: true, num: decimal.NewFromInt(st.Population), den: decimal.NewFromInt(a.n)}
		msg := SampleError(a.n, st.Population)
		st.SampleError = &msg
	}

	if a.tiers[NoTier] > 0 {
		st.TierOrder = append(st.TierOrder, NoTier) // below the ladder
	}
	for _, t := range a.cfg.Tiers {
		st.TierOrder = append(st.TierOrder, t.Name)
	}
	st.TierOrder = appendOthers(st.TierOrder, a.tiers)
	for _, name := range st.TierOrder {
		st.Tiers[name] = sc.count(a.tiers[name])
	}
	if a.segments[NoSegment] > 0 {
		st.SegmentNames = append(st.SegmentNames, NoSegment) // before the first order
	}
	st.SegmentNames = append(st.SegmentNames, aggregate.SegmentNew, aggregate.SegmentActive, aggregate.SegmentAtRisk,
		aggregate.SegmentLapsed, aggregate.SegmentChurned)
	st.SegmentNames = appendOthers(st.SegmentNames, a.segments)
	for _, name := range st.SegmentNames {
		st.Segments[name] = sc.count(a.segments[name])
	}
	st.LTVHistogram = make([]Bucket, len(a.cfg.Edges))
	for i, e := range a.cfg.Edges {
		b := Bucket{From: Money{e}, Customers: sc.count(a.hist[i])}
		if i+1 < len(a.cfg.Edges) {
			b.To = &Money{a.cfg.Edges[i+1]}
		}
		st.LTVHistogram[i] = b
	}

	keys := make([]cohortKey, 0, len(a.cohorts))
	for k := range a.cohorts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y cohortKey) int {
		if x.month != y.month {
			return x.month - y.month
		}
		return cmp.Compare(x.channel, y.channel)
	})
	type channelSums struct {
		customers int64
		histLTV   decimal.Decimal
	}
	channels := map[string]*channelSums{}
	var all channelSums // every cohort's customers
	for _, k := range keys {
		s := a.cohorts[k]
		st.Cohorts = append(st.Cohorts, s.cohort(k, sc))
		ch := channels[k.channel]
		if ch == nil {
			ch = &channelSums{}
			channels[k.channel] = ch
		}
		ch.customers += s.customers
		ch.histLTV = ch.histLTV.Add(s.histLTV)
		all.customers += s.customers
		all.histLTV = all.histLTV.Add(s.histLTV)
	}
	if all.customers > 0 {
		m := mean(all.histLTV, all.customers)
		st.MeanLTV = &m
	}
	names := make([]string, 0, len(channels))
	for name := range channels {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ch := channels[name]
		row := Channel{Channel: name, Customers: sc.count(ch.customers), MeanLTV: mean(ch.histLTV, ch.customers)}
		if cac, ok := a.cfg.CAC[name]; ok {
			row.CAC = &Money{cac}
			ratio, _ := row.MeanLTV.d.Div(cac).Float64()
			ratio = sig4(ratio)
			row.LTVCAC = &ratio
		}
		st.Channels = append(st.Channels, row)
	}
	return st
}

// cohort renders one cohort's sums as its figures.
func (s *cohortSums) cohort(k cohortKey, sc scaler) Cohort {
	n := float64(s.customers)
	c := Cohort{
		Cohort:         fmt.Sprintf("%04d-%02d", k.month/12, k.month%12+1),
		Channel:        k.channel,
		Customers:      sc.count(s.customers),
		ShareNew:       sig4(float64(s.isNew) / n),
		ShareActive:    sig4(float64(s.isActive) / n),
		Revenue:        sc.money(s.revenue),
		GrossProfit:    sc.money(s.grossProfit),
		MeanLTV:        mean(s.histLTV, s.customers),
		RepeatRate:     sig4(float64(s.repeat) / n),
		Churned:        s.churned,
		CustomerMonths: s.customerMonths(),
	}
	if s.withPredicted > 0 {
		m := mean(s.predicted, s.withPredicted)
		c.MeanPredictedCLV = &m
	}
	if s.exposureSec > 0 || s.exposureNs > 0 {
		// revenue / (exposure / month), both in nanoseconds, exactly.
		exposure := decimal.New(s.exposureSec, 9).Add(decimal.NewFromInt(s.exposureNs))
		arpu := Money{money.MulDivRound(s.revenue, monthNanos, exposure, 2)}
		c.ARPUMonth = &arpu
		rate := sig4(float64(s.churned) / c.CustomerMonths)
		c.MonthlyChurnRate = &rate
		if s.churned > 0 {
			// ARPU × margin / churn rate = (revenue / months) × (gross
			// profit / revenue) / (churned / months) = gross profit per
			// churned customer, computed exactly; the margin is 0 when
			// revenue is not positive (SPEC §4), and an LTV is never below 0.
			ltv := decimal.Zero
			if s.revenue.Sign() > 0 && s.grossProfit.Sign() > 0 {
				ltv = money.DivRound(s.grossProfit, decimal.NewFromInt(s.churned), 2)
			}
			c.SubscriptionLTV = &Money{ltv}
		}
	}
	return c
}

// mean is sum / n to the cent (0 for n = 0).
func mean(sum decimal.Decimal, n int64) Money {
	if n == 0 {
		return Money{decimal.Zero}
	}
	return Money{money.DivRound(sum, decimal.NewFromInt(n), 2)}
}

// scaler scales a sample's counts and sums up to the population.
type scaler struct {
	on       bool
	num, den decimal.Decimal
}

func (s scaler) count(n int64) int64 {
	if !s.on {
		return n
	}
	return money.MulDivRound(decimal.NewFromInt(n), s.num, s.den, 0).IntPart()
}

func (s scaler) money(d decimal.Decimal) Money {
	if !s.on {
		return Money{d}
	}
	return Money{money.MulDivRound(d, s.num, s.den, 2)}
}

// appendOthers appends the names counted but not yet listed, in order.
func appendOthers(names []string, counted map[string]int64) []string {
	var extra []string
	for name := range counted {
		if !slices.Contains(names, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return append(names, extra...)
}

// SampleError is the sample_error sentence for a uniform sample of n of
// population customers: the 95 % margin of error of a share estimated
// from the whole sample, at its widest (a share of 50 %), with the finite
// population correction: 1.96 × √(0.25 / n) × √((N − n) / (N − 1)).
func SampleError(n, population int64) string {
	moe := 0.0
	if n > 0 && population > 1 {
		moe = 1.96 * math.Sqrt(0.25/float64(n)) * math.Sqrt(float64(population-n)/float64(population-1))
	}
	return fmt.Sprintf("uniform sample of %d of %d customers; shares ±%.2f pp, 95%% (a cohort's figures rest on its own sampled customers and vary more); counts and sums scaled ×%.4g",
		n, population, 100*moe, float64(population)/float64(max(n, 1)))
}
