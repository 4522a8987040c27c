package jsengine

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sclone"
)

// maxDateMs is the greatest time a Date holds, in ms since the epoch.
const maxDateMs = 8.64e15

// objCacheBytes bounds the storage cache a live instance keeps between
// events: over it, the cache is dropped at the end of an event.
const objCacheBytes = 8 << 20

// objStorage is a live object's view of its storage: a cache of the keys
// it knows (read, or written) and the writes of the current event not
// committed yet. Every key in dirty is in cache with the same value.
type objStorage struct {
	cache      map[string][]byte // the current value of known keys; nil: absent
	cacheBytes int
	allKnown   bool // cache holds every key (after deleteAll)

	dirty      map[string][]byte // this event's writes not committed (nil: delete)
	dirtyBytes int               // their keys and values
	deleteAll  bool              // this event deleted everything first
	alarm      *int64            // this event's alarm change (0: delete)

	alarmKnown bool // alarmVal is the alarm as this event sees it
	alarmVal   int64

	// pages are the SQL database's pages this event handed over, not
	// committed yet (counted in dirtyBytes).
	pages map[uint32][]byte
}

// txnLayer is one transaction's writes, applied to the storage when its
// callback succeeds.
type txnLayer struct {
	writes     map[string][]byte
	bytes      int // of writes' keys and values
	rolledBack bool
	done       bool
}

// write records a write of the transaction (v nil: a delete), keeping
// bytes the size of writes: a delete's key counts as in a batch.
func (t *txnLayer) write(k string, v []byte) {
	if old, ok := t.writes[k]; ok {
		t.bytes -= len(k) + len(old)
	}
	t.writes[k] = v
	t.bytes += len(k) + len(v)
}

func (s *objStorage) set(k string, v []byte) {
	if s.cache == nil {
		s.cache = map[string][]byte{}
	}
	if old, ok := s.cache[k]; ok {
		s.cacheBytes -= len(k) + len(old)
	}
	s.cache[k] = v
	s.cacheBytes += len(k) + len(v)
}

// write records a write of this event (v nil: a delete).
func (s *objStorage) write(k string, v []byte) {
	s.set(k, v)
	if s.dirty == nil {
		s.dirty = map[string][]byte{}
	}
	if old, ok := s.dirty[k]; ok {
		s.dirtyBytes -= len(k) + len(old)
	}
	s.dirty[k] = v
	s.dirtyBytes += len(k) + len(v)
}

func (s *objStorage) clearAll() {
	s.cache, s.cacheBytes, s.allKnown = map[string][]byte{}, 0, true
	s.dirty, s.dirtyBytes, s.deleteAll = map[string][]byte{}, 0, true
	s.pages = nil
}

// takeBatch returns the event's writes so far, nil if none, and forgets
// them (they are committed by whoever takes them).
func (s *objStorage) takeBatch() *contract.StorageBatch {
	if len(s.dirty) == 0 && !s.deleteAll && s.alarm == nil && len(s.pages) == 0 {
		return nil
	}
	b := &contract.StorageBatch{DeleteAll: s.deleteAll, Alarm: s.alarm}
	for _, no := range slices.Sorted(maps.Keys(s.pages)) {
		b.Pages = append(b.Pages, contract.StoragePage{No: no, Data: s.pages[no]})
	}
	s.pages = nil
	for _, k := range contract.SortedKeys(s.dirty) {
		if v := s.dirty[k]; v != nil {
			b.Puts = append(b.Puts, contract.StoragePut{Key: k, Value: v})
		} else if !s.deleteAll {
			b.Deletes = append(b.Deletes, k)
		}
	}
	s.dirty, s.dirtyBytes, s.deleteAll, s.alarm = nil, 0, false, nil
	return b
}

// endEvent ends an event whose writes were taken: the alarm is read again
// next time (the node changes it when it fires), and a cache over its
// bound is dropped.
func (s *objStorage) endEvent() {
	s.alarmKnown = false
	if s.cacheBytes > objCacheBytes {
		s.cache, s.cacheBytes, s.allKnown = nil, 0, false
	}
}

// InRange reports whether k is listed by o (Limit and Reverse aside).
func InRange(k string, o *contract.StorageListOptions) bool {
	switch {
	case !strings.HasPrefix(k, o.Prefix):
		return false
	case o.Start != "" && k < o.Start:
		return false
	case o.StartAfter != "" && k <= o.StartAfter:
		return false
	case o.End != "" && k >= o.End:
		return false
	}
	return true
}

// storageFailed ends the event: a storage call failed, so the instance's
// view of its storage can no longer be trusted (it is dropped: Reset).
func (l *loop) storageFailed(err error) {
	h := &limitHit{contract.OutcomeInternalError, "Durable Object storage failed: " + err.Error()}
	if l.ctx.Err() != nil {
		h = l.ctxHit()
	}
	l.interrupt(h)
	l.throwError("Error", h.msg)
}

