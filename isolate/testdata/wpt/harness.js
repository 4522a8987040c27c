// A small implementation of WPT's testharness.js API (test, async_test,
// promise_test and the assert_* functions), written for warren to run
// Web Platform Tests files inside a Worker, on warren and on workerd alike.
// It is not WPT's testharness.js: it keeps only what running a file's
// subtests needs, and reports each subtest's name, status and message.
(function () {
  "use strict";
  const g = globalThis;
  const results = [];
  let pendingAsync = 0;
  let finish = null;
  const allTests = [];

  class AssertionError extends Error {
    constructor(message) { super(message); this.name = "AssertionError"; }
  }
  function fail(msg) { throw new AssertionError(msg); }

  function format_value(v) {
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "number" && Object.is(v, -0)) return "-0";
    if (typeof v === "bigint") return String(v) + "n";
    if (typeof v === "symbol") return v.toString();
    if (v === null) return "null";
    if (typeof v === "object" || typeof v === "function") {
      try { return Object.prototype.toString.call(v) + (v instanceof Error ? " " + v.name + ": " + v.message : ""); } catch (e) { return "[object]"; }
    }
    return String(v);
  }
  g.format_value = format_value;

  function record(t, status, message) {
    if (t.done_) return;
    t.done_ = true;
    for (const c of t.cleanups) { try { c(); } catch (e) { } }
    results.push({ name: t.name, status, message: message ? String(message).slice(0, 300) : undefined });
    if (t.isAsync) { pendingAsync--; maybeFinish(); }
  }

  function Test(name, isAsync) {
    this.name = name; this.isAsync = isAsync; this.done_ = false; this.cleanups = [];
    allTests.push(this);
  }
  Test.prototype.step = function (fn, thisObj, ...args) {
    if (this.done_) return;
    try { return fn.apply(thisObj === undefined ? this : thisObj, args); }
    catch (e) { record(this, "FAIL", describe(e)); }
  };
  Test.prototype.step_func = function (fn, thisObj) {
    const t = this;
    return function (...args) { return t.step(fn, thisObj === undefined ? this : thisObj, ...args); };
  };
  Test.prototype.step_func_done = function (fn, thisObj) {
    const t = this;
    return function (...args) {
      if (fn) t.step(fn, thisObj === undefined ? this : thisObj, ...args);
      t.done();
    };
  };
  Test.prototype.unreached_func = function (desc) {
    const t = this;
    return function () { t.step(() => fail("unreached: " + (desc || ""))); };
  };
  Test.prototype.step_timeout = function (fn, ms, ...args) {
    const t = this;
    return setTimeout(t.step_func(function () { return fn.apply(t, args); }), ms);
  };
  Test.prototype.step_wait = function (cond, desc, timeout = 3000, interval = 10) {
    const t = this, start = Date.now();
    return new Promise((resolve, reject) => {
      const poll = () => {
        let ok;
        try { ok = cond(); } catch (e) { reject(e); return; }
        if (ok) resolve();
        else if (Date.now() - start > timeout) reject(new AssertionError("step_wait timed out: " + desc));
        else setTimeout(poll, interval);
      };
      poll();
    });
  };
  Test.prototype.step_wait_func = function (cond, fn, desc, timeout, interval) {
    const t = this;
    t.step_wait(cond, desc, timeout, interval).then(t.step_func(fn), t.step_func(e => { throw e; }));
  };
  Test.prototype.step_wait_func_done = function (cond, fn, desc, timeout, interval) {
    const t = this;
    t.step_wait(cond, desc, timeout, interval).then(t.step_func_done(fn), t.step_func(e => { throw e; }));
  };
  Test.prototype.add_cleanup = function (fn) { this.cleanups.push(fn); };
  Test.prototype.done = function () { if (!this.done_) record(this, "PASS"); };

  function describe(e) {
    if (e && typeof e === "object" && "message" in e) return (e.name || "Error") + ": " + e.message;
    return "threw " + format_value(e);
  }

  // The file itself runs inside the fetch handler (__wptResults), since
  // workerd allows no timers or I/O in global scope; its subtests run as
  // they are defined, promise tests one after another, as in WPT.
  const promiseQueue = [];
  let promiseRunning = false;
  g.test = function (fn, name) {
    const t = new Test(name, false);
    try { fn.call(t, t); if (!t.done_) record(t, "PASS"); }
    catch (e) { record(t, "FAIL", describe(e)); }
  };
  g.async_test = function (fn, name) {
    if (typeof fn === "string") { name = fn; fn = null; }
    const t = new Test(name, true);
    pendingAsync++;
    if (fn) t.step(fn, t, t);
    return t;
  };
  g.promise_test = function (fn, name) {
    const t = new Test(name, true);
    pendingAsync++;
    promiseQueue.push([t, fn]);
    runPromises();
  };
  function runPromises() {
    if (promiseRunning || promiseQueue.length === 0) return;
    promiseRunning = true;
    const [t, fn] = promiseQueue.shift();
    let p;
    try { p = fn.call(t, t); } catch (e) { p = Promise.reject(e); }
    Promise.resolve(p).then(() => { t.done(); }, (e) => { record(t, "FAIL", describe(e)); })
      .then(() => { promiseRunning = false; runPromises(); maybeFinish(); });
  }
  g.setup = function (fn) { if (typeof fn === "function") { try { fn(); } catch (e) { results.push({ name: "setup", status: "FAIL", message: describe(e) }); } } };
  g.done = function () { };
  g.step_timeout = function (fn, ms, ...args) { return setTimeout(() => fn(...args), ms); };
  g.subsetTest = function (testFunc, ...args) { return testFunc(...args); };
  g.subsetTestByKey = function (key, testFunc, ...args) { return testFunc(...args); };
  // __wptFetch makes the fetch a file sees: the data files it names
  // (resources, a map of relative path to text) are answered from it,
  // anything else goes to the runtime's fetch.
  g.__wptFetch = function (resources) {
    const real = g.fetch;
    return function (input, init) {
      if (typeof input === "string" && Object.prototype.hasOwnProperty.call(resources, input)) {
        return Promise.resolve(new Response(resources[input], { headers: { "content-type": "application/json" } }));
      }
      return real.call(g, input, init);
    };
  };
  g.GLOBAL = { isWindow: () => false, isWorker: () => true, isShadowRealm: () => false };
  if (typeof g.self === "undefined") g.self = g;
  // WPT's helper scripts run as classic scripts, in sloppy mode; here they
  // run in a module, so the globals they assign without declaring them
  // (the structured clone battery's list) are declared first.
  g.structuredCloneBatteryOfTests = undefined;

  function maybeFinish() {
    if (finish && pendingAsync === 0 && !promiseRunning && promiseQueue.length === 0) { const f = finish; finish = null; f(); }
  }

  // Assertions.
  function same(a, b) { return Object.is(a, b); }
  g.assert_true = (v, d) => { if (v !== true) fail(`assert_true: ${d || ""} expected true got ${format_value(v)}`); };
  g.assert_false = (v, d) => { if (v !== false) fail(`assert_false: ${d || ""} expected false got ${format_value(v)}`); };
  g.assert_equals = (a, e, d) => {
    if (typeof a !== typeof e) fail(`assert_equals: ${d || ""} expected (${typeof e}) ${format_value(e)} but got (${typeof a}) ${format_value(a)}`);
    if (!same(a, e)) fail(`assert_equals: ${d || ""} expected ${format_value(e)} but got ${format_value(a)}`);
  };
  g.assert_not_equals = (a, e, d) => { if (same(a, e)) fail(`assert_not_equals: ${d || ""} got disallowed value ${format_value(a)}`); };
  g.assert_in_array = (a, arr, d) => { if (arr.indexOf(a) === -1) fail(`assert_in_array: ${d || ""} value ${format_value(a)} not in array`); };
  g.assert_array_equals = (a, e, d) => {
    if (typeof a !== "object" || a === null || !("length" in a)) fail(`assert_array_equals: ${d || ""} value is ${format_value(a)}, expected array`);
    if (a.length !== e.length) fail(`assert_array_equals: ${d || ""} lengths differ, expected ${e.length} got ${a.length}`);
    for (let i = 0; i < e.length; i++) {
      if (a.hasOwnProperty(i) !== e.hasOwnProperty(i)) fail(`assert_array_equals: ${d || ""} property ${i} presence differs`);
      if (!same(a[i], e[i])) fail(`assert_array_equals: ${d || ""} expected ${format_value(e[i])} but got ${format_value(a[i])} at index ${i}`);
    }
  };
  g.assert_array_approx_equals = (a, e, eps, d) => {
    if (a.length !== e.length) fail(`assert_array_approx_equals: ${d || ""} lengths differ`);
    for (let i = 0; i < e.length; i++) if (Math.abs(a[i] - e[i]) > eps) fail(`assert_array_approx_equals: ${d || ""} index ${i}`);
  };
  g.assert_approx_equals = (a, e, eps, d) => { if (typeof a !== "number" || Math.abs(a - e) > eps) fail(`assert_approx_equals: ${d || ""} expected ${e} +/- ${eps} got ${format_value(a)}`); };
  g.assert_less_than = (a, e, d) => { if (!(a < e)) fail(`assert_less_than: ${d || ""} ${format_value(a)} !< ${format_value(e)}`); };
  g.assert_greater_than = (a, e, d) => { if (!(a > e)) fail(`assert_greater_than: ${d || ""} ${format_value(a)} !> ${format_value(e)}`); };
  g.assert_less_than_equal = (a, e, d) => { if (!(a <= e)) fail(`assert_less_than_equal: ${d || ""}`); };
  g.assert_greater_than_equal = (a, e, d) => { if (!(a >= e)) fail(`assert_greater_than_equal: ${d || ""}`); };
  g.assert_between_inclusive = (a, lo, hi, d) => { if (!(a >= lo && a <= hi)) fail(`assert_between_inclusive: ${d || ""}`); };
  g.assert_regexp_match = (a, re, d) => { if (!re.test(a)) fail(`assert_regexp_match: ${d || ""} ${format_value(a)} does not match ${re}`); };
  g.assert_class_string = (o, cls, d) => {
    const s = Object.prototype.toString.call(o);
    if (s !== "[object " + cls + "]") fail(`assert_class_string: ${d || ""} expected "[object ${cls}]" got ${format_value(s)}`);
  };
  g.assert_own_property = (o, p, d) => { if (!Object.prototype.hasOwnProperty.call(o, p)) fail(`assert_own_property: ${d || ""} expected property ${format_value(p)} missing`); };
  g.assert_not_own_property = (o, p, d) => { if (Object.prototype.hasOwnProperty.call(o, p)) fail(`assert_not_own_property: ${d || ""} unexpected property ${format_value(p)}`); };
  g.assert_inherits = (o, p, d) => {
    if (Object.prototype.hasOwnProperty.call(o, p) || !(p in o)) fail(`assert_inherits: ${d || ""} property ${format_value(p)} not inherited`);
  };
  g.assert_idl_attribute = g.assert_inherits;
  g.assert_readonly = (o, p, d) => {
    const before = o[p];
    try { o[p] = "changed"; } catch (e) { }
    if (!same(o[p], before)) fail(`assert_readonly: ${d || ""} property ${p} changed`);
  };
  g.assert_unreached = (d) => fail(`assert_unreached: ${d || ""} reached unreachable code`);
  g.assert_implements = (c, d) => { if (!c) fail(`assert_implements: ${d || ""}`); };
  g.assert_implements_optional = (c, d) => { if (!c) { const e = new AssertionError(`optional feature not implemented: ${d || ""}`); e.optional = true; throw e; } };

  function deepEq(a, e, seen) {
    if (same(a, e)) return true;
    if (typeof a !== "object" || typeof e !== "object" || a === null || e === null) return false;
    const ka = Object.keys(a), ke = Object.keys(e);
    if (ka.length !== ke.length) return false;
    for (const k of ke) if (!(k in a) || !deepEq(a[k], e[k], seen)) return false;
    return true;
  }
  g.assert_object_equals = (a, e, d) => { if (!deepEq(a, e)) fail(`assert_object_equals: ${d || ""} objects differ`); };
  g.assert_deep_equals = g.assert_object_equals;

  function throwsCheck(fn, d, check, label) {
    let threw = false, err;
    try { fn(); } catch (e) { threw = true; err = e; }
    if (!threw) fail(`${label}: ${d || ""} function did not throw`);
    check(err);
  }
  function isCtorError(ctor) {
    return (e) => {
      if (typeof ctor !== "function") fail("bad constructor");
      if (!(e instanceof Object) || e.constructor !== ctor) fail(`expected ${ctor.name} but got ${describe(e)}`);
    };
  }
  g.assert_throws_js = (ctor, fn, d) => throwsCheck(fn, d, (e) => {
    if (!(e && typeof e === "object")) fail(`assert_throws_js: ${d || ""} threw ${format_value(e)}, expected ${ctor.name}`);
    if (Object.getPrototypeOf(e) !== ctor.prototype && e.constructor !== ctor) fail(`assert_throws_js: ${d || ""} threw ${describe(e)}, expected ${ctor.name}`);
  }, "assert_throws_js");
  const domCodes = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5, NoModificationAllowedError: 7,
    NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13,
    NamespaceError: 14, InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };
  const domNameByCode = {}; for (const k in domCodes) domNameByCode[domCodes[k]] = k;
  function domCheck(type, label, d) {
    const name = typeof type === "number" ? domNameByCode[type] : (domCodes[type] !== undefined || typeof type === "string" ? type : undefined);
    const legacy = { INDEX_SIZE_ERR: "IndexSizeError", INVALID_STATE_ERR: "InvalidStateError", SYNTAX_ERR: "SyntaxError", NOT_SUPPORTED_ERR: "NotSupportedError", DATA_CLONE_ERR: "DataCloneError", ABORT_ERR: "AbortError", INVALID_CHARACTER_ERR: "InvalidCharacterError" };
    const want = legacy[name] || name;
    return (e) => {
      if (!(e && typeof e === "object")) fail(`${label}: ${d || ""} threw ${format_value(e)}`);
      if (typeof DOMException === "function" && !(e instanceof DOMException)) fail(`${label}: ${d || ""} threw ${describe(e)}, expected DOMException ${want}`);
      if (e.name !== want) fail(`${label}: ${d || ""} threw ${describe(e)}, expected ${want}`);
    };
  }
  g.assert_throws_dom = (type, a, b, c) => {
    // assert_throws_dom(type, fn, desc) or (type, ctor, fn, desc)
    const fn = typeof a === "function" && typeof b === "function" ? b : a;
    const d = typeof a === "function" && typeof b === "function" ? c : b;
    throwsCheck(fn, d, domCheck(type, "assert_throws_dom", d), "assert_throws_dom");
  };
  g.assert_throws_exactly = (v, fn, d) => throwsCheck(fn, d, (e) => { if (!same(e, v)) fail(`assert_throws_exactly: ${d || ""} threw ${format_value(e)}`); }, "assert_throws_exactly");
  // The old assert_throws(code, fn, desc): code is an error-like object
  // ({ name }), a DOMException name, or null for any exception.
  g.assert_throws = (code, fn, d) => throwsCheck(fn, d, (e) => {
    if (code === null) return;
    if (typeof code === "object" && code.name) {
      if (!e || e.name !== code.name) fail(`assert_throws: ${d || ""} threw ${describe(e)}, expected ${code.name}`);
      return;
    }
    domCheck(code, "assert_throws", d)(e);
  }, "assert_throws");

  function rejects(t, check, p, d, label) {
    return Promise.resolve(p).then(
      () => { fail(`${label}: ${d || ""} should have rejected`); },
      (e) => { check(e); });
  }
  g.promise_rejects_js = (t, ctor, p, d) => rejects(t, (e) => {
    if (!(e && typeof e === "object") || (Object.getPrototypeOf(e) !== ctor.prototype && e.constructor !== ctor)) fail(`promise_rejects_js: ${d || ""} rejected with ${describe(e)}, expected ${ctor.name}`);
  }, p, d, "promise_rejects_js");
  g.promise_rejects_dom = (t, type, a, b, c) => {
    const p = typeof a === "function" ? b : a, d = typeof a === "function" ? c : b;
    return rejects(t, domCheck(type, "promise_rejects_dom", d), p, d, "promise_rejects_dom");
  };
  g.promise_rejects_exactly = (t, v, p, d) => rejects(t, (e) => { if (!same(e, v)) fail(`promise_rejects_exactly: ${d || ""} rejected with ${format_value(e)}`); }, p, d, "promise_rejects_exactly");
  g.promise_rejects = (t, code, p, d) => rejects(t, (e) => {
    if (typeof code === "object" && code && code.name) { if (!e || e.name !== code.name) fail(`promise_rejects: ${d || ""} rejected with ${describe(e)}, expected ${code.name}`); }
    else domCheck(code, "promise_rejects", d)(e);
  }, p, d, "promise_rejects");

  g.flushAsyncEvents = () => new Promise(r => setTimeout(r, 0)).then(() => new Promise(r => setTimeout(r, 0)));

  // __wptResults runs the file (body), waits for every test (at most
  // timeoutMs) and lists them. An exception out of the file's own code is
  // a failed "(file)" entry, as testharness.js reports a harness error.
  g.__wptResults = function (timeoutMs, body) {
    try { body(); } catch (e) { results.push({ name: "(file)", status: "FAIL", message: describe(e) }); }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        finish = null;
        for (const t of allTests) if (!t.done_) results.push({ name: t.name, status: "TIMEOUT" });
        resolve(results);
      }, timeoutMs);
      finish = () => { clearTimeout(timer); resolve(results); };
      maybeFinish();
    });
  };
})();
