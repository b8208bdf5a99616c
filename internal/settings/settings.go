// Package settings gives every Config struct in the project the same
// meaning of "not set": a number or duration that is zero or negative, or
// any other value equal to its type's zero value, takes the default; and a
// comma-separated list (brokers, Redis nodes) is trimmed and loses its
// empty items; a port in an address is digits up to 65535. Written once
// here so the packages cannot drift apart.
package settings

import (
	"strings"
)

// number is what Positive accepts: counts, sizes, rates and durations
// (time.Duration is an int64).
type number interface {
	~int | ~int32 | ~int64 | ~float64
}

// Positive sets *v to def when *v is zero or negative: a count, size or
// duration that cannot be used as given means "use the default".
func Positive[T number](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// IfZero sets *v to def when *v is its type's zero value (an empty topic
// name, a nil logger).
func IfZero[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// SplitList splits a comma-separated list such as LTV_KAFKA_BROKERS or a
// Redis Cluster's node URLs: items are trimmed of white space, empty ones
// dropped, so "a, b,," is [a b].
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Port reads a TCP port written in an address setting (a listen address,
// a Redis URL): digits only, at most 65535. Whether 0 is allowed (any free
// port, for a listener) is the caller's to say.
func Port(s string) (int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if n = n*10 + int(r-'0'); n > 65535 {
			return 0, false
		}
	}
	return n, true
}

// SPEC §1's default topic names and §7's consumer group, shared by the
// consumer's settings, the pipeline, the simulator, the demo and the tests.
const (
	DefaultOrdersTopic    = "orders"
	DefaultLifecycleTopic = "customer-lifecycle"
	DefaultChangesTopic   = "ltv-changes"
	DefaultSegmentsTopic  = "ltv-segments"
	DefaultDLQTopic       = "ltv-dlq"
	DefaultGroupID        = "ltv-updater"
)