// hostSync makes a host call and waits for it, the loop idle meanwhile.
func (l *loop) hostSync(c *contract.HostCall) (*contract.HostReply, error) {
	l.idle()
	rep, err := l.call.host.Call(l.ctx, c)
	l.busy()
	if err == nil {
		err = rep.Err()
	}
	return rep, err
}

// flushWrites commits a live object's buffered writes before an outbound
// call (OpStorageCommit), so that nothing leaves before the writes it may depend
// on. A failure ends the event.
func (l *loop) flushWrites() error {
	if l.obj == nil {
		return nil
	}
	b := l.obj.store.takeBatch()
	if b == nil {
		return nil
	}
	if _, err := l.hostSync(&contract.HostCall{Op: contract.OpStorageCommit, Batch: b}); err != nil {
		h := &limitHit{contract.OutcomeInternalError, "Durable Object storage failed: committing writes: " + err.Error()}
		if l.ctx.Err() != nil {
			h = l.ctxHit()
		}
		l.interrupt(h)
		return errors.New(h.msg)
	}
	return nil
}

// writeSize is what writing keys with values adds to a batch.
func writeSize(keys []string, values [][]byte) int {
	n := 0
	for i, k := range keys {
		n += len(k)
		if values != nil {
			n += len(values[i])
		}
	}
	return n
}

// makeRoom keeps the event's buffered writes within MaxStorageBatchBytes
// and MaxStorageBatchKeys: a write of n bytes to keys keys that would take
// them over commits them first (OpStorageCommit); one over a bound alone is a
// RangeError.
func (l *loop) makeRoom(n, keys int) {
	if n > contract.MaxStorageBatchBytes {
		l.throwError("RangeError", fmt.Sprintf("one put, delete or transaction may write at most %d bytes of keys and values; this one writes %d", contract.MaxStorageBatchBytes, n))
	}
	if keys > contract.MaxStorageBatchKeys {
		l.throwError("RangeError", fmt.Sprintf("one transaction may write at most %d keys; this one writes %d", contract.MaxStorageBatchKeys, keys))
	}
	s := &l.obj.store
	if s.dirtyBytes+n > contract.MaxStorageBatchBytes || len(s.dirty)+len(s.pages)+keys > contract.MaxStorageBatchKeys {
		if err := l.flushWrites(); err != nil {
			l.throwError("Error", err.Error())
		}
	}
}

// txnBounded throws the RangeError of a transaction whose writes would
// not fit one batch (makeRoom's bounds), as soon as they do not: its
// deletes count too. Uncounted, they made a batch the store refused,
// which reset the object and lost the event's writes.
func (l *loop) txnBounded(t *txnLayer) {
	if t.bytes > contract.MaxStorageBatchBytes {
		l.throwError("RangeError", fmt.Sprintf("a transaction may write at most %d bytes of keys and values", contract.MaxStorageBatchBytes))
	}
	if len(t.writes) > contract.MaxStorageBatchKeys {
		l.throwError("RangeError", fmt.Sprintf("one transaction may write at most %d keys; this one writes %d", contract.MaxStorageBatchKeys, len(t.writes)))
	}
}

// readKeys returns the present values of keys (through t, if set).
func (l *loop) readKeys(keys []string, t *txnLayer) map[string][]byte {
	s := &l.obj.store
	out := make(map[string][]byte, len(keys))
	var miss []string
	for _, k := range keys {
		if t != nil {
			if v, ok := t.writes[k]; ok {
				if v != nil {
					out[k] = v
				}
				continue
			}
		}
		if v, ok := s.cache[k]; ok {
			if v != nil {
				out[k] = v
			}
			continue
		}
		if !s.allKnown && !slices.Contains(miss, k) {
			miss = append(miss, k)
		}
	}
	if len(miss) == 0 {
		return out
	}
	rep, err := l.hostSync(&contract.HostCall{Op: contract.OpStorageGet, Keys: miss})
	if err != nil {
		l.storageFailed(err)
	}
	got := make(map[string][]byte, len(rep.Entries))
	for _, e := range rep.Entries {
		got[e.Key] = e.Value
	}
	for _, k := range miss {
		v := got[k]
		if v != nil && len(v) == 0 {
			v = nil
		}
		if _, ok := s.cache[k]; !ok {
			s.set(k, v)
		}
		if v != nil {
			out[k] = v
		}
	}
	return out
}

