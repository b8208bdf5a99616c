package money

import (
	"math"
	"testing"

	"github.com/shopspring/decimal"
)

// exactExamples cover the fast path, both ends of an int64 coefficient,
// and values that only fit the wide form.
var exactExamples = []string{
	"0", "-0", "1", "-1", "0.005", "-0.005", "2.345", "-2.345", "499.00", "0.40", "0.123456789012",
	"999999999999999.99999999", "123456789012345678", "-123456789012345678",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
	"922337203685477580.7", "0.0000000000000000001", "1e19", "-98765432109876543210.5", "1.5e-20", "31557600000000000",
}

// checkExact compares every operation of two Exacts with shopspring's on
// the same values: same value, the same exponent (Exponent is shopspring's,
// and the store writes it: a rounded figure keeps the places it was
// rounded to), and the same text where text is asked for.
func checkExact(t *testing.T, a, b decimal.Decimal) {
	t.Helper()
	ea, eb := FromDecimal(a), FromDecimal(b)
	same := func(op string, got Exact, want decimal.Decimal) {
		t.Helper()
		if !got.Decimal().Equal(want) || got.String() != want.String() || got.Exponent() != want.Exponent() {
			t.Fatalf("%s(%s, %s) = %s (exponent %d), shopspring %s (exponent %d)", op, a, b, got, got.Exponent(), want, want.Exponent())
		}
	}
	same("Add", ea.Add(eb), a.Add(b))
	same("Sub", ea.Sub(eb), a.Sub(b))
	same("Mul", ea.Mul(eb), a.Mul(b))
	same("Neg", ea.Neg(), a.Neg())
	if got, want := ea.Cmp(eb), a.Cmp(b); got != want {
		t.Fatalf("Cmp(%s, %s) = %d, shopspring %d", a, b, got, want)
	}
	if got, want := ea.Sign(), a.Sign(); got != want {
		t.Fatalf("Sign(%s) = %d, shopspring %d", a, got, want)
	}
	for _, places := range []int32{0, 2, 4, 8} {
		same("Round", ea.Round(places), a.Round(places))
		if got, want := ea.HasAtMostPlaces(places), a.Round(places).Equal(a); got != want {
			t.Fatalf("HasAtMostPlaces(%s, %d) = %v, shopspring %v", a, places, got, want)
		}
		if got, want := ea.StringFixed(places), a.StringFixed(places); got != want {
			t.Fatalf("StringFixed(%s, %d) = %q, shopspring %q", a, places, got, want)
		}
		if !b.IsZero() {
			same("DivRound", ea.DivRound(eb, places), a.DivRound(b, places))
			same("MulDivRound", ea.MulDivRound(ea, eb, places), a.Mul(a).DivRound(b, places))
		}
	}
	if got, want := ea.Float64(), a.InexactFloat64(); got != want {
		t.Fatalf("Float64(%s) = %v, shopspring %v", a, got, want)
	}
	parsed, err := ParseExact(a.String())
	if err != nil || !parsed.Decimal().Equal(a) {
		t.Fatalf("ParseExact(%q) = %s, %v", a.String(), parsed, err)
	}
}

func TestExactAgreesWithShopspring(t *testing.T) {
	for _, a := range exactExamples {
		for _, b := range exactExamples {
			checkExact(t, decimal.RequireFromString(a), decimal.RequireFromString(b))
		}
	}
}

// Sums that leave an int64 go wide and come back when they fit again.
func TestExactSumsLeaveAndReenterTheFastPath(t *testing.T) {
	big := NewExact(math.MaxInt64-5, -8)
	sum := big.Add(NewExact(10, -8))
	if _, _, ok := sum.Small(); ok {
		t.Fatalf("%s fits an int64 coefficient?", sum)
	}
	if want := "92233720368.54775812"; sum.String() != want {
		t.Fatalf("sum %s, want %s", sum, want)
	}
	back := sum.Sub(NewExact(10, -8))
	if _, _, ok := back.Small(); !ok || !back.Equal(big) {
		t.Fatalf("back %s (small %v), want %s", back, ok, big)
	}
}

func TestParseExact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"12.50", "12.5"}, {"-0.001", "-0.001"}, {"0", "0"}, {"123456789012345678", "123456789012345678"},
		{"1234567890123456789.5", "1234567890123456789.5"}, {"1e3", "1000"}, {"+2", "2"},
	} {
		got, err := ParseExact(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseExact(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "-", ".", "1.", "1.2.3", "abc", "1,5"} {
		if _, err := ParseExact(bad); err == nil && decimalRejects(bad) {
			t.Errorf("ParseExact(%q) accepted what shopspring rejects", bad)
		}
	}
}

func decimalRejects(s string) bool { _, err := decimal.NewFromString(s); return err != nil }

// The fast path allocates nothing: that is the type's reason to exist.
func TestExactFastPathDoesNotAllocate(t *testing.T) {
	a, m, b := NewExact(49900, -2), NewExact(40, -2), NewExact(120000, -4)
	var buf [32]byte
	allocs := testing.AllocsPerRun(100, func() {
		s := a.Add(a.Mul(m)).Sub(b)
		_ = s.DivRound(ExactFromInt(3), 2).Cmp(s.Round(2))
		_ = s.MulDivRound(ExactFromInt(7), ExactFromInt(11), 4).AppendFixed(buf[:0], 2)
		_, _ = ParseExact("1234.5678")
		_ = RoundFloat(1234.56789, 2)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations, want 0", allocs)
	}
}

func FuzzExactAgreesWithShopspring(f *testing.F) {
	f.Add(int64(49900), int8(-2), int64(40), int8(-2))
	f.Add(int64(math.MaxInt64), int8(0), int64(1), int8(0))
	f.Add(int64(math.MinInt64), int8(-3), int64(-1), int8(5))
	f.Fuzz(func(t *testing.T, ac int64, ae int8, bc int64, be int8) {
		a := decimal.New(ac, int32(ae)%24)
		b := decimal.New(bc, int32(be)%24)
		checkExact(t, a, b)
		// and the same through their text, as stored values are read
		for _, d := range []decimal.Decimal{a, b} {
			if e, err := ParseExact(d.String()); err != nil || !e.Decimal().Equal(d) {
				t.Fatalf("ParseExact(%s) = %s, %v", d, e, err)
			}
		}
	})
}
