package jsengine

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sclone"
)

// objectPrelude builds the JS side of Durable Objects in a runtime: ids,
// namespaces and stubs (in any Worker with a durableObject binding), and a
// live object's ctx and ctx.storage. It is a function of the Go primitives
// (prim, never reachable by the guest) that returns the builders.
const objectPrelude = `(function (prim) {
"use strict";
const idRe = /^[0-9a-fA-F]{64}$/;
const errorTypes = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
const DOMEx = globalThis.DOMException;
function makeError(name, message) {
  if (name === "DataCloneError" && typeof DOMEx === "function") return new DOMEx(message, name);
  const E = Object.prototype.hasOwnProperty.call(errorTypes, name) ? errorTypes[name] : Error;
  const e = new E(message);
  if (e.name !== name) Object.defineProperty(e, "name", { value: name, writable: true, configurable: true });
  return e;
}
// An id keeps the namespace that made it (worker and class, as
// prim.namespaceOf gives them) under nsKey, which get() checks.
const nsKey = Symbol("namespace");
function makeId(hex, name, ns) {
  const id = {
    toString() { return hex; },
    toJSON() { return hex; },
    equals(other) { return other !== null && other !== undefined && String(other) === hex; },
  };
  if (name !== undefined) id.name = name;
  Object.defineProperty(id, nsKey, { value: ns });
  return Object.freeze(id);
}
function makeStub(binding, id) {
  const hex = String(id);
  if (!idRe.test(hex)) throw new TypeError("get: not a Durable Object id");
  const own = id[nsKey];
  prim.checkId("get", binding, hex.toLowerCase(), typeof own === "string" ? own : "");
  const name = id.name === undefined ? "" : String(id.name);
  const fetch = (input, init) => prim.fetch(binding, hex.toLowerCase(), name, input, init);
  const methods = new Map();
  return new Proxy({}, {
    get(_, k) {
      if (typeof k !== "string") return undefined;
      switch (k) {
        case "fetch": return fetch;
        case "id": return id;
        case "name": return id.name;
        case "then": return undefined;
      }
      let m = methods.get(k);
      if (m === undefined) {
        m = (...args) => prim.call(binding, hex.toLowerCase(), name, k, args);
        methods.set(k, m);
      }
      return m;
    },
    set() { return false; },
  });
}
function makeNamespace(binding) {
  const own = prim.namespaceOf(binding);
  const ns = {
    idFromName(name) { name = String(name); return makeId(prim.idFromName(binding, name), name, own); },
    newUniqueId() { return makeId(prim.newUniqueId(binding), undefined, own); },
    idFromString(s) {
      s = String(s);
      if (!idRe.test(s)) throw new TypeError("Invalid Durable Object ID: it must be 64 hex digits");
      s = s.toLowerCase();
      prim.checkId("idFromString", binding, s, "");
      return makeId(s, undefined, own);
    },
    get(id) {
      if (id === null || typeof id !== "object") throw new TypeError("get: the argument is not a Durable Object id");
      return makeStub(binding, id);
    },
    getByName(name) { return ns.get(ns.idFromName(name)); },
    jurisdiction() { return ns; },
  };
  return Object.freeze(ns);
}
const wrap = (f) => { try { return Promise.resolve(f()); } catch (e) { return Promise.reject(e); } };
const maxKeys = 128;
function checkKey(k) {
  if (typeof k !== "string") throw new TypeError("Durable Object storage keys must be strings");
}
function checkKeys(ks, what) {
  if (ks.length > maxKeys) throw new RangeError(what + ": at most " + maxKeys + " keys per call, not " + ks.length);
  for (const k of ks) checkKey(k);
}
// listFlat checks list's options and returns [key, value, key, value...].
function listFlat(o, txn) {
  if (o === undefined || o === null) o = {};
  if (typeof o !== "object") throw new TypeError("list: the options must be an object");
  const str = (n) => {
    const v = o[n];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw new TypeError("list: " + n + " must be a string");
    return v;
  };
  const limit = o.limit;
  if (limit !== undefined && (typeof limit !== "number" || !Number.isInteger(limit) || limit <= 0))
    throw new TypeError("list: limit must be a positive integer");
  if (o.start !== undefined && o.startAfter !== undefined)
    throw new TypeError("list: start and startAfter cannot both be given");
  return prim.list(str("start"), str("startAfter"), str("end"), str("prefix"), !!o.reverse, limit === undefined ? 0 : limit, txn);
}
function makeStorage(txn) {
  const s = {
    get(k) {
      return wrap(() => {
        if (Array.isArray(k)) {
          checkKeys(k, "get");
          const r = prim.get(k, txn), m = new Map();
          for (let i = 0; i < k.length; i++) if (r[2 * i]) m.set(k[i], r[2 * i + 1]);
          return m;
        }
        checkKey(k);
        return prim.get([k], txn)[1];
      });
    },
    put(k, v) {
      return wrap(() => {
        if (k !== null && typeof k === "object" && !Array.isArray(k)) {
          const ks = Object.keys(k);
          checkKeys(ks, "put");
          prim.put(ks, ks.map((x) => k[x]), txn);
          return;
        }
        checkKey(k);
        prim.put([k], [v], txn);
      });
    },
    delete(k) {
      return wrap(() => {
        if (Array.isArray(k)) {
          checkKeys(k, "delete");
          return prim.del(k, txn);
        }
        checkKey(k);
        return prim.del([k], txn) > 0;
      });
    },
    list(o) {
      return wrap(() => {
        const flat = listFlat(o, txn);
        const m = new Map();
        for (let i = 0; i < flat.length; i += 2) m.set(flat[i], flat[i + 1]);
        return m;
      });
    },
  };
  if (txn !== undefined) {
    s.rollback = () => { prim.rollback(txn); };
    return s;
  }
  s.deleteAll = () => wrap(() => { prim.deleteAll(); });
  s.transaction = async (fn) => {
    if (typeof fn !== "function") throw new TypeError("transaction: the callback is not a function");
    const t = prim.txnBegin();
    let r;
    try {
      r = await fn(makeStorage(t));
    } catch (e) {
      prim.txnEnd(t, false);
      throw e;
    }
    prim.txnEnd(t, true);
    return r;
  };
  s.getAlarm = () => wrap(() => prim.getAlarm());
  s.setAlarm = (t) => wrap(() => {
    const ms = typeof t === "number" ? t : t instanceof Date ? t.getTime() : NaN;
    // Past a Date's range (8.64e15 ms) a time is an Invalid Date; in
    // the int64 the store keeps, 1e300 would wrap to a negative time.
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw new TypeError("setAlarm: scheduledTime must be a number (ms since the epoch) or a Date, within a Date's range");
    prim.setAlarm(Math.max(1, Math.floor(ms)));
  });
  s.deleteAlarm = () => wrap(() => { prim.setAlarm(0); });
  s.sync = () => Promise.resolve();
  let sql;
  Object.defineProperty(s, "sql", { get() { if (sql === undefined) sql = makeSql(); return sql; }, enumerable: true });
  // The synchronous key-value API: the same keys as the asynchronous one.
  s.kv = Object.freeze({
    get(k) { checkKey(k); return prim.get([k], undefined)[1]; },
    put(k, v) { checkKey(k); prim.put([k], [v], undefined); },
    delete(k) { checkKey(k); return prim.del([k], undefined) > 0; },
    list(o) {
      const flat = listFlat(o, undefined);
      const out = [];
      for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
      return out[Symbol.iterator]();
    },
  });
  s.transactionSync = (fn) => {
    if (typeof fn !== "function") throw new TypeError("transactionSync: the callback is not a function");
    prim.sqlTxn(true, false);
    let r;
    try {
      r = fn();
    } catch (e) {
      prim.sqlTxn(false, false);
      throw e;
    }
    prim.sqlTxn(false, true);
    return r;
  };
  return Object.freeze(s);
}
function makeCursor(r) {
  const cols = r[0], rows = r[1];
  let i = 0;
  const obj = (row) => { const o = {}; for (let j = 0; j < cols.length; j++) o[cols[j]] = row[j]; return o; };
  const c = {
    next() { return i < rows.length ? { done: false, value: obj(rows[i++]) } : { done: true, value: undefined }; },
    toArray() { const out = []; while (i < rows.length) out.push(obj(rows[i++])); return out; },
    one() {
      const left = rows.length - i;
      if (left !== 1) throw new Error(left === 0 ? "Expected exactly one result from SQL query, but got no results." : "Expected exactly one result from SQL query, but got multiple results.");
      return obj(rows[i++]);
    },
    raw() {
      const it = {
        next() { return i < rows.length ? { done: false, value: rows[i++] } : { done: true, value: undefined }; },
        toArray() { const out = []; while (i < rows.length) out.push(rows[i++]); return out; },
        [Symbol.iterator]() { return it; },
      };
      return it;
    },
    [Symbol.iterator]() { return c; },
    get columnNames() { return cols.slice(); },
    get rowsRead() { return r[2]; },
    get rowsWritten() { return r[3]; },
  };
  return c;
}
function makeSql() {
  return Object.freeze({
    exec(query, ...bindings) {
      if (typeof query !== "string") throw new TypeError("exec: the query must be a string");
      return makeCursor(prim.sqlExec(query, bindings));
    },
    get databaseSize() { return prim.sqlSize(); },
  });
}
function makeCtx(hex, name, ns) {
  return {
    id: makeId(hex, name === "" ? undefined : name, ns),
    storage: makeStorage(undefined),
    waitUntil(p) { prim.waitUntil(p); },
    blockConcurrencyWhile(fn) {
      if (typeof fn !== "function") throw new TypeError("blockConcurrencyWhile: the callback is not a function");
      const p = (async () => fn())();
      p.then(undefined, (e) => prim.broken(e));
      prim.block(p);
      return p;
    },
  };
}
return { makeError, makeNamespace, makeCtx };
})`

