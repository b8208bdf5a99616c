// Package report turns customers' public fields (SPEC §3) into the cohort
// and population figures of SPEC §11: tier and segment counts, an LTV
// histogram, per cohort (month of first order × channel) shares, sums,
// means and the subscription formula, and LTV:CAC per channel. It is pure:
// callers read Redis and feed customers to an Accumulator one by one.
//
// The figures and their formulas are documented in docs/cohorts.md.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ltv-stream/ltv-stream/internal/money"
	"github.com/shopspring/decimal"
)

// Stats is the result of a report: the object of GET /v1/stats and of
// `ltvctl report --format json` (the JSON tags are the contract). A Stats
// handed out by a Provider is shared between callers: treat it as
// read-only.
type Stats struct {
	// GeneratedAt is the wall-clock time the figures were computed, in
	// whole seconds, UTC.
	GeneratedAt time.Time `json:"generated_at"`
	// AsOf ends every customer's observed months (customer-months, ARPU
	// and churn rates depend on it): the report's --as-of, or the start of
	// an API computation, exactly, UTC. Without it a caller could not tell
	// which moment the figures describe, nor recompute one.
	AsOf time.Time `json:"as_of"`
	// Population is the number of customers the figures describe: hashes
	// ltv:{<id>} with at least one public field (SPEC §3) whose fields
	// could be read. When Sampled it is estimated: the keys listed × the
	// share of the sampled keys that are such customers. Keys that are
	// not are counted in Skipped, so they neither inflate the population
	// nor scale a sample up.
	Population int64 `json:"population"`
	// Sampled is true when the figures come from a uniform sample because
	// the population was larger than the configured limit.
	Sampled bool `json:"sampled"`
	// SampleSize is the number of customers aggregated.
	SampleSize int64 `json:"sample_size"`
	// SampleError states the sampling error in one sentence when Sampled.
	SampleError *string `json:"sample_error"`
	// Tiers counts customers per stored tier; every configured tier is
	// present, and NoTier ("") when some customers have no tier (below a
	// ladder that starts above 0), so the counts add up to the population.
	// Scaled to the population when sampled.
	Tiers map[string]int64 `json:"tiers"`
	// TierOrder names the tiers in ladder order, lowest first (NoTier,
	// when counted, before the ladder), then any other stored tier names
	// in name order: a JSON object's keys carry no order, and a page or
	// table shows the ladder in its own.
	TierOrder []string `json:"tier_order"`
	// Segments counts customers per lifecycle segment (SPEC §8); the five
	// segment names are always present, and NoSegment ("") when there are
	// customers without one. Scaled when sampled.
	Segments map[string]int64 `json:"segments"`
	// LTVHistogram counts customers per band of the stored ltv; the last
	// band is open (To is nil). Scaled when sampled.
	LTVHistogram []Bucket `json:"ltv_histogram"`
	// Cohorts are sorted by cohort month, then channel.
	Cohorts []Cohort `json:"cohorts"`
	// Channels are sorted by name.
	Channels []Channel `json:"channels"`
	// MeanLTV is the mean historical LTV over every customer of the
	// cohorts, to the cent from the exact sum: the dashboard's key figure.
	// A mean of the channels' rounded means, weighted by their customers,
	// can be a cent off. Null when there is no cohort.
	MeanLTV *Money `json:"mean_ltv"`
	// Currency is the base currency of every amount above (revenue,
	// gross profit, means, histogram edges, CAC): the stored fields carry
	// none, and a page showing the figures should say it.
	Currency string `json:"currency"`

	// RefreshError, set only by the read API's provider, says that the
	// latest refresh of these figures failed and why: they are the last
	// good ones, as old as GeneratedAt says, served until they are older
	// than the provider's MaxStale. Absent when the figures are current.
	RefreshError *string `json:"refresh_error,omitempty"`
	// Skipped counts the keys ltv:{…} read but left out of the figures,
	// by reason (those of the sample when Sampled, not scaled): an
	// operator must learn that something other than the updater wrote
	// under ltv:, or that a customer's fields are broken, and the figures
	// alone cannot say it.
	Skipped Skipped `json:"skipped"`

	// SegmentNames are the segments in lifecycle order (NoSegment first
	// when listed), then any others.
	SegmentNames []string `json:"-"`
}

