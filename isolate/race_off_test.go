//go:build !race

package isolate

// raceDetector reports that the tests run under -race.
const raceDetector = false
