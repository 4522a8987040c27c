// Package lincheck checks that a KV store is linearizable: it records the
// operations that concurrent clients perform against the store under test
// and checks the history with porcupine
// (github.com/anishathalye/porcupine) against a sequential model of a
// register per key.
//
// The pieces:
//
//   - Model is the porcupine model: per key, Put(key, value),
//     Get(key) → (value, found) and Delete(key) over string values,
//     partitioned by key so that each key is checked on its own.
//   - Recorder records a history from many client goroutines with
//     Begin and End, and Check checks it, writing porcupine's HTML
//     visualization to a file when the history is not linearizable.
//   - Run drives a random workload of puts, gets and deletes from many
//     clients through a caller's function that performs one operation
//     against the system under test, and records it.
//
// # Outcomes
//
// Every operation ends in one of three ways (Outcome):
//
//   - OK: it completed, and a get's result is what the store answered.
//   - Failed: it definitely had no effect (for example, a write refused
//     before it was proposed). It is left out of the history.
//   - Unknown: a write may or may not have taken effect (the client timed
//     out, or the store said the outcome is unknown). Following Jepsen and
//     etcd's robustness tests, it is recorded as a write that never
//     returns (its return time is math.MaxInt64): the checker may place it
//     anywhere after its call, including after every other operation,
//     which is the same as never having taken effect.
//
// A get that did not complete has no effect on the store and tells nothing
// about it, so it is left out whether it failed or its outcome is unknown.
//
// # Timestamps
//
// The Recorder stamps calls and returns from one monotonic clock under one
// lock, strictly increasing, so an operation that returned before another
// was called is ordered before it in the history; operations that
// overlapped in real time overlap in the history.
package lincheck