// Skipped counts the keys a computation left out, by reason.
type Skipped struct {
	// NotHash counts keys ltv:{<id>} of another Redis type (WRONGTYPE):
	// another program wrote them.
	NotHash int64 `json:"not_hash"`
	// NoPublicFields counts hashes without any public field: only private
	// "_" bookkeeping, which the updater never leaves alone (a hand edit
	// or another program), or a hash deleted while the read ran.
	NoPublicFields int64 `json:"no_public_fields"`
	// Unreadable counts customers with a public field that cannot be
	// parsed (a value the updater never writes).
	Unreadable int64 `json:"unreadable"`
	// First says why the first key was left out; "" when none was.
	First string `json:"first"`
}

// Total is the number of keys left out.
func (s Skipped) Total() int64 { return s.NotHash + s.NoPublicFields + s.Unreadable }

// Bucket is one band of the LTV histogram: From ≤ ltv < To.
type Bucket struct {
	From      Money  `json:"from"`      // lower edge, inclusive; decimal string, 2 places
	To        *Money `json:"to"`        // upper edge, exclusive; null for the open last band
	Customers int64  `json:"customers"` // scaled to the population when sampled
}

// Cohort holds the figures of the customers whose first order fell in one
// month (UTC) and who came through one channel.
type Cohort struct {
	// Cohort is the month of first_order_at, "YYYY-MM".
	Cohort string `json:"cohort"`
	// Channel is the acquisition channel, "" when the customer's first
	// order had none.
	Channel   string `json:"channel"`
	Customers int64  `json:"customers"` // scaled to the population when sampled
	// ShareNew and ShareActive are the shares of the cohort whose segment
	// is still new or active.
	ShareNew    float64 `json:"share_new"`
	ShareActive float64 `json:"share_active"` // see ShareNew; 4 significant digits
	Revenue     Money   `json:"revenue"`      // Σ revenue (SPEC §3), scaled when sampled
	GrossProfit Money   `json:"gross_profit"` // Σ gross_profit, scaled when sampled
	// MeanLTV is the mean historical LTV (docs/cohorts.md).
	MeanLTV Money `json:"mean_ltv"`
	// MeanPredictedCLV is the mean predicted_clv of the customers that have
	// one; nil when none has (predictive model off).
	MeanPredictedCLV *Money `json:"mean_predicted_clv"`
	// RepeatRate is the share of customers with two orders or more.
	RepeatRate float64 `json:"repeat_rate"`
	// ARPUMonth is revenue per customer-month; nil without customer-months.
	ARPUMonth *Money `json:"arpu_month"`
	// MonthlyChurnRate is churned customers per customer-month; nil
	// without customer-months.
	MonthlyChurnRate *float64 `json:"monthly_churn_rate"`
	// SubscriptionLTV is ARPU per month × margin / monthly churn rate; nil
	// while no customer of the cohort has churned.
	SubscriptionLTV *Money `json:"subscription_ltv"`

	// Churned and CustomerMonths are the inputs of the churn rate (sample
	// values, not scaled), for tables and checks.
	Churned        int64   `json:"-"`
	CustomerMonths float64 `json:"-"` // observed months summed over customers, months of MonthSeconds
}

// Channel holds the figures of one acquisition channel over all cohorts.
type Channel struct {
	Channel   string `json:"channel"`   // acquisition channel; "" for customers whose first order had none
	Customers int64  `json:"customers"` // over all its cohorts, scaled when sampled
	// MeanLTV is the mean historical LTV of the channel's customers.
	MeanLTV Money `json:"mean_ltv"`
	// CAC is the configured acquisition cost per new customer; nil when
	// none was given.
	CAC *Money `json:"cac"`
	// LTVCAC is MeanLTV / CAC; nil without a CAC.
	LTVCAC *float64 `json:"ltv_cac"`
}

// Money is an exact amount in base currency. It marshals to a JSON string
// with two decimals ("1234.50"), as the Redis fields are written.
type Money struct{ d decimal.Decimal }

// Decimal returns the exact amount.
func (m Money) Decimal() decimal.Decimal { return m.d }

// String renders the amount with two decimals.
func (m Money) String() string { return money.StringFixed(m.d, 2) }

// MarshalJSON renders the amount as a string with two decimals.
func (m Money) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 24)
	b = append(b, '"')
	b = money.AppendFixed(b, m.d, 2)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a decimal string (for clients of the read API).
func (m *Money) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("money: %w", err)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("money %q: %w", s, err)
	}
	m.d = d
	return nil
}

// sig4 rounds a share or a rate to 4 significant digits, enough for a
// report and short in JSON.
func sig4(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return r
}
