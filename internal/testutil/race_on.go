//go:build race

package testutil

// RaceEnabled is true when this package is built with -race (go test
// -race): GoBuild then builds its binaries with -race too, so the children
// a test starts are checked as well.
const RaceEnabled = true
