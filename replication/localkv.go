package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/warrenmesh/warren/replication/internal/kvsm"
)

// The types of LocalKV are those of the KV state machine: they match the
// isolate package's KV types field for field, so a conversion such as
// isolate.KVEntry(v) compiles.
type (
	// KVValue is a stored value with its metadata and expiration.
	KVValue = kvsm.Value
	// KVListOptions are the options of List: prefix, cursor and limit.
	KVListOptions = kvsm.ListOptions
	// KVListResult is one page of keys.
	KVListResult = kvsm.ListResult
	// KVKey is one listed key.
	KVKey = kvsm.Key
	// KVInvalidError is the error for a broken rule of Workers KV: it names
	// the field, the rule and the HTTP status Cloudflare answers.
	KVInvalidError = kvsm.InvalidError
)

// KVPutOptions are the options of Put, as in Workers KV.
type KVPutOptions struct {
	// Expiration is an absolute expiration, unix seconds (0: none); at
	// least kvsm.MinTTL (60) seconds in the future.
	Expiration int64
	// ExpirationTTL is seconds from now (0: none), at least 60; it wins
	// over Expiration.
	ExpirationTTL int64
	// Metadata is serialized JSON, at most 1024 bytes (nil: none).
	Metadata []byte
}

// The errors of LocalKV. Every error it returns that one of them describes
// wraps it (errors.Is).
var (
	// ErrKVNotFound: the key is absent or expired. The KV binding turns it
	// into null, as Workers KV does.
	ErrKVNotFound = kvsm.ErrNotFound
	// ErrKVInvalid: an argument broke a rule of Workers KV (a key over 512
	// bytes, a TTL under 60 s, ...); the error is a *KVInvalidError.
	ErrKVInvalid = kvsm.ErrInvalid
	// ErrKVStorage: badger failed, or the data on disk is not what was
	// written.
	ErrKVStorage = kvsm.ErrStorage
	// ErrKVClosed: the store was closed.
	ErrKVClosed = errors.New("replication: the local KV store is closed")
)

// LocalKV is the KV store of the embedded single-node runtime (warren run
// without a node): one badger database in a directory, holding one KV state
// machine. There is no Raft group: each change is a command applied at
// once, at the next index after the store's applied index, by one writer
// at a time, so the state machine and the file format are those the
// replicated groups use.
//
// Writes are synced to disk before they return (there is no log to replay
// a lost one from). Expired keys are hidden from reads at once and removed
// by an expirer, which runs when the store opens and then every minute.
// badger locks the directory: one process at a time may open it.
//
// Its methods may be called concurrently; reads run in parallel, writes
// one at a time.
type LocalKV struct {
	db *badger.DB
	s  *kvsm.Store

	// life is held for reading by every operation and for writing by
	// Close, which so waits for operations under way.
	life   sync.RWMutex
	closed bool // under life

	// write serializes the commands, so that each gets the next index.
	write sync.Mutex

	now        func() time.Time
	stop, done chan struct{}
	cfg        localConfig
	// vlogKick starts quick rounds of the value log's collection after a
	// put of a value that goes to the value log; vlogDone is closed when
	// the collection has stopped.
	vlogKick, vlogDone chan struct{}
}

// localConfig holds what tests change.
type localConfig struct {
	// expireEvery is the period of the expirer.
	expireEvery time.Duration
	// tick, when set, drives the expirer instead of a ticker.
	tick <-chan time.Time
	// now is the clock (nil: time.Now).
	now func() time.Time
	// afterExpire, when set, is called after each pass of the expirer.
	afterExpire func(n int, err error)
	// vlog is the timing of the value log's collection (zero: vlogDefault),
	// valueLogFileSize the size of a value log file (zero:
	// localValueLogFile).
	vlog             vlogTiming
	valueLogFileSize int64
}

// ExpireEvery is how often the expirer of a LocalKV removes expired keys.
const ExpireEvery = time.Minute

// kvPrefix is the key prefix of the local store's state machine in its
// database: a group id of the fixed length the replicated groups will use
// would do as well; the database holds nothing else.
var kvPrefix = []byte("local-kv")

// OpenLocalKV opens the local KV store in dir, creating dir and the store if
// needed, and starts its expirer. Close it to stop the expirer and release
// the directory.
func OpenLocalKV(dir string) (*LocalKV, error) {
	return openLocalKV(dir, localConfig{expireEvery: ExpireEvery})
}