// list lists the entries o asks for (through t, if set).
func (l *loop) list(o contract.StorageListOptions, t *txnLayer) []contract.StorageEntry {
	s := &l.obj.store
	// overlay holds the keys whose value differs from the committed one.
	overlay := map[string][]byte{}
	view := map[string][]byte{}
	if s.allKnown {
		for k, v := range s.cache {
			if v != nil && InRange(k, &o) {
				view[k] = v
			}
		}
	} else {
		for k, v := range s.dirty {
			if InRange(k, &o) {
				overlay[k] = v
			}
		}
	}
	if t != nil {
		for k, v := range t.writes {
			if InRange(k, &o) {
				overlay[k] = v
			}
		}
	}
	if !s.allKnown {
		q := o
		if q.Limit > 0 {
			// Keys deleted in the overlay may take places in the host's answer.
			q.Limit += len(overlay)
		}
		rep, err := l.hostSync(&contract.HostCall{Op: contract.OpStorageList, StorageList: &q})
		if err != nil {
			l.storageFailed(err)
		}
		for _, e := range rep.Entries {
			if len(e.Value) == 0 || !InRange(e.Key, &o) {
				continue
			}
			if _, ok := s.cache[e.Key]; !ok {
				s.set(e.Key, e.Value)
			}
			view[e.Key] = e.Value // the overlay goes over it
		}
	}
	for k, v := range overlay {
		if v == nil {
			delete(view, k)
		} else {
			view[k] = v
		}
	}
	keys := contract.SortedKeys(view)
	if o.Reverse {
		slices.Reverse(keys)
	}
	if o.Limit > 0 && len(keys) > o.Limit {
		keys = keys[:o.Limit]
	}
	out := make([]contract.StorageEntry, len(keys))
	for i, k := range keys {
		out[i] = contract.StorageEntry{Key: k, Value: view[k]}
	}
	return out
}