var (
	preludeOnce sync.Once
	preludeProg *goja.Program
	preludeErr  error
)

// objSupport is the prelude's builders in one runtime.
type objSupport struct {
	makeError     goja.Callable
	makeNamespace goja.Callable
	makeCtx       goja.Callable
}

// support runs the prelude in the loop's runtime, once. It panics with
// the error if that fails (a guest that broke an intrinsic the prelude
// uses): call it from JS (a primitive), or through loadSupport.
func (l *loop) support() *objSupport {
	s, err := l.loadSupport()
	if err != nil {
		panic(l.vm.NewGoError(err))
	}
	return s
}

func (l *loop) loadSupport() (*objSupport, error) {
	if l.sup != nil {
		return l.sup, nil
	}
	preludeOnce.Do(func() { preludeProg, preludeErr = goja.Compile("warren:objects", objectPrelude, true) })
	if preludeErr != nil {
		return nil, preludeErr
	}
	vm := l.vm
	fv, err := vm.RunProgram(preludeProg)
	if err != nil {
		return nil, err
	}
	f, _ := goja.AssertFunction(fv)
	out, err := f(goja.Undefined(), l.primitives())
	if err != nil {
		return nil, err
	}
	o := out.ToObject(vm)
	fn := func(name string) goja.Callable { c, _ := goja.AssertFunction(o.Get(name)); return c }
	l.sup = &objSupport{makeError: fn("makeError"), makeNamespace: fn("makeNamespace"), makeCtx: fn("makeCtx")}
	return l.sup, nil
}

