//go:build !race

package testutil

// RaceEnabled is true when this package is built with -race (see race_on.go).
const RaceEnabled = false
