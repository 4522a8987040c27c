'use strict';
// node:buffer: the npm package buffer (vendor/buffer, with base64-js and
// ieee754), plus the members of Node's module that it lacks.
const b = require('./vendor/buffer/index.js');

const kStringMaxLength = (1 << 29) - 24; // V8's, as in Node

exports.Buffer = b.Buffer;
exports.SlowBuffer = b.SlowBuffer;
exports.INSPECT_MAX_BYTES = b.INSPECT_MAX_BYTES;
exports.kMaxLength = b.kMaxLength;
exports.kStringMaxLength = kStringMaxLength;
exports.constants = Object.freeze({ MAX_LENGTH: b.kMaxLength, MAX_STRING_LENGTH: kStringMaxLength });
exports.atob = (data) => globalThis.atob(data);
exports.btoa = (data) => globalThis.btoa(data);
exports.isUtf8 = (input) => {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(input);
    return true;
  } catch (e) {
    if (e instanceof TypeError && !ArrayBuffer.isView(input) && !(input instanceof ArrayBuffer)) throw e;
    return false;
  }
};
exports.isAscii = (input) => {
  const u8 = ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
  for (let i = 0; i < u8.length; i++) if (u8[i] > 0x7f) return false;
  return true;
};
Object.defineProperty(exports, 'Blob', { enumerable: true, get: () => globalThis.Blob });
