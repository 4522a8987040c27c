'use strict';
// node:crypto: hashes and HMAC computed in Go (md5, sha1, sha256, sha384,
// sha512), random values from the Web Crypto API's source, and the Web
// Crypto API itself as webcrypto.
const { Buffer } = require('buffer');
const { coded, invalidArgType, outOfRange } = require('./internal/errors.js');

const host = () => globalThis.__warrenNode;
const HASHES = ['md5', 'sha1', 'sha256', 'sha384', 'sha512'];

// toBytes turns update()'s data into a Uint8Array.
function toBytes(data, encoding, what) {
  if (typeof data === 'string') {
    if (encoding === undefined || encoding === 'utf8' || encoding === 'utf-8' || encoding === 'buffer') {
      return new TextEncoder().encode(data);
    }
    return Buffer.from(data, encoding);
  }
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw invalidArgType(what, 'of type string or an instance of Buffer, TypedArray, or DataView', data);
}

function output(ab, encoding) {
  const buf = Buffer.from(ab);
  return encoding === undefined || encoding === 'buffer' ? buf : buf.toString(encoding);
}

class Hash {
  #h;
  #done = false;
  constructor(algorithm, state) {
    this.#h = state;
  }
  update(data, encoding) {
    if (this.#done) throw coded(Error, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
    this.#h.update(toBytes(data, encoding, 'data'));
    return this;
  }
  digest(encoding) {
    if (this.#done) throw coded(Error, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
    this.#done = true;
    return output(this.#h.digest(), encoding);
  }
  copy() {
    if (this.#done) throw coded(Error, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
    return new Hash(undefined, this.#h.copy());
  }
}

class Hmac {
  #h;
  #done = false;
  constructor(state) {
    this.#h = state;
  }
  update(data, encoding) {
    if (this.#done) throw coded(Error, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
    this.#h.update(toBytes(data, encoding, 'data'));
    return this;
  }
  digest(encoding) {
    if (this.#done) return output(new ArrayBuffer(0), encoding); // as Node: an empty digest
    this.#done = true;
    return output(this.#h.digest(), encoding);
  }
}

function createHash(algorithm, options) {
  if (typeof algorithm !== 'string') throw invalidArgType('algorithm', 'of type string', algorithm);
  void options;
  const h = host().hash(algorithm);
  if (h === null) throw new Error('Digest method not supported');
  return new Hash(algorithm, h);
}

function createHmac(hmac, key, options) {
  if (typeof hmac !== 'string') throw invalidArgType('hmac', 'of type string', hmac);
  void options;
  if (key !== null && typeof key === 'object' && typeof key.export === 'function') key = key.export();
  const k = toBytes(key, undefined, 'key');
  const h = host().hmac(hmac, k);
  if (h === null) throw coded(TypeError, 'ERR_CRYPTO_INVALID_DIGEST', 'Invalid digest: ' + hmac);
  return new Hmac(h);
}

function hash(algorithm, data, outputEncoding = 'hex') {
  return createHash(algorithm).update(data).digest(outputEncoding);
}

const kMaxLength = 2 ** 31 - 1;

// pbkdf2Sync derives in steps of 4096 HMACs, each a call into Go, so that
// the CPU limit can stop a huge iteration count.
function pbkdf2Sync(password, salt, iterations, keylen, digest) {
  const p = toBytes(password, undefined, 'password');
  const s = toBytes(salt, undefined, 'salt');
  if (typeof iterations !== 'number') throw invalidArgType('iterations', 'of type number', iterations);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > kMaxLength) throw outOfRange('iterations', '>= 1 && <= ' + kMaxLength, iterations);
  if (typeof keylen !== 'number') throw invalidArgType('keylen', 'of type number', keylen);
  if (!Number.isInteger(keylen) || keylen < 0 || keylen > kMaxLength) throw outOfRange('keylen', '>= 0 && <= ' + kMaxLength, keylen);
  if (typeof digest !== 'string') throw invalidArgType('digest', 'of type string', digest);
  const st = host().pbkdf2(digest, p, s, iterations, keylen);
  if (st === null) throw coded(TypeError, 'ERR_CRYPTO_INVALID_DIGEST', 'Invalid digest: ' + digest);
  while (!st.step(4096));
  return Buffer.from(st.result());
}

function pbkdf2(password, salt, iterations, keylen, digest, callback) {
  if (typeof digest === 'function') {
    callback = digest;
    digest = undefined;
  }
  if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
  const key = pbkdf2Sync(password, salt, iterations, keylen, digest);
  queueMicrotask(() => callback(null, key));
}

function hkdfSync(digest, ikm, salt, info, keylen) {
  if (typeof digest !== 'string') throw invalidArgType('digest', 'of type string', digest);
  if (ikm !== null && typeof ikm === 'object' && typeof ikm.export === 'function') ikm = ikm.export();
  const k = toBytes(ikm, undefined, 'ikm');
  const s = toBytes(salt, undefined, 'salt');
  const i = toBytes(info, undefined, 'info');
  if (i.length > 1024) throw outOfRange('info', 'must not contain more than 1024 bytes', i.length);
  if (typeof keylen !== 'number') throw invalidArgType('length', 'of type number', keylen);
  if (!Number.isInteger(keylen) || keylen < 0 || keylen > kMaxLength) throw outOfRange('length', '>= 0 && <= ' + kMaxLength, keylen);
  let out;
  try {
    out = host().hkdf(digest, k, s, i, keylen);
  } catch (e) {
    if (e instanceof RangeError) throw coded(RangeError, 'ERR_CRYPTO_INVALID_KEYLEN', 'Invalid key length');
    throw e;
  }
  if (out === null) throw coded(TypeError, 'ERR_CRYPTO_INVALID_DIGEST', 'Invalid digest: ' + digest);
  return out;
}

function hkdf(digest, ikm, salt, info, keylen, callback) {
  if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
  const key = hkdfSync(digest, ikm, salt, info, keylen);
  queueMicrotask(() => callback(null, key));
}

function fill(u8) {
  for (let i = 0; i < u8.length; i += 65536) {
    globalThis.crypto.getRandomValues(u8.subarray(i, Math.min(i + 65536, u8.length)));
  }
  return u8;
}

function checkSize(size, name, max) {
  if (typeof size !== 'number') throw invalidArgType(name, 'of type number', size);
  if (!(size >= 0 && size <= max) || !Number.isInteger(size)) throw outOfRange(name, '>= 0 && <= ' + max, size);
}

function randomBytes(size, callback) {
  checkSize(size, 'size', kMaxLength);
  if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
  const buf = Buffer.alloc(size);
  fill(buf);
  if (callback === undefined) return buf;
  queueMicrotask(() => callback(null, buf));
}

function randomFillSync(buf, offset = 0, size) {
  if (!ArrayBuffer.isView(buf) && !(buf instanceof ArrayBuffer)) throw invalidArgType('buf', 'an instance of ArrayBuffer or ArrayBufferView', buf);
  const u8 = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  checkSize(offset, 'offset', u8.length);
  if (size === undefined) size = u8.length - offset;
  checkSize(size, 'size', u8.length - offset);
  fill(u8.subarray(offset, offset + size));
  return buf;
}

function randomFill(buf, offset, size, callback) {
  if (typeof offset === 'function') {
    callback = offset;
    offset = 0;
    size = undefined;
  } else if (typeof size === 'function') {
    callback = size;
    size = undefined;
  }
  if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
  randomFillSync(buf, offset, size);
  queueMicrotask(() => callback(null, buf));
}

// randomInt follows Node: a uniform integer in [min, max), by rejection
// sampling 48-bit values.
function randomInt(min, max, callback) {
  if (typeof max === 'undefined' || typeof max === 'function') {
    callback = max;
    max = min;
    min = 0;
  }
  if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
  if (!Number.isSafeInteger(min)) throw invalidArgType('min', 'a safe integer', min);
  if (!Number.isSafeInteger(max)) throw invalidArgType('max', 'a safe integer', max);
  if (max <= min) throw outOfRange('max', 'greater than the value of "min" (' + min + ')', max);
  const range = max - min;
  if (range > 2 ** 48 - 1) throw outOfRange('max - min', '<= 281474976710655', range);
  const limit = 2 ** 48 - (2 ** 48 % range);
  const b = new Uint8Array(6);
  let n;
  do {
    fill(b);
    n = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
  } while (n >= limit);
  const r = min + (n % range);
  if (callback === undefined) return r;
  queueMicrotask(() => callback(null, r));
}

function timingSafeEqual(a, b) {
  if (!ArrayBuffer.isView(a) && !(a instanceof ArrayBuffer)) throw invalidArgType('buf1', 'an instance of ArrayBuffer, Buffer, TypedArray, or DataView', a);
  if (!ArrayBuffer.isView(b) && !(b instanceof ArrayBuffer)) throw invalidArgType('buf2', 'an instance of ArrayBuffer, Buffer, TypedArray, or DataView', b);
  const x = a instanceof ArrayBuffer ? new Uint8Array(a) : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length) throw coded(RangeError, 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH', 'Input buffers must have the same byte length');
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

module.exports = {
  createHash,
  createHmac,
  hash,
  getHashes: () => HASHES.slice(),
  randomBytes,
  randomFill,
  randomFillSync,
  randomInt,
  randomUUID: () => globalThis.crypto.randomUUID(),
  getRandomValues: (array) => globalThis.crypto.getRandomValues(array),
  timingSafeEqual,
  pbkdf2,
  pbkdf2Sync,
  hkdf,
  hkdfSync,
  Hash,
  Hmac,
  constants: {},
};
Object.defineProperty(module.exports, 'webcrypto', { enumerable: true, get: () => globalThis.crypto });
Object.defineProperty(module.exports, 'subtle', { enumerable: true, get: () => globalThis.crypto.subtle });
