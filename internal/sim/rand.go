package sim

import (
	"math"
	"math/rand/v2"
)

// Independent PCG streams of one seed. The model stream alone decides the
// valid events, so changing only the fault rates leaves the valid events
// (their order, content and event ids) unchanged.
const (
	streamModel  = 0x6c74762d6d6f646c // "ltv-modl"
	streamFaults = 0x6c74762d66617574 // "ltv-faut"
)

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// gamma draws from Gamma(shape, 1) with the Marsaglia–Tsang method ("A
// simple method for generating gamma variables", 2000). Shapes below 1 use
// the boost Gamma(a) = Gamma(a+1)·U^(1/a). Scale the result by 1/rate.
func gamma(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := r.Float64()
		for u == 0 {
			u = r.Float64()
		}
		return gamma(r, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		x2 := x * x
		if u < 1-0.0331*x2*x2 {
			return d * v
		}
		if u > 0 && math.Log(u) < 0.5*x2+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// expo draws from the exponential distribution with the given mean.
func expo(r *rand.Rand, mean float64) float64 {
	return r.ExpFloat64() * mean
}

// appendUUID appends a random RFC 4122 version-4 UUID drawn from r.
func appendUUID(b []byte, r *rand.Rand) []byte {
	const hex = "0123456789abcdef"
	var u [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := 0; i < 8; i++ {
		u[i] = byte(hi >> (56 - 8*i))
		u[8+i] = byte(lo >> (56 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[x>>4], hex[x&0x0f])
	}
	return b
}
