// Package stagetime records how long each stage of a POST /v1/run takes
// (decoding, waiting for a slot, the hand-off to a sandbox worker and
// back, running, answering), for finding where latency comes from.
//
// It is compiled in only by the build tag warren_stages:
//
//	go build -tags warren_stages -o /tmp/warren-stages ./cmd/warren
//	WARREN_STAGES=1 /tmp/warren-stages node ...
//
// Without the tag On is the constant false and every call is an empty
// function the compiler removes: the ordinary binary pays nothing. With
// the tag and WARREN_STAGES set, the node (and its sandbox workers, which
// are the same binary and inherit the variable) record each stage;
// SIGUSR1 clears what was recorded, SIGUSR2 prints a line per stage with
// its count, mean and percentiles (ms) on stderr. docs/performance.md,
// "Tail latency", says what the stages are and what they showed.
//
// The tag makes a build for measuring only: its workers append two
// timestamps to each answer (which the node strips), so the sandbox
// package's tests of the raw protocol fail under it.
package stagetime
