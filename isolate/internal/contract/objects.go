package contract

import "time"

// ObjectRef names one Durable Object.
type ObjectRef struct {
	Worker string `json:"worker"`
	Class  string `json:"class"`
	ID     string `json:"id"`             // 64 lower-case hex characters
	Name   string `json:"name,omitempty"` // when made by idFromName: id.name / ctx.id.name
}

// Key is the object's key: Worker+"\x00"+Class+"\x00"+ID.
func (r ObjectRef) Key() string { return r.Worker + "\x00" + r.Class + "\x00" + r.ID }

// The kinds of ObjectEvent.
const (
	ObjectFetch = "fetch" // instance.fetch(request)
	ObjectCall  = "call"  // instance[method](...args)
	ObjectAlarm = "alarm" // instance.alarm()
)

// ObjectResult is what one event gave.
type ObjectResult struct {
	Result // outcome, error, logs, exceptions, telemetry; Response for "fetch"
	// Value is the return value of a "call", structured-clone encoded; nil
	// for undefined.
	Value []byte
	// Thrown is set when the event's handler threw (or the method does not
	// exist, or its value could not be cloned): the error's name and
	// message, for the caller to rethrow (Outcome is then
	// OutcomeException, and Exceptions holds the full exception).
	Thrown *ObjectError
	// Writes are the event's storage writes not committed yet (nil if
	// none): the node commits them before it releases the reply. They are
	// nil when Reset is set: the event's uncommitted writes are discarded.
	Writes *StorageBatch
	// Reset: the live instance is gone (a limit overrun, a crash, a
	// failure in its constructor, a storage failure); the next event
	// re-creates it.
	Reset bool
}

// StorageBatch is one atomic group of writes to one object's storage.
type StorageBatch struct {
	DeleteAll bool         `json:"deleteAll,omitempty"` // applied first
	Puts      []StoragePut `json:"puts,omitempty"`      // in key order
	Deletes   []string     `json:"deletes,omitempty"`   // in key order
	Alarm     *int64       `json:"alarm,omitempty"`     // unix ms; 0 deletes the alarm; nil: unchanged
	// Pages are pages of the object's SQL database (ctx.storage.sql), in
	// page order. Between a sandbox worker and its host they travel apart
	// from the puts; the host stores each as a put of SQLPageKey(No)
	// (PagesAsPuts).
	Pages []StoragePage `json:"pages,omitempty"`
}

// StoragePage is one page of an object's SQL database.
type StoragePage struct {
	No   uint32 `json:"no"` // from 1, as SQLite numbers pages
	Data []byte `json:"data"`
}

// PageRange names Count pages from From.
type PageRange struct {
	From  uint32 `json:"from"`
	Count uint32 `json:"count"`
}

// An object's SQL database is SQLite's file cut in pages of SQLPageSize
// bytes, each stored as an entry of the object's storage under
// SQLPageKey(n). Those keys start with the byte 0xFF, which no UTF-8
// string (no key the storage API takes) starts with: they sort after every
// key a Worker can write, and lists stop before SQLPagePrefix. deleteAll
// deletes them with the rest.
const (
	SQLPageSize = 4096
	// MaxSQLPages bounds an object's SQL database: 128 MiB.
	MaxSQLPages = 32768
	// SQLPagePrefix starts every page key.
	SQLPagePrefix = "\xffsql\x00"
)

// SQLPageKey is the storage key of page n.
func SQLPageKey(n uint32) string {
	return SQLPagePrefix + string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// SQLPageNumber is the page a storage key names, if it is a page key.
func SQLPageNumber(key string) (uint32, bool) {
	if len(key) != len(SQLPagePrefix)+4 || key[:len(SQLPagePrefix)] != SQLPagePrefix {
		return 0, false
	}
	b := key[len(SQLPagePrefix):]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// PagesAsPuts returns b with its pages as puts of their keys (after the
// other puts: page keys sort last), or b itself if it has none.
func (b *StorageBatch) PagesAsPuts() *StorageBatch {
	if b == nil || len(b.Pages) == 0 {
		return b
	}
	out := *b
	out.Puts = make([]StoragePut, len(b.Puts), len(b.Puts)+len(b.Pages))
	copy(out.Puts, b.Puts)
	for _, p := range b.Pages {
		out.Puts = append(out.Puts, StoragePut{Key: SQLPageKey(p.No), Value: p.Data})
	}
	out.Pages = nil
	return &out
}

// StoragePut is one written key.
type StoragePut struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// StorageListOptions as ctx.storage.list takes them.
type StorageListOptions struct {
	Start      string `json:"start,omitempty"`
	StartAfter string `json:"startAfter,omitempty"`
	End        string `json:"end,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	Reverse    bool   `json:"reverse,omitempty"`
	Limit      int    `json:"limit,omitempty"` // 0: none
}

// StorageEntry is one stored key and its (structured-clone encoded) value.
type StorageEntry struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// ObjectError is an error a Durable Object threw, as DurableObjectNamespace
// reports it: a stub rethrows it with that name and message.
type ObjectError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (e *ObjectError) Error() string { return e.Name + ": " + e.Message }

// Bounds of Durable Object storage (Cloudflare's).
const (
	// MaxStorageKeyBytes bounds a storage key (UTF-8).
	MaxStorageKeyBytes = 2048
	// MaxStorageValueBytes bounds a stored value, structured-clone encoded.
	MaxStorageValueBytes = 128 << 10
	// MaxStorageKeysPerCall bounds the keys of one get, put or delete.
	MaxStorageKeysPerCall = 128
	// MaxStorageBatchBytes bounds the keys and values of the writes one
	// StorageBatch carries: an event's writes past it are committed in
	// more than one batch (each put, delete or transaction stays whole),
	// and one put, delete or transaction over it is a RangeError.
	// It is the replicated store's bound on one atomic batch.
	MaxStorageBatchBytes = 1 << 20
	// MaxStorageBatchKeys bounds the keys one StorageBatch writes, in the
	// same way.
	MaxStorageBatchKeys = 1024
	// MaxObjectRPCBytes bounds the encoded arguments and return value of a
	// Durable Object RPC call.
	MaxObjectRPCBytes = 32 << 20
)

// ObjectRequest is one object event as an engine sees it (and the request
// frame a sandbox worker receives).
type ObjectRequest struct {
	ExecRequest
	Object ObjectRef
	Epoch  uint64
	Kind   string
	Method string
	Args   []byte
	// Fresh drops the object's live instance, if any, first (it was
	// evicted since its last event).
	Fresh bool
	// Idle is ObjectIdleTimeout as the node has it (a worker's own copy
	// of the variable is not the node's).
	Idle time.Duration
}
