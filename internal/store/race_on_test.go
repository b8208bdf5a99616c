//go:build race

package store

// raceDetector is true in a -race build, whose shadow memory and allocator
// change what the process's resident set measures.
const raceDetector = true
