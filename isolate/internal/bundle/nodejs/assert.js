'use strict';
// node:assert. The checks are Node's; the messages are Node's for values
// that inspect to one line, and a plain "+ actual / - expected" pair
// instead of Node's line diff otherwise. assert.ok cannot quote the
// caller's source, so it shows the value: "assert.ok(false)".
const { isDeepEqual } = require('./internal/compare.js');
const { invalidArgType } = require('./internal/errors.js');
const types = require('./internal/types.js');

const inspect = (v) => globalThis.__warrenNode.inspect(v, 2);

class AssertionError extends Error {
  constructor(options) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const { message, actual, expected, operator, stackStartFn } = options;
    super(message !== undefined ? String(message) : defaultMessage(actual, expected, operator));
    this.generatedMessage = message === undefined;
    this.code = 'ERR_ASSERTION';
    this.actual = actual;
    this.expected = expected;
    this.operator = operator;
    void stackStartFn;
  }
  get name() {
    return 'AssertionError';
  }
  toString() {
    return 'AssertionError [ERR_ASSERTION]: ' + this.message;
  }
}

function oneLine(v) {
  if (v !== null && (typeof v === 'object' || typeof v === 'function')) return null;
  const s = inspect(v);
  return s.indexOf('\n') < 0 && s.length <= 80 ? s : null;
}

function pairMessage(head, actual, expected, sep) {
  const a = oneLine(actual), e = oneLine(expected);
  if (a !== null && e !== null && (a !== e || sep !== '!==')) return head + ':\n\n' + a + ' ' + sep + ' ' + e + '\n';
  return head + ':\n+ actual - expected\n\n+ ' + inspect(actual) + '\n- ' + inspect(expected);
}

function defaultMessage(actual, expected, operator) {
  switch (operator) {
    case 'deepStrictEqual':
      return pairMessage('Expected values to be strictly deep-equal', actual, expected, '!==');
    case 'strictEqual':
      if (actual !== null && typeof actual === 'object' && expected !== null && typeof expected === 'object' && inspect(actual) === inspect(expected)) {
        return 'Values have same structure but are not reference-equal:\n\n' + inspect(actual) + '\n';
      }
      return pairMessage('Expected values to be strictly equal', actual, expected, '!==');
    case 'deepEqual':
      return 'Expected values to be loosely deep-equal:\n\n' + inspect(actual) + '\n\nshould loosely deep-equal\n\n' + inspect(expected);
    case 'notDeepStrictEqual':
      return 'Expected "actual" not to be strictly deep-equal to:\n\n' + inspect(expected) + '\n';
    case 'notStrictEqual':
      return 'Expected "actual" to be strictly unequal to: ' + inspect(expected);
    case 'notDeepEqual':
      return '"actual" deepEqual "expected"';
    case 'fail':
      return 'Failed';
  }
  return inspect(actual) + ' ' + operator + ' ' + inspect(expected);
}

function fail(actual, expected, message, operator, stackStartFn) {
  const argsLen = arguments.length;
  let internal = false;
  if ((actual === undefined || actual === null) && argsLen <= 1) {
    internal = true;
    message = 'Failed';
  } else if (argsLen === 1) {
    message = actual;
    actual = undefined;
  } else if (argsLen === 2) {
    operator = '!=';
  }
  if (message instanceof Error) throw message;
  const err = new AssertionError({ actual, expected, operator: operator === undefined ? 'fail' : operator, stackStartFn: stackStartFn || fail, message });
  err.generatedMessage = internal;
  throw err;
}

function innerOk(fn, argLen, value, message) {
  if (value) return;
  if (message instanceof Error) throw message;
  let generated = false;
  if (argLen === 0) {
    message = 'No value argument passed to `assert.ok()`';
    generated = true;
  } else if (message === undefined) {
    message = 'The expression evaluated to a falsy value:\n\n  assert.ok(' + inspect(value) + ')\n';
    generated = true;
  }
  const err = new AssertionError({ actual: value, expected: true, message, operator: '==', stackStartFn: fn });
  err.generatedMessage = generated;
  throw err;
}

function check(pass, actual, expected, message, operator, fn) {
  if (pass) return;
  if (message instanceof Error) throw message;
  let err;
  if (message !== undefined && (operator === 'strictEqual' || operator === 'deepStrictEqual')) {
    const a = oneLine(actual), e = oneLine(expected);
    err = new AssertionError({ actual, expected, message: a !== null && e !== null ? message + '\n\n' + a + ' !== ' + e + '\n' : message, operator, stackStartFn: fn });
    err.generatedMessage = false;
  } else {
    err = new AssertionError({ actual, expected, message, operator, stackStartFn: fn });
  }
  throw err;
}

