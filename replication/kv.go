package replication

import (
	"context"
	"errors"
	"time"

	"github.com/warrenmesh/warren/replication/internal/kvsm"
)

// KV is a store of KV namespaces with the semantics of Workers KV: LocalKV
// on one machine, Cluster on a mesh. Its methods may be called
// concurrently.
//
// Errors wrap one of ErrKVNotFound, ErrKVInvalid (a *KVInvalidError),
// ErrKVUnavailable, ErrKVFull, ErrKVStorage or ErrKVClosed; KVErrorCode
// names which.
type KV interface {
	// GetWithMetadata returns the value of key in namespace ns with its
	// metadata and expiration, read as c asks.
	GetWithMetadata(ctx context.Context, ns, key string, c Consistency) (KVValue, error)
	// Put stores value under key, replacing its value, metadata and
	// expiration. It returns once the write is durable: on a mesh, synced
	// to the logs of a quorum of the key's group.
	Put(ctx context.Context, ns, key string, value []byte, opts KVPutOptions) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, ns, key string) error
	// List returns a page of the keys of ns in byte order (see
	// LocalKV.List), read as c asks.
	List(ctx context.Context, ns string, opts KVListOptions, c Consistency) (KVListResult, error)
}

// Consistency is how a read sees writes.
type Consistency uint8

const (
	// Strong reads are linearizable: a read sees every write acknowledged
	// before it began, on any node. The default.
	Strong Consistency = iota
	// Eventual reads answer from the nearest replica, which may lag the
	// leader by a moment; they cost no round trip to the leader.
	Eventual
)

// ParseConsistency reads "", "strong" or "eventual".
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "", "strong":
		return Strong, nil
	case "eventual":
		return Eventual, nil
	}
	return Strong, &KVInvalidError{Field: "consistency", Reason: `must be "strong" or "eventual"`, Status: 400}
}

// ErrKVUnavailable: the key's group cannot answer now (no quorum, no
// leader yet, or its replicas are unreachable). Nothing was changed unless
// the error says the outcome is unknown; retrying is safe for put and
// delete, which are idempotent.
var ErrKVUnavailable = errors.New("replication: the key's group is unavailable")

// KVErrorCode names the kind of a KV error for APIs and guests:
// "not_found", "invalid", "unavailable", "closed", "full" or "storage"
// (any other error).
func KVErrorCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrKVNotFound):
		return "not_found"
	case errors.Is(err, ErrKVInvalid):
		return "invalid"
	case errors.Is(err, ErrKVUnavailable), errors.Is(err, kvsm.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "unavailable"
	case errors.Is(err, ErrKVClosed):
		return "closed"
	case errors.Is(err, ErrKVFull):
		return "full"
	}
	return "storage"
}

// GroupInfo is how one Raft group stands, as GET /v1/groups shows it.
type GroupInfo struct {
	// ID is "meta" or "g1".."g32".
	ID string `json:"id"`
	// Leader is the leader's node name, "" when none is known.
	Leader string `json:"leader"`
	// Term and CommitIndex are the leader's (or, without a leader, the
	// highest any replica reported).
	Term        uint64 `json:"term"`
	CommitIndex uint64 `json:"commitIndex"`
	// Replicas are the group's members by node name.
	Replicas []ReplicaInfo `json:"replicas"`
	// Wanted is the number of voters placement wants; Degraded says it is
	// below 3 because the mesh has too few nodes.
	Wanted   int  `json:"wanted"`
	Degraded bool `json:"degraded,omitempty"`
	// Unavailable: the group cannot commit now (no quorum reachable).
	Unavailable bool `json:"unavailable,omitempty"`
	// Error says why the group's status could not be read, when it could
	// not.
	Error string `json:"error,omitempty"`
}

// ReplicaInfo is one member of a group.
type ReplicaInfo struct {
	Node  string `json:"node"`
	Voter bool   `json:"voter"`
	// Leader marks the leader's replica.
	Leader bool `json:"leader,omitempty"`
	// Applied is the last index the replica applied, as it reported it;
	// Lag is the leader's commit index less Applied.
	Applied uint64 `json:"applied"`
	Lag     uint64 `json:"lag"`
	// Unreachable: the replica did not answer.
	Unreachable bool `json:"unreachable,omitempty"`
	// Stopped: the replica stopped on its own on a node that lives (its
	// Raft shut down, on a log entry it could not read back, say); it
	// neither votes nor applies, and placement replaces it.
	Stopped bool `json:"stopped,omitempty"`
}

// Groups is what GET /v1/groups asks of a store: the status of every
// group, gathered within the context's deadline.
type Groups interface {
	Groups(ctx context.Context) ([]GroupInfo, error)
}

// kvDeadline bounds a KV operation whose context has none.
const kvDeadline = 10 * time.Second
