package money

import (
	"math/big"
	"testing"

	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestAgreesWithShopspringOnExamples(t *testing.T) {
	values := []string{
		"0", "-0", "1", "-1", "0.005", "-0.005", "0.004999", "2.345", "-2.345", "2.3449999",
		"499.00", "1234567.891", "-1234567.895", "99999999999999.995", "0.0000000000000000001",
		"123456789012345678", "1234567890123456789", "-98765432109876543210.5", "1e19", "1.5e-20",
		"0.40", "199.6000", "31557600000000000", "94672800000000000", "1e-18",
	}
	for _, a := range values {
		for _, places := range []int32{0, 2, 4} {
			checkUnary(t, dec(a), places)
		}
		for _, b := range values {
			for _, places := range []int32{0, 2, 4} {
				checkDiv(t, dec(a), dec(b), places)
				for _, m := range []string{"1", "3", "94672800000000000", "-0.5"} {
					checkMulDiv(t, dec(a), dec(m), dec(b), places)
				}
			}
		}
	}
}

func checkUnary(t *testing.T, d decimal.Decimal, places int32) {
	t.Helper()
	if got, want := StringFixed(d, places), d.StringFixed(places); got != want {
		t.Fatalf("StringFixed(%s, %d) = %q, shopspring %q", d, places, got, want)
	}
	for _, other := range []decimal.Decimal{decimal.Zero, decimal.New(5, -places), decimal.New(-5000, -places), d.Round(places), d} {
		if got, want := Cmp(d, other), d.Cmp(other); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, shopspring %d", d, other, got, want)
		}
		if got, want := Cmp(other, d), other.Cmp(d); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, shopspring %d", other, d, got, want)
		}
	}
}

func checkDiv(t *testing.T, a, b decimal.Decimal, places int32) {
	t.Helper()
	if b.IsZero() {
		return
	}
	if got, want := DivRound(a, b, places), a.DivRound(b, places); !got.Equal(want) {
		t.Fatalf("DivRound(%s, %s, %d) = %s, shopspring %s", a, b, places, got, want)
	}
}

func checkMulDiv(t *testing.T, a, m, b decimal.Decimal, places int32) {
	t.Helper()
	if b.IsZero() {
		return
	}
	if got, want := MulDivRound(a, m, b, places), a.Mul(m).DivRound(b, places); !got.Equal(want) {
		t.Fatalf("MulDivRound(%s, %s, %s, %d) = %s, shopspring %s", a, m, b, places, got, want)
	}
}

// The fast path must be taken for the everyday figures, or it buys
// nothing.
func TestEverydayFiguresTakeTheFastPath(t *testing.T) {
	fast := func(a, m, b string) bool {
		fa, ok1 := parts(dec(a))
		fm, ok2 := parts(dec(m))
		fb, ok3 := parts(dec(b))
		_, ok := mulDivRound(fa, fm, fb, 2)
		return ok1 && ok2 && ok3 && ok
	}
	if !fast("2495.00", "1", "5") {
		t.Fatal("aov not on the fast path")
	}
	if !fast("998.1234", "94672800000000000", "31557600000000000") {
		t.Fatal("ltv not on the fast path")
	}
	allocs := testing.AllocsPerRun(100, func() {
		_ = AppendFixed(make([]byte, 0, 32), dec("1234.5678"), 2)
	})
	if allocs > 3 { // the decimal literal and the buffer, not the formatting
		t.Fatalf("AppendFixed allocates %.0f times", allocs)
	}
}

// FuzzAgreesWithShopspring compares every function with shopspring/decimal
// on arbitrary coefficients and exponents, including ones past the fast
// path's 64/128-bit limits.
func FuzzAgreesWithShopspring(f *testing.F) {
	f.Add(int64(234500), int32(-5), int64(7), int32(0), int64(3), int32(0), uint8(2))
	f.Add(int64(-99812), int32(-2), int64(946728), int32(11), int64(315576), int32(11), uint8(4))
	f.Add(int64(1)<<62, int32(3), int64(-1)<<60, int32(-9), int64(1), int32(-19), uint8(0))
	f.Fuzz(func(t *testing.T, ac int64, ae int32, mc int64, me int32, bc int64, be int32, p uint8) {
		clamp := func(e int32) int32 { return e % 40 }
		a := decimal.NewFromBigInt(new(big.Int).Mul(big.NewInt(ac), big.NewInt(ac%1000+1)), clamp(ae))
		m := decimal.New(mc, clamp(me))
		b := decimal.New(bc, clamp(be))
		places := int32(p % 7)
		checkUnary(t, a, places)
		checkUnary(t, m, places)
		checkDiv(t, a, b, places)
		checkMulDiv(t, a, m, b, places)
		if got, want := Cmp(a, b), a.Cmp(b); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, shopspring %d", a, b, got, want)
		}
	})
}
