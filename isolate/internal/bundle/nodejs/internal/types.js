'use strict';
// Brand checks for util.types: each asks the engine whether a value has
// the internal slot, as Node's do, rather than trusting Symbol.toStringTag.
const uncurry = (f) => (self, ...args) => Reflect.apply(f, self, args);
const toString = uncurry(Object.prototype.toString);
const getter = (proto, name) => uncurry(Object.getOwnPropertyDescriptor(proto, name).get);
// has(check, name) is a brand check for the builtin type name: check
// throws a TypeError for a value without the slot. It is tried only when
// the value's tag says name, since a throw costs a stack trace (of the
// depth of the caller, for deep comparisons).
const has = (check, name) => (v) => {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return false;
  const tag = v[Symbol.toStringTag];
  if (tag === undefined ? toString(v) !== '[object ' + name + ']' : tag !== name) return false;
  try {
    check(v);
    return true;
  } catch (e) {
    if (e instanceof TypeError) return false; // not of the type
    throw e; // a RangeError of a stack at its limit is not an answer
  }
};
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTag = getter(TypedArrayProto, Symbol.toStringTag);
const tag = (v) => (ArrayBuffer.isView(v) ? typedArrayTag(v) : undefined);
const isTag = (name) => (v) => tag(v) === name;
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;

const isDate = has(uncurry(Date.prototype.getTime), 'Date');
const regExpSource = has(getter(RegExp.prototype, 'source'), 'RegExp');
const isRegExp = (v) => v !== RegExp.prototype && regExpSource(v);
const isMap = has(getter(Map.prototype, 'size'), 'Map');
const isSet = has(getter(Set.prototype, 'size'), 'Set');
const isWeakMap = has(uncurry(WeakMap.prototype.has), 'WeakMap');
const isWeakSet = has(uncurry(WeakSet.prototype.has), 'WeakSet');
const isArrayBuffer = has(getter(ArrayBuffer.prototype, 'byteLength'), 'ArrayBuffer');
const isSharedArrayBuffer = typeof SharedArrayBuffer === 'function' ? has(getter(SharedArrayBuffer.prototype, 'byteLength'), 'SharedArrayBuffer') : () => false;
const isDataView = has(getter(DataView.prototype, 'byteLength'), 'DataView');
const isTypedArray = (v) => tag(v) !== undefined;
const isPromise = (v) => v instanceof Promise || toString(v) === '[object Promise]';
const isNativeError = (v) => v instanceof Error || (v !== null && typeof v === 'object' && toString(v) === '[object Error]');
const boxed = (proto, name) => has(uncurry(proto.valueOf), name);
const isNumberObject = (v) => typeof v === 'object' && boxed(Number.prototype, 'Number')(v);
const isStringObject = (v) => typeof v === 'object' && boxed(String.prototype, 'String')(v);
const isBooleanObject = (v) => typeof v === 'object' && boxed(Boolean.prototype, 'Boolean')(v);
const isBigIntObject = (v) => typeof v === 'object' && typeof BigInt === 'function' && boxed(BigInt.prototype, 'BigInt')(v);
const isSymbolObject = (v) => typeof v === 'object' && boxed(Symbol.prototype, 'Symbol')(v);

module.exports = {
  isAnyArrayBuffer: (v) => isArrayBuffer(v) || isSharedArrayBuffer(v),
  isArrayBuffer,
  isArrayBufferView: (v) => ArrayBuffer.isView(v),
  isArgumentsObject: (v) => toString(v) === '[object Arguments]',
  isAsyncFunction: (v) => typeof v === 'function' && v instanceof AsyncFunction,
  isBigInt64Array: isTag('BigInt64Array'),
  isBigUint64Array: isTag('BigUint64Array'),
  isBooleanObject,
  isBoxedPrimitive: (v) => isNumberObject(v) || isStringObject(v) || isBooleanObject(v) || isBigIntObject(v) || isSymbolObject(v),
  isBigIntObject,
  isDataView,
  isDate,
  isFloat32Array: isTag('Float32Array'),
  isFloat64Array: isTag('Float64Array'),
  isGeneratorFunction: (v) => typeof v === 'function' && v instanceof GeneratorFunction,
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
