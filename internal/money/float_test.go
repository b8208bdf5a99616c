package money

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
)

func TestFloat64(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "0.1", "123.45", "-0.0001", "9007199254740993", "1e22", "1e23", "1e-22", "1e-23",
		"0.30000000000000004", "12345678901234567890.5", "5e-324", "-299.385"} {
		checkFloat64(t, decimal.RequireFromString(s))
	}
}

// Coefficients past 2^53 are not exact floats: converting one to float64
// rounds once, and dividing by the power of ten rounds again, which can
// miss the nearest float by one step. These values (17 and 18 digits,
// found by comparing that double rounding with strconv.ParseFloat) are
// ones where it does, so only the slow path gives the nearest float.
func TestFloat64OfCoefficientsBeyond53Bits(t *testing.T) {
	for _, s := range []string{
		"37388428788665.1933", "3794109458428726.2", "60272308949069.067",
		"3136934655136920.08", "30700141567469.1483", "488500829628454.672",
		"-3794109458428726.2", "-488500829628454.672",
	} {
		t.Run(s, func(t *testing.T) {
			d := decimal.RequireFromString(s)
			if d.Coefficient().BitLen() <= 53 {
				t.Fatalf("%s: coefficient fits 53 bits, not the case under test", s)
			}
			want, err := strconv.ParseFloat(s, 64) // correctly rounded, independent of money
			if err != nil {
				t.Fatal(err)
			}
			if got := FromDecimal(d).Float64(); got != want {
				t.Fatalf("Float64(%s) = %v, nearest float %v", s, got, want)
			}
			checkFloat64(t, d)
		})
	}
}

func checkFloat64(t *testing.T, d decimal.Decimal) {
	t.Helper()
	want, _ := d.Float64()
	if got := FromDecimal(d).Float64(); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
		t.Fatalf("Float64(%s) = %v, shopspring %v", d, got, want)
	}
}

func TestRoundFloat(t *testing.T) {
	for _, v := range []float64{0.5, 1.005, 2.675, 0.125, -0.125, 0.00005, 0.00004999, 1e-30, 123456789.125, 9.999999999,
		0.99995, 1e15, 1e17, 1.7976931348623157e308, -2.5e-7, 5e-324, 299.38499999999999, 0.0001} {
		for places := int32(0); places <= 6; places++ {
			checkRoundFloat(t, v, places)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		v := math.Float64frombits(rng.Uint64())
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		switch i % 3 {
		case 0: // money-like magnitudes
			v = math.Mod(v, 1e6)
		case 1: // probabilities
			v = rng.Float64()
		}
		checkRoundFloat(t, v, int32(rng.IntN(8)))
	}
}

func checkRoundFloat(t *testing.T, v float64, places int32) {
	t.Helper()
	want := decimal.NewFromFloat(v).Round(places)
	got := RoundFloat(v, places).Decimal()
	if got.String() != want.String() || got.Exponent() != want.Exponent() && !want.IsZero() {
		t.Fatalf("RoundFloat(%v, %d) = %s (exp %d), shopspring %s (exp %d)", v, places, got, got.Exponent(), want, want.Exponent())
	}
}

func FuzzRoundFloatAgreesWithShopspring(f *testing.F) {
	f.Add(2.675, int8(2))
	f.Add(-0.125, int8(2))
	f.Fuzz(func(t *testing.T, v float64, places int8) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		checkRoundFloat(t, v, int32(places)%10)
		checkFloat64(t, decimal.NewFromFloat(v))
	})
}

func BenchmarkRoundFloat(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = RoundFloat(1234.56789, 2)
	}
}

func BenchmarkRoundFloatShopspring(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = decimal.NewFromFloat(1234.56789).Round(2)
	}
}
