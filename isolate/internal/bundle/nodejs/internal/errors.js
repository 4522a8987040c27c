'use strict';
// Node's coded errors, for the messages and codes its modules throw.
const describe = (v) => {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'function ' + (v.name || '<anonymous>');
  if (typeof v === 'object') {
    if (v.constructor && v.constructor.name) return 'an instance of ' + v.constructor.name;
    return 'an instance of Object';
  }
  let s = typeof v === 'bigint' ? String(v) + 'n' : typeof v === 'string' ? "'" + v + "'" : String(v);
  if (s.length > 28) s = s.slice(0, 25) + '...';
  return 'type ' + typeof v + ' (' + s + ')';
};

function coded(Base, code, message) {
  const err = new Base(message);
  err.code = code;
  return err;
}

const invalidArgType = (name, expected, actual) =>
  coded(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "' + name + '" argument must be ' + expected + '. Received ' + describe(actual));

const outOfRange = (name, range, actual) =>
  coded(RangeError, 'ERR_OUT_OF_RANGE', 'The value of "' + name + '" is out of range. It must be ' + range + '. Received ' + String(actual));

module.exports = { coded, describe, invalidArgType, outOfRange };
