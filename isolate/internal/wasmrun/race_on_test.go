//go:build race

package wasmrun

// raceDetector reports that the tests run under -race.
const raceDetector = true