function needArgs(n, args) {
  if (args.length < n) {
    const err = new TypeError('The "actual" and "expected" arguments must be specified');
    err.code = 'ERR_MISSING_ARGS';
    throw err;
  }
}

// eslint-disable-next-line eqeqeq
const looseEqual = (a, b) => a == b || (a !== a && b !== b);

function ok(...args) {
  innerOk(ok, args.length, ...args);
}

function equal(actual, expected, message) {
  needArgs(2, arguments);
  check(looseEqual(actual, expected), actual, expected, message, '==', equal);
}
function notEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(!looseEqual(actual, expected), actual, expected, message, '!=', notEqual);
}
function strictEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(Object.is(actual, expected), actual, expected, message, 'strictEqual', strictEqual);
}
function notStrictEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(!Object.is(actual, expected), actual, expected, message, 'notStrictEqual', notStrictEqual);
}
function deepEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(isDeepEqual(actual, expected, false), actual, expected, message, 'deepEqual', deepEqual);
}
function notDeepEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(!isDeepEqual(actual, expected, false), actual, expected, message, 'notDeepEqual', notDeepEqual);
}
function deepStrictEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(isDeepEqual(actual, expected, true), actual, expected, message, 'deepStrictEqual', deepStrictEqual);
}
function notDeepStrictEqual(actual, expected, message) {
  needArgs(2, arguments);
  check(!isDeepEqual(actual, expected, true), actual, expected, message, 'notDeepStrictEqual', notDeepStrictEqual);
}

const NO_EXCEPTION = {};

function getActual(fn) {
  if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
  try {
    fn();
  } catch (e) {
    return e;
  }
  return NO_EXCEPTION;
}

async function waitActual(promiseFn) {
  let p;
  if (typeof promiseFn === 'function') {
    p = promiseFn();
    if (!p || typeof p.then !== 'function') {
      throw invalidArgType('promiseFn', 'of type function or an instance of Promise', p);
    }
  } else if (promiseFn && typeof promiseFn.then === 'function') {
    p = promiseFn;
  } else {
    throw invalidArgType('promiseFn', 'of type function or an instance of Promise', promiseFn);
  }
  try {
    await p;
  } catch (e) {
    return e;
  }
  return NO_EXCEPTION;
}

function errorName(e) {
  return e && e.constructor && e.constructor.name ? e.constructor.name : typeof e;
}

// matches reports whether the thrown value satisfies expected, throwing
// the AssertionError Node throws when it does not.
function expectedException(actual, expected, message, fn) {
  if (types.isRegExp(expected)) {
    const str = String(actual);
    if (expected.test(str)) return;
    throw new AssertionError({ actual, expected, message: message || 'The input did not match the regular expression ' + inspect(expected) + '. Input:\n\n' + inspect(str) + '\n', operator: fn.name, stackStartFn: fn });
  }
  if (typeof expected === 'function') {
    if (expected.prototype !== undefined && actual instanceof expected) return;
    if (Error.isPrototypeOf(expected) || expected === Error) {
      const err = new AssertionError({
        actual,
        expected,
        message: message || 'The error is expected to be an instance of "' + expected.name + '". Received "' + errorName(actual) + '"' + (actual && actual.message !== undefined ? '\n\nError message:\n\n' + actual.message : ''),
        operator: fn.name,
        stackStartFn: fn,
      });
      err.generatedMessage = !message;
      throw err;
    }
    const res = Reflect.apply(expected, {}, [actual]);
    if (res !== true) {
      const err = new AssertionError({ actual, expected, message: message || 'The ' + (expected.name ? '"' + expected.name + '" validation function' : 'validation function') + ' is expected to return "true". Received ' + inspect(res), operator: fn.name, stackStartFn: fn });
      err.generatedMessage = !message;
      throw err;
    }
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    const keys = Object.keys(expected);
    if (expected instanceof Error) keys.push('name', 'message');
    else if (keys.length === 0) throw invalidArgType('error', 'may not be an empty object', expected);
    for (const k of keys) {
      const want = expected[k], got = actual === null || actual === undefined ? undefined : actual[k];
      if (typeof got === 'string' && types.isRegExp(want) && want.test(got)) continue;
      if (actual !== null && typeof actual === 'object' && k in actual && isDeepEqual(got, want, true)) continue;
      throw new AssertionError({ actual, expected, message: message || 'Expected values to be strictly deep-equal:\n+ actual - expected\n\n+ ' + k + ': ' + inspect(got) + '\n- ' + k + ': ' + inspect(want), operator: fn.name, stackStartFn: fn });
    }
    return;
  }
  throw invalidArgType('expected', 'of type function or an instance of Error, RegExp, or Object', expected);
}

