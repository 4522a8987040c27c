//go:build race

package replication

// raceDetector reports that the tests run under -race.
const raceDetector = true