func openLocalKV(dir string, cfg localConfig) (*LocalKV, error) {
	opts := localDBOptions(dir)
	if cfg.valueLogFileSize > 0 {
		opts = opts.WithValueLogFileSize(cfg.valueLogFileSize)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("replication: opening the KV store in %s: %w", dir, err)
	}
	s, err := kvsm.Open(db, kvPrefix)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("replication: opening the KV store in %s: %w", dir, err)
	}
	l := &LocalKV{db: db, s: s, now: cfg.now, stop: make(chan struct{}), done: make(chan struct{}), cfg: cfg,
		vlogKick: make(chan struct{}, 1), vlogDone: make(chan struct{})}
	if l.now == nil {
		l.now = time.Now
	}
	go l.expirer()
	tm := cfg.vlog
	if tm.every == 0 {
		tm = vlogDefault
	}
	// Values of localValueThreshold or more live in the value log, which
	// keeps an overwritten or deleted one until collected (vlog.go).
	go func() {
		defer close(l.vlogDone)
		collectValueLog(db, slog.Default(), tm, l.vlogKick, l.stop)
	}()
	return l, nil
}

// Small-memory settings for a store on a developer's machine. kvsm needs a
// badger batch (15 % of the memtable) of at least 2 MiB, so the memtable
// cannot go below 14 MiB; badger's defaults (64 MiB ×5, a 256 MiB block
// cache) are far beyond what a local store needs.
const (
	localMemTableSize   = 16 << 20
	localNumMemtables   = 2
	localBlockCache     = 8 << 20
	localValueLogFile   = 64 << 20
	localValueThreshold = 256 << 10 // below 15 % of the memtable, as badger requires
)

func localDBOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(localMemTableSize).
		WithNumMemtables(localNumMemtables).
		// A flushed memtable is compacted at once: its overwrites reach the
		// value log's discard statistics (collectValueLog).
		WithNumLevelZeroTables(1).
		WithNumLevelZeroTablesStall(localNumMemtables * 4).
		WithBlockCacheSize(localBlockCache).
		WithValueThreshold(localValueThreshold).
		WithValueLogFileSize(localValueLogFile).
		WithNumCompactors(2).
		WithCompression(options.Snappy).
		WithDetectConflicts(false). // one writer
		WithMetricsEnabled(false).
		WithLogger(warnLogger{slog.Default()})
}

// warnLogger passes badger's warnings and errors to slog and drops its
// routine messages (every table opened, every compaction).
type warnLogger struct{ l *slog.Logger }

func (w warnLogger) Errorf(f string, v ...any) {
	w.l.Error(strings.TrimSuffix(fmt.Sprintf(f, v...), "\n"), "component", "badger")
}

func (w warnLogger) Warningf(f string, v ...any) {
	w.l.Warn(strings.TrimSuffix(fmt.Sprintf(f, v...), "\n"), "component", "badger")
}

func (warnLogger) Infof(string, ...any)  {}
func (warnLogger) Debugf(string, ...any) {}

// acquire starts an operation: it fails once the store is closed.
func (l *LocalKV) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.life.RLock()
	if l.closed {
		l.life.RUnlock()
		return ErrKVClosed
	}
	return nil
}

func (l *LocalKV) release() { l.life.RUnlock() }

// apply applies one command at the next index. The result's error, if any,
// is returned: ErrKVInvalid when the state machine rejected the command,
// ErrKVStorage when it was not applied.
func (l *LocalKV) apply(cmd []byte) (kvsm.Result, error) {
	l.write.Lock()
	defer l.write.Unlock()
	// A rejected command counts as applied; one that failed in storage does
	// not, and its index is used again.
	r := l.s.Apply(kvsm.Entry{Index: l.s.Applied() + 1, Data: cmd})
	return r, r.Err
}

// Get returns the value of key in namespace ns. Errors wrap ErrKVNotFound
// (absent or expired), ErrKVInvalid (a bad namespace or key), ErrKVStorage
// or ErrKVClosed.
func (l *LocalKV) Get(ctx context.Context, ns, key string) ([]byte, error) {
	v, err := l.GetWithMetadata(ctx, ns, key, Strong)
	return v.Value, err
}

// GetWithMetadata returns the value of key in namespace ns with its
// metadata and expiration. Errors are those of Get. A local store has one
// copy, so every read is both strong and eventual.
func (l *LocalKV) GetWithMetadata(ctx context.Context, ns, key string, _ Consistency) (KVValue, error) {
	if err := l.acquire(ctx); err != nil {
		return KVValue{}, err
	}
	defer l.release()
	return l.s.Get(ns, key, l.now())
}