// jsError makes an Error of the given name (a standard one's class when
// it names one) and message.
func (l *loop) jsError(name, msg string) goja.Value {
	v, err := l.support().makeError(goja.Undefined(), l.vm.ToValue(name), l.vm.ToValue(msg))
	if err != nil {
		return l.vm.NewGoError(errors.New(msg))
	}
	return v
}

// throwError panics with an Error of the given name and message: the guest
// sees it thrown by the primitive it called.
func (l *loop) throwError(name, msg string) {
	panic(l.vm.ToValue(l.jsError(name, msg)).(*goja.Object))
}

// cloneError is the guest's exception for an sclone failure.
func (l *loop) cloneError(err error) goja.Value {
	var dce *sclone.DataCloneError
	if errors.As(err, &dce) {
		return l.jsError("DataCloneError", dce.Msg)
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return ex.Value()
	}
	return l.jsError("Error", err.Error())
}

// ObjectID is idFromName: hex(SHA-256("warren do v1\x00" + worker + "\x00"
// + class + "\x00" + name)).
func ObjectID(worker, class, name string) string {
	sum := sha256.Sum256([]byte("warren do v1\x00" + worker + "\x00" + class + "\x00" + name))
	return hex.EncodeToString(sum[:])
}

// NewUniqueObjectID is newUniqueId in the namespace of worker's class: 16
// random bytes, then 8 that mark the id as one that names its namespace
// (uniqueMark), then 8 that name it (uniqueTag). An object's storage is
// keyed by its id as it is, as it always was.
func NewUniqueObjectID(worker, class string) string {
	var b [32]byte
	_, _ = rand.Read(b[:16])
	copy(b[16:24], uniqueMark(b[:16]))
	copy(b[24:], uniqueTag(worker, class, b[:16]))
	return hex.EncodeToString(b[:])
}

func uniqueMark(r []byte) []byte {
	sum := sha256.Sum256(append([]byte("warren do unique v2\x00"), r...))
	return sum[:8]
}

func uniqueTag(worker, class string, r []byte) []byte {
	sum := sha256.Sum256(append([]byte("warren do unique v2\x00"+worker+"\x00"+class+"\x00"), r...))
	return sum[:8]
}

