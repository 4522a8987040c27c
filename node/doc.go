// Package node is one running warren node: it wires the isolate runtime,
// the mesh and replication together and serves the HTTP API.
package node
