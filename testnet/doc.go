// Package testnet builds clusters for tests and demos: an in-process fabric
// with fault injection and a multi-process harness. Not built yet: see issue 3.
package testnet