function expectsError(fn, actual, error, message) {
  if (typeof error === 'string') {
    message = error;
    error = undefined;
  }
  if (actual === NO_EXCEPTION) {
    let details = '';
    if (error && error.name) details += ' (' + error.name + ')';
    details += message ? ': ' + message : '.';
    const kind = fn === rejects ? 'rejection' : 'exception';
    const err = new AssertionError({ actual: undefined, expected: error, operator: fn.name, message: 'Missing expected ' + kind + details, stackStartFn: fn });
    err.generatedMessage = false;
    throw err;
  }
  if (error !== undefined) expectedException(actual, error, message, fn);
}

function expectsNoError(fn, actual, error, message) {
  if (actual === NO_EXCEPTION) return;
  if (typeof error === 'string') {
    message = error;
    error = undefined;
  }
  if (!error || (typeof error === 'function' && actual instanceof error) || (types.isRegExp(error) && error.test(String(actual)))) {
    const details = message ? ': ' + message : '.';
    const kind = fn === doesNotReject ? 'rejection' : 'exception';
    const err = new AssertionError({ actual, expected: error, operator: fn.name, message: 'Got unwanted ' + kind + details + '\nActual message: "' + (actual && actual.message) + '"', stackStartFn: fn });
    err.generatedMessage = false;
    throw err;
  }
  throw actual;
}

function throws(fn, ...args) {
  expectsError(throws, getActual(fn), ...args);
}
async function rejects(promiseFn, ...args) {
  expectsError(rejects, await waitActual(promiseFn), ...args);
}
function doesNotThrow(fn, ...args) {
  expectsNoError(doesNotThrow, getActual(fn), ...args);
}
async function doesNotReject(fn, ...args) {
  expectsNoError(doesNotReject, await waitActual(fn), ...args);
}

function ifError(err) {
  if (err === null || err === undefined) return;
  let message = 'ifError got unwanted exception: ';
  message += err && typeof err === 'object' && typeof err.message === 'string' ? (err.message.length === 0 && err.constructor ? err.constructor.name : err.message) : inspect(err);
  const e = new AssertionError({ actual: err, expected: null, operator: 'ifError', message, stackStartFn: ifError });
  e.generatedMessage = false;
  throw e;
}

function matchRe(fn, string, regexp, message, want) {
  if (!types.isRegExp(regexp)) throw invalidArgType('regexp', 'an instance of RegExp', regexp);
  if (typeof string === 'string' && regexp.test(string) === want) return;
  if (message instanceof Error) throw message;
  const generated = !message;
  if (generated) {
    message = typeof string !== 'string'
      ? 'The "string" argument must be of type string. Received type ' + typeof string + ' (' + inspect(string) + ')'
      : (want ? 'The input did not match the regular expression ' : 'The input was expected to not match the regular expression ') + inspect(regexp) + '. Input:\n\n' + inspect(string) + '\n';
  }
  const err = new AssertionError({ actual: string, expected: regexp, message, operator: fn.name, stackStartFn: fn });
  err.generatedMessage = generated;
  throw err;
}
function match(string, regexp, message) {
  matchRe(match, string, regexp, message, true);
}
function doesNotMatch(string, regexp, message) {
  matchRe(doesNotMatch, string, regexp, message, false);
}

function strict(...args) {
  innerOk(strict, args.length, ...args);
}

const common = { fail, AssertionError, ok, strictEqual, notStrictEqual, deepStrictEqual, notDeepStrictEqual, throws, rejects, doesNotThrow, doesNotReject, ifError, match, doesNotMatch };
Object.assign(ok, common, { equal, notEqual, deepEqual, notDeepEqual, strict });
Object.assign(strict, common, { equal: strictEqual, notEqual: notStrictEqual, deepEqual: deepStrictEqual, notDeepEqual: notDeepStrictEqual, strict });
ok.strict = strict;

module.exports = ok;