// ObjectIDBelongs reports whether id, 64 lower-case hex digits, may name an
// object of worker's class: false for an id NewUniqueObjectID made in
// another namespace (or for what is no id). Ids made from a name
// (ObjectID), and the unique ids made before they named their namespace
// (32 random bytes), say nothing of their namespace: they belong to
// any, as the objects stored under them must stay reachable. An old
// unique id carries the mark with a chance of 2^-64.
func ObjectIDBelongs(worker, class, id string) bool {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 32 {
		return false
	}
	if !bytes.Equal(b[16:24], uniqueMark(b[:16])) {
		return true
	}
	return bytes.Equal(b[24:], uniqueTag(worker, class, b[:16]))
}

// primitives is the Go side of the prelude.
func (l *loop) primitives() *goja.Object {
	vm := l.vm
	p := vm.NewObject()
	binding := func(name string) *contract.DurableObjectBinding {
		b, ok := l.call.bindings[name]
		if !ok || b.DurableObject == nil {
			panic(vm.NewTypeError("%q is not a Durable Object binding", name))
		}
		return b.DurableObject
	}
	_ = p.Set("idFromName", func(bname, name string) string {
		b := binding(bname)
		return ObjectID(b.Worker, b.Class, name)
	})
	_ = p.Set("newUniqueId", func(bname string) string {
		b := binding(bname)
		return NewUniqueObjectID(b.Worker, b.Class)
	})
	_ = p.Set("namespaceOf", func(bname string) string {
		b := binding(bname)
		return b.Worker + "\x00" + b.Class
	})
	// checkId throws the TypeError of an id that another namespace made:
	// own is the namespace the id object says made it ("" when it says
	// none), and a unique id names its own.
	_ = p.Set("checkId", func(what, bname, id, own string) {
		b := binding(bname)
		if own != "" && own != b.Worker+"\x00"+b.Class {
			w, c, _ := strings.Cut(own, "\x00")
			l.throwError("TypeError", fmt.Sprintf("%s: the Durable Object id was made by the namespace of class %s of Worker %s, not by this one (class %s of Worker %s)", what, c, w, b.Class, b.Worker))
		}
		if !ObjectIDBelongs(b.Worker, b.Class, id) {
			l.throwError("TypeError", fmt.Sprintf("%s: the Durable Object id %s belongs to another namespace than this one (class %s of Worker %s)", what, id, b.Class, b.Worker))
		}
	})
	_ = p.Set("fetch", func(call goja.FunctionCall) goja.Value {
		ref := &contract.ObjectRef{ID: call.Argument(1).String(), Name: call.Argument(2).String()}
		return l.fetchVia(contract.OpDOFetch, call.Argument(0).String(), ref, call.Argument(3), call.Argument(4))
	})
	_ = p.Set("call", func(call goja.FunctionCall) goja.Value {
		ref := &contract.ObjectRef{ID: call.Argument(1).String(), Name: call.Argument(2).String()}
		return l.stubCall(call.Argument(0).String(), ref, call.Argument(3).String(), call.Argument(4))
	})
	l.storagePrimitives(p)
	return p
}

// stubCall is an RPC call on a Durable Object stub: a promise of the
// decoded return value.
func (l *loop) stubCall(binding string, ref *contract.ObjectRef, method string, args goja.Value) goja.Value {
	vm := l.vm
	p, resolve, reject := vm.NewPromise()
	if err := l.subrequest(); err != nil {
		_ = reject(l.jsError("Error", err.Error()))
		return vm.ToValue(p)
	}
	enc, err := sclone.EncodeInterruptible(vm, args, contract.MaxObjectRPCBytes, l.interrupted)
	if err != nil {
		_ = reject(l.cloneError(err))
		return vm.ToValue(p)
	}
	if err := l.flushWrites(); err != nil {
		_ = reject(l.jsError("Error", err.Error()))
		return vm.ToValue(p)
	}
	l.hostAsync(&contract.HostCall{Op: contract.OpDOCall, Binding: binding, Object: ref, Method: method, Args: enc}, func(rep *contract.HostReply, err error) {
		switch {
		case err != nil:
			_ = reject(l.jsError("Error", err.Error()))
		case rep.Thrown != nil:
			_ = reject(l.jsError(rep.Thrown.Name, rep.Thrown.Message))
		case rep.Error != "":
			_ = reject(l.jsError("Error", rep.Error))
		case rep.Value == nil:
			_ = resolve(goja.Undefined())
		default:
			v, err := sclone.DecodeInterruptible(vm, rep.Value, l.interrupted)
			if err != nil {
				_ = reject(l.cloneError(err))
				return
			}
			_ = resolve(v)
		}
	})
	return vm.ToValue(p)
}