// storagePrimitives adds the primitives of ctx.storage to p (see the
// prelude's makeStorage).
func (l *loop) storagePrimitives(p *goja.Object) {
	l.sqlPrimitives(p)
	vm := l.vm
	obj := func() *liveObject {
		if l.obj == nil {
			panic(vm.NewTypeError("Durable Object storage is only available in a Durable Object"))
		}
		return l.obj
	}
	txnOf := func(v goja.Value) *txnLayer {
		if v == nil || goja.IsUndefined(v) {
			return nil
		}
		t, ok := v.Export().(*txnLayer)
		if !ok {
			panic(vm.NewTypeError("not a transaction"))
		}
		if t.done {
			panic(vm.NewTypeError("the transaction is over"))
		}
		return t
	}
	keysOf := func(v goja.Value) []string {
		var keys []string
		if err := vm.ExportTo(v, &keys); err != nil {
			panic(vm.NewTypeError("keys: %s", err.Error()))
		}
		// The prelude checks the count too, with intrinsics a guest can
		// replace: the host refuses more, which failed the event.
		if len(keys) > contract.MaxStorageKeysPerCall {
			l.throwError("RangeError", fmt.Sprintf("at most %d keys per call, not %d", contract.MaxStorageKeysPerCall, len(keys)))
		}
		for _, k := range keys {
			if len(k) > contract.MaxStorageKeyBytes {
				l.throwError("RangeError", fmt.Sprintf("Keys cannot be larger than %d bytes; a key of %d bytes was given", contract.MaxStorageKeyBytes, len(k)))
			}
		}
		return keys
	}
	decode := func(b []byte) goja.Value {
		v, err := sclone.DecodeInterruptible(vm, b, l.interrupted)
		if err != nil {
			panic(l.cloneError(err))
		}
		return v
	}
	_ = p.Set("get", func(keysV, txnV goja.Value) goja.Value {
		o := obj()
		_ = o
		keys := keysOf(keysV)
		t := txnOf(txnV)
		got := l.readKeys(keys, t)
		flat := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			if v, ok := got[k]; ok {
				flat = append(flat, true, decode(v))
			} else {
				flat = append(flat, false, goja.Undefined())
			}
		}
		return vm.NewArray(flat...)
	})
	_ = p.Set("put", func(keysV, valuesV, txnV goja.Value) {
		o := obj()
		keys := keysOf(keysV)
		t := txnOf(txnV)
		vals := valuesV.ToObject(vm)
		enc := make([][]byte, len(keys))
		for i := range keys {
			b, err := sclone.EncodeInterruptible(vm, vals.Get(fmt.Sprint(i)), contract.MaxObjectRPCBytes, l.interrupted)
			if err != nil {
				panic(l.cloneError(err))
			}
			if len(b) > contract.MaxStorageValueBytes {
				l.throwError("RangeError", fmt.Sprintf("Values cannot be larger than %d bytes; a value of %d bytes was given", contract.MaxStorageValueBytes, len(b)))
			}
			enc[i] = b
		}
		if t != nil {
			if t.rolledBack {
				return
			}
			for i, k := range keys {
				t.write(k, enc[i])
			}
			l.txnBounded(t)
			return
		}
		l.makeRoom(writeSize(keys, enc), len(keys))
		for i, k := range keys {
			o.store.write(k, enc[i])
		}
	})
	_ = p.Set("del", func(keysV, txnV goja.Value) int {
		o := obj()
		keys := keysOf(keysV)
		t := txnOf(txnV)
		got := l.readKeys(keys, t)
		if t == nil {
			l.makeRoom(writeSize(keys, nil), len(keys))
		}
		for _, k := range keys {
			if t != nil {
				if !t.rolledBack {
					t.write(k, nil)
				}
			} else {
				o.store.write(k, nil)
			}
		}
		if t != nil {
			l.txnBounded(t)
		}
		return len(got)
	})
	_ = p.Set("list", func(call goja.FunctionCall) goja.Value {
		obj()
		str := func(i int) string {
			if v := call.Argument(i); !goja.IsUndefined(v) {
				return v.String()
			}
			return ""
		}
		o := contract.StorageListOptions{Start: str(0), StartAfter: str(1), End: str(2), Prefix: str(3), Reverse: call.Argument(4).ToBoolean()}
		// The store refuses a bound no key could be, and that failed the
		// whole event; the guest gets what a key that long gets.
		for _, b := range []struct{ name, v string }{{"start", o.Start}, {"startAfter", o.StartAfter}, {"end", o.End}, {"prefix", o.Prefix}} {
			if len(b.v) > contract.MaxStorageKeyBytes {
				l.throwError("RangeError", fmt.Sprintf("list: %s cannot be larger than %d bytes, as keys cannot; one of %d bytes was given", b.name, contract.MaxStorageKeyBytes, len(b.v)))
			}
		}
		if n := call.Argument(5).ToInteger(); n > 0 {
			o.Limit = int(min(n, 1<<30))
		}
		t := txnOf(call.Argument(6))
		entries := l.list(o, t)
		flat := make([]any, 0, 2*len(entries))
		for _, e := range entries {
			flat = append(flat, e.Key, decode(e.Value))
		}
		return vm.NewArray(flat...)
	})
	_ = p.Set("deleteAll", func() {
		o := obj()
		if o.sql != nil && o.sql.depth > 0 {
			panic(vm.NewTypeError("deleteAll cannot run inside transactionSync"))
		}
		o.store.clearAll()
		// The SQL database goes too: the next statement opens an empty one.
		o.closeSQL()
		o.sqlFresh = true
	})
	_ = p.Set("txnBegin", func() goja.Value {
		obj()
		return vm.ToValue(&txnLayer{writes: map[string][]byte{}})
	})
	_ = p.Set("txnEnd", func(txnV goja.Value, commit bool) {
		o := obj()
		t := txnOf(txnV)
		t.done = true
		if commit && !t.rolledBack {
			l.makeRoom(t.bytes, len(t.writes))
			for _, k := range contract.SortedKeys(t.writes) {
				o.store.write(k, t.writes[k])
			}
		}
	})
	_ = p.Set("rollback", func(txnV goja.Value) {
		t := txnOf(txnV)
		t.rolledBack = true
		clear(t.writes)
	})
	_ = p.Set("getAlarm", func() goja.Value {
		s := &obj().store
		if !s.alarmKnown {
			rep, err := l.hostSync(&contract.HostCall{Op: contract.OpStorageAlarm})
			if err != nil {
				l.storageFailed(err)
			}
			s.alarmVal, s.alarmKnown = rep.Alarm, true
		}
		if s.alarmVal == 0 {
			return goja.Null()
		}
		return vm.ToValue(s.alarmVal)
	})
	_ = p.Set("setAlarm", func(t float64) {
		s := &obj().store
		// The prelude checks the time with intrinsics a guest can
		// replace (Number.isFinite, Math.floor): past a Date's range it
		// would wrap in the int64, and the store refuse the batch.
		if math.IsNaN(t) || t < 0 || t > maxDateMs {
			l.throwError("TypeError", "setAlarm: scheduledTime must be a number (ms since the epoch) or a Date, within a Date's range")
		}
		ms := int64(t)
		s.alarm = &ms
		s.alarmVal, s.alarmKnown = ms, true
	})
	_ = p.Set("waitUntil", func(v goja.Value) {
		if o, ok := v.(*goja.Object); ok {
			if _, ok := o.Export().(*goja.Promise); ok {
				l.addWaitUntil(o)
			}
		}
	})
	_ = p.Set("block", func(v goja.Value) {
		o := obj()
		if po, ok := v.(*goja.Object); ok {
			if pr, ok := po.Export().(*goja.Promise); ok {
				o.blocking = append(o.blocking, pr)
			}
		}
	})
	_ = p.Set("broken", func(v goja.Value) {
		o := obj()
		if o.broken == nil {
			e := l.exception(v)
			o.broken = &guestError{name: e.Name, message: e.Message, stack: e.Stack}
		}
	})
}