// Put stores value under key in namespace ns, replacing its value,
// metadata and expiration. The rules of Workers KV apply (a key of 1..512
// bytes, a value up to 25 MiB, metadata up to 1024 bytes of JSON, an
// expiration at least 60 s ahead): a broken one is an error wrapping
// ErrKVInvalid, and nothing is stored. Put returns once the value is on
// disk.
func (l *LocalKV) Put(ctx context.Context, ns, key string, value []byte, opts KVPutOptions) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	exp, err := kvsm.ValidatePut(ns, key, value, opts.Metadata, opts.Expiration, opts.ExpirationTTL, l.now())
	if err != nil {
		return err
	}
	_, err = l.apply(kvsm.EncodePut(ns, key, value, opts.Metadata, exp))
	if err == nil && len(value) >= localValueThreshold {
		select {
		case l.vlogKick <- struct{}{}:
		default:
		}
	}
	return err
}

// Delete removes key from namespace ns; a missing key is not an error.
// Errors wrap ErrKVInvalid (a bad namespace or key), ErrKVStorage or
// ErrKVClosed.
func (l *LocalKV) Delete(ctx context.Context, ns, key string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	if err := kvsm.ValidateNamespace(ns); err != nil {
		return err
	}
	if err := kvsm.ValidateKey(key); err != nil {
		return err
	}
	_, err := l.apply(kvsm.EncodeDelete(ns, key))
	return err
}

// List returns a page of the keys of namespace ns, in byte order, as
// Workers KV's list does: opts.Prefix filters, opts.Limit bounds the page
// (0: 1000, at most 1000), and a page with ListComplete false has a Cursor
// to pass in opts.Cursor, with the same prefix, for the next one. A page may
// hold fewer keys than the limit and still not be the last. Errors wrap
// ErrKVInvalid (a bad namespace, limit or cursor), ErrKVStorage or
// ErrKVClosed.
func (l *LocalKV) List(ctx context.Context, ns string, opts KVListOptions, _ Consistency) (KVListResult, error) {
	if err := l.acquire(ctx); err != nil {
		return KVListResult{}, err
	}
	defer l.release()
	return l.s.List(ns, opts, l.now())
}

// Expire removes the keys whose expiration is at or before now and returns
// how many it removed. Reads hide such keys already; the expirer calls
// Expire with the current time so that they stop taking space.
func (l *LocalKV) Expire(now time.Time) (int, error) {
	if err := l.acquire(context.Background()); err != nil {
		return 0, err
	}
	defer l.release()
	return l.expire(now, nil)
}

// expire applies expire commands until none says More, or stop is closed.
func (l *LocalKV) expire(now time.Time, stop <-chan struct{}) (int, error) {
	total := 0
	for {
		r, err := l.apply(kvsm.EncodeExpire(now, kvsm.MaxExpireLimit))
		total += r.Expired
		if err != nil {
			return total, fmt.Errorf("replication: expiring KV keys: %w", err)
		}
		if !r.More {
			return total, nil
		}
		select {
		case <-stop:
			return total, nil
		default:
		}
	}
}

// expirer removes expired keys at once and then every expireEvery, until
// Close.
func (l *LocalKV) expirer() {
	defer close(l.done)
	tick := l.cfg.tick
	if tick == nil {
		t := time.NewTicker(l.cfg.expireEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		n, err := l.expire(l.now(), l.stop)
		if err != nil {
			slog.Warn("local KV store: expiring keys failed", "err", err)
		}
		if l.cfg.afterExpire != nil {
			l.cfg.afterExpire(n, err)
		}
		select {
		case <-l.stop:
			return
		case <-tick:
		}
	}
}

// Close stops the expirer, waits for the operations under way and closes
// the database. Later calls fail with ErrKVClosed; Close itself may be
// called again (it returns nil).
func (l *LocalKV) Close() error {
	l.life.Lock()
	if l.closed {
		l.life.Unlock()
		return nil
	}
	l.closed = true
	l.life.Unlock()
	close(l.stop)
	<-l.done
	<-l.vlogDone
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("replication: closing the KV store: %w", err)
	}
	return nil
}

// ValidateKVNamespace checks a KV namespace name: 1 to 64 bytes of
// [A-Za-z0-9_.-], and not "." or "..". The error wraps ErrKVInvalid.
func ValidateKVNamespace(ns string) error { return kvsm.ValidateNamespace(ns) }

var _ KV = (*LocalKV)(nil)
