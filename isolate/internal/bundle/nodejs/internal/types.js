'use strict';
// Brand checks for util.types: each asks the engine whether a value has
// the internal slot, as Node's do, rather than trusting Symbol.toStringTag.
// What a check needs of the builtins is looked up on its first call: a
// builtin (Map, WeakSet, DataView, ...) costs the engine its set-up the
// first time it is touched, and a Worker loads this module on every call.
const uncurry = (f) => (self, ...args) => Reflect.apply(f, self, args);
const toString = (v) => Object.prototype.toString.call(v);
const getter = (proto, name) => uncurry(Object.getOwnPropertyDescriptor(proto, name).get);

// has(name, make) is a brand check for the builtin type name: the check
// make() returns throws a TypeError for a value without the slot. It is
// tried only when the value's tag says name, since a throw costs a stack
// trace (of the depth of the caller, for deep comparisons).
const has = (name, make) => {
  let check;
  return (v) => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return false;
    const tag = v[Symbol.toStringTag];
    if (tag === undefined ? toString(v) !== '[object ' + name + ']' : tag !== name) return false;
    check = check || make();
    try {
      check(v);
      return true;
    } catch (e) {
      if (e instanceof TypeError) return false; // not of the type
      throw e; // a RangeError of a stack at its limit is not an answer
    }
  };
};

let typedArrayTag;
const tag = (v) => {
  if (!ArrayBuffer.isView(v)) return undefined;
  typedArrayTag = typedArrayTag || getter(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag);
  return typedArrayTag(v);
};
const isTag = (name) => (v) => tag(v) === name;

const isDate = has('Date', () => uncurry(Date.prototype.getTime));
const regExpSource = has('RegExp', () => getter(RegExp.prototype, 'source'));
const isRegExp = (v) => v !== RegExp.prototype && regExpSource(v);
const isMap = has('Map', () => getter(Map.prototype, 'size'));
const isSet = has('Set', () => getter(Set.prototype, 'size'));
const isWeakMap = has('WeakMap', () => uncurry(WeakMap.prototype.has));
const isWeakSet = has('WeakSet', () => uncurry(WeakSet.prototype.has));
const isArrayBuffer = has('ArrayBuffer', () => getter(ArrayBuffer.prototype, 'byteLength'));
const isSharedArrayBuffer = has('SharedArrayBuffer', () => getter(SharedArrayBuffer.prototype, 'byteLength'));
const isDataView = has('DataView', () => getter(DataView.prototype, 'byteLength'));
const isTypedArray = (v) => tag(v) !== undefined;
const isPromise = (v) => v instanceof Promise || toString(v) === '[object Promise]';
const isNativeError = (v) => v instanceof Error || (v !== null && typeof v === 'object' && toString(v) === '[object Error]');
const boxed = (name, proto) => {
  const check = has(name, () => uncurry(proto().valueOf));
  return (v) => typeof v === 'object' && check(v);
};
const isNumberObject = boxed('Number', () => Number.prototype);
const isStringObject = boxed('String', () => String.prototype);
const isBooleanObject = boxed('Boolean', () => Boolean.prototype);
const isBigIntObject = boxed('BigInt', () => BigInt.prototype);
const isSymbolObject = boxed('Symbol', () => Symbol.prototype);
const fnKind = (make) => {
  let ctor;
  return (v) => typeof v === 'function' && v instanceof (ctor = ctor || make());
};

module.exports = {
  isAnyArrayBuffer: (v) => isArrayBuffer(v) || isSharedArrayBuffer(v),
  isArrayBuffer,
  isArrayBufferView: (v) => ArrayBuffer.isView(v),
  isArgumentsObject: (v) => toString(v) === '[object Arguments]',
  isAsyncFunction: fnKind(() => Object.getPrototypeOf(async function () {}).constructor),
  isBigInt64Array: isTag('BigInt64Array'),
  isBigUint64Array: isTag('BigUint64Array'),
  isBooleanObject,
  isBoxedPrimitive: (v) => isNumberObject(v) || isStringObject(v) || isBooleanObject(v) || isBigIntObject(v) || isSymbolObject(v),
  isBigIntObject,
  isDataView,
  isDate,
  isFloat32Array: isTag('Float32Array'),
  isFloat64Array: isTag('Float64Array'),
  isGeneratorFunction: fnKind(() => Object.getPrototypeOf(function* () {}).constructor),
  isGeneratorObject: (v) => toString(v) === '[object Generator]',
  isInt8Array: isTag('Int8Array'),
  isInt16Array: isTag('Int16Array'),
  isInt32Array: isTag('Int32Array'),
  isMap,
  isMapIterator: (v) => toString(v) === '[object Map Iterator]',
  isModuleNamespaceObject: (v) => toString(v) === '[object Module]',
  isNativeError,
  isNumberObject,
  isPromise,
  isProxy: () => false, // a Proxy cannot be told apart from inside JavaScript
  isRegExp,
  isSet,
  isSetIterator: (v) => toString(v) === '[object Set Iterator]',
  isSharedArrayBuffer,
  isStringObject,
  isSymbolObject,
  isTypedArray,
  isUint8Array: isTag('Uint8Array'),
  isUint8ClampedArray: isTag('Uint8ClampedArray'),
  isUint16Array: isTag('Uint16Array'),
  isUint32Array: isTag('Uint32Array'),
  isWeakMap,
  isWeakSet,
  isKeyObject: () => false,
  isCryptoKey: (v) => typeof CryptoKey === 'function' && v instanceof CryptoKey,
};
