'use strict';
// Deep equality, as Node's assert.deepStrictEqual (strict) and
// assert.deepEqual (loose) and util.isDeepStrictEqual compare.
const types = require('./types.js');

const toString = (v) => Object.prototype.toString.call(v);
const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isEnumerable = (o, k) => Object.prototype.propertyIsEnumerable.call(o, k);

function ownKeys(o, strict) {
  const keys = Object.keys(o);
  if (strict) {
    for (const s of Object.getOwnPropertySymbols(o)) if (isEnumerable(o, s)) keys.push(s);
  }
  return keys;
}

function isDeepEqual(a, b, strict) {
  return inner(a, b, strict, { a: [], b: [] });
}

function primitiveEqual(a, b, strict) {
  if (strict) return Object.is(a, b);
  // eslint-disable-next-line eqeqeq
  return a == b || (a !== a && b !== b);
}

function inner(a, b, strict, memos) {
  if (a === b) return a !== 0 || !strict || Object.is(a, b);
  const ta = typeof a, tb = typeof b;
  if (a === null || (ta !== 'object' && ta !== 'function') || b === null || (tb !== 'object' && tb !== 'function')) {
    if (strict) return Object.is(a, b);
    if ((a !== null && ta === 'object') || (b !== null && tb === 'object')) return false;
    return primitiveEqual(a, b, false);
  }
  if (ta === 'function' || tb === 'function') return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (toString(a) !== toString(b)) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  // Cycles: a pair already being compared is taken as equal.
  for (let i = 0; i < memos.a.length; i++) {
    if (memos.a[i] === a && memos.b[i] === b) return true;
  }
  memos.a.push(a);
  memos.b.push(b);
  try {
    return compareObjects(a, b, strict, memos);
  } finally {
    memos.a.pop();
    memos.b.pop();
  }
}

function compareObjects(a, b, strict, memos) {
  if (types.isDate(a)) {
    if (!types.isDate(b) || a.getTime() !== b.getTime()) return false;
  } else if (types.isRegExp(a)) {
    if (!types.isRegExp(b) || a.source !== b.source || a.flags !== b.flags || a.lastIndex !== b.lastIndex) return false;
  } else if (types.isNativeError(a) || a instanceof Error) {
    if (a.message !== b.message || a.name !== b.name) return false;
  } else if (ArrayBuffer.isView(a)) {
    if (!ArrayBuffer.isView(b)) return false;
    const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    if (!strict && (types.isFloat32Array(a) || types.isFloat64Array(a))) {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    } else {
      if (ua.length !== ub.length) return false;
      for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
    }
    // Only the non-index keys are left to compare.
    return keysEqual(a, b, strict, memos, (k) => typeof k === 'symbol' || !/^\d+$/.test(k));
  } else if (types.isAnyArrayBuffer(a)) {
    if (!types.isAnyArrayBuffer(b) || a.byteLength !== b.byteLength) return false;
    const ua = new Uint8Array(a), ub = new Uint8Array(b);
    for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  } else if (types.isBoxedPrimitive(a)) {
    if (!types.isBoxedPrimitive(b) || !Object.is(a.valueOf(), b.valueOf())) return false;
  } else if (types.isBoxedPrimitive(b)) {
    return false;
  }
  if (Array.isArray(a) && a.length !== b.length) return false;
  if (!keysEqual(a, b, strict, memos)) return false;
  if (types.isMap(a)) return types.isMap(b) && mapEqual(a, b, strict, memos);
  if (types.isSet(a)) return types.isSet(b) && setEqual(a, b, strict, memos);
  return true;
}

function keysEqual(a, b, strict, memos, filter) {
  let ka = ownKeys(a, strict), kb = ownKeys(b, strict);
  if (filter) {
    ka = ka.filter(filter);
    kb = kb.filter(filter);
  }
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!hasOwn(b, k) || !isEnumerable(b, k)) return false;
  }
  for (const k of ka) {
    if (!inner(a[k], b[k], strict, memos)) return false;
  }
  return true;
}

function setEqual(a, b, strict, memos) {
  if (a.size !== b.size) return false;
  let rest = null;
  for (const v of a) {
    if (v !== null && typeof v === 'object') {
      (rest || (rest = [])).push(v);
    } else if (!b.has(v)) {
      if (strict) return false;
      let found = false;
      for (const w of b) {
        if ((w === null || typeof w !== 'object') && primitiveEqual(v, w, false)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
  }
  if (rest === null) return true;
  const pool = [];
  for (const w of b) if (w !== null && typeof w === 'object') pool.push(w);
  return matchAll(rest, pool, (x, y) => inner(x, y, strict, memos));
}

function mapEqual(a, b, strict, memos) {
  if (a.size !== b.size) return false;
  let rest = null;
  for (const [k, v] of a) {
    if (k !== null && typeof k === 'object') {
      (rest || (rest = [])).push([k, v]);
    } else if (!b.has(k) || !inner(v, b.get(k), strict, memos)) {
      if (strict) return false;
      let found = false;
      for (const [k2, v2] of b) {
        if ((k2 === null || typeof k2 !== 'object') && primitiveEqual(k, k2, false) && inner(v, v2, strict, memos)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
  }
  if (rest === null) return true;
  const pool = [];
  for (const e of b) if (e[0] !== null && typeof e[0] === 'object') pool.push(e);
  return matchAll(rest, pool, (x, y) => inner(x[0], y[0], strict, memos) && inner(x[1], y[1], strict, memos));
}

// matchAll pairs each of xs with a distinct equal element of ys.
function matchAll(xs, ys, eq) {
  if (xs.length !== ys.length) return false;
  const used = new Array(ys.length).fill(false);
  outer: for (const x of xs) {
    for (let i = 0; i < ys.length; i++) {
      if (!used[i] && eq(x, ys[i])) {
        used[i] = true;
        continue outer;
      }
    }
    return false;
  }
  return true;
}

module.exports = { isDeepEqual };
