package contract

import "encoding/json"

// Binding says what a name in env reaches (docs/http-api.md): exactly one of
// its fields is set.
type Binding struct {
	// KV names a KV namespace.
	KV string `json:"kv,omitempty"`
	// DurableObject names a Durable Object class of a deployed Worker.
	DurableObject *DurableObjectBinding `json:"durableObject,omitempty"`
}

// DurableObjectBinding names a Durable Object namespace.
type DurableObjectBinding struct {
	Worker string `json:"worker"`
	Class  string `json:"class"`
}

// The consistencies of a KV read: the Consistency of KVGetOptions and
// KVListOptions ("" means strong).
const (
	// KVStrong reads see every write acknowledged before they began.
	KVStrong = "strong"
	// KVEventual reads answer from the nearest replica, which may lag.
	KVEventual = "eventual"
)

// KVGetOptions are the options of get and getWithMetadata that reach the
// host (the type of the value is the binding's business).
type KVGetOptions struct {
	// Consistency is "", KVStrong or KVEventual.
	Consistency string `json:"consistency,omitempty"`
}

// The bounds of a bulk get (get and getWithMetadata given an array of
// keys, the host call's method "getBulk"): Cloudflare's 100 keys, and at
// most the 25 MiB of one value in all, so that one call's reply stays
// within what a single get may bring.
const (
	MaxKVBulkKeys  = 100
	MaxKVBulkBytes = 25 << 20
)

// MaxKVValueBytes is the largest value a KV put stores (Workers KV's 25
// MiB, the replicated store's bound): a Worker's larger put is refused
// before the value leaves the isolate.
const MaxKVValueBytes = 25 << 20

// KVEntry is a stored value.
type KVEntry struct {
	Value      []byte          `json:"value"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Expiration int64           `json:"expiration,omitempty"` // unix seconds; 0 = never
}

// KVPutOptions are the options of put.
type KVPutOptions struct {
	Expiration    int64           `json:"expiration,omitempty"`    // unix seconds
	ExpirationTTL int64           `json:"expirationTtl,omitempty"` // seconds from now
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// KVListOptions are the options of list.
type KVListOptions struct {
	Prefix string `json:"prefix,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"` // 0 = 1000
	// Consistency is "", KVStrong or KVEventual.
	Consistency string `json:"consistency,omitempty"`
}

// KVList is one page of keys.
type KVList struct {
	Keys         []KVKey `json:"keys"`
	ListComplete bool    `json:"list_complete"`
	Cursor       string  `json:"cursor,omitempty"`
}

// KVKey is one listed key.
type KVKey struct {
	Name       string          `json:"name"`
	Expiration int64           `json:"expiration,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// The codes of KV errors (KVError.Code). A Worker sees them as err.code,
// upper-cased with a KV_ prefix (docs/workers-api.md): "KV_INVALID", ...
const (
	// KVCodeInvalid: an argument broke a rule of Workers KV (a key over
	// 512 bytes, a TTL under 60 s, a bad cursor). The guest's TypeError.
	KVCodeInvalid = "invalid"
	// KVCodeUnavailable: the store cannot answer now (no quorum, a
	// deadline, no storage on this runtime); retrying may succeed.
	KVCodeUnavailable = "unavailable"
	// KVCodeDenied: the call was not allowed (a forwarded invocation whose
	// caller withheld its go-ahead).
	KVCodeDenied = "denied"
	// KVCodeStorage: the store failed; any error without a code.
	KVCodeStorage = "storage"
	// KVCodeFull: a write was refused because the disk of the node that
	// would log it is down to its reserve; nothing was changed, and
	// deletes are still taken.
	KVCodeFull = "full"
)
