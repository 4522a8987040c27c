package webapi

import (
	"sync"

	"github.com/dop251/goja"
)

// Event, EventTarget, AbortSignal, AbortController and DOMException are
// written in JS: they are ordinary classes that guest code subclasses (with
// private fields, which goja's dynamic objects cannot carry), and event
// dispatch is mostly calling JS. The sources are compiled once per process
// and run in a runtime only when one of these globals is first used.

const domExceptionSource = `(function (toStringTag) {
'use strict';
const codes = {
  IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
  NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
  SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
  TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
  QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
};
class DOMException extends Error {
  #name;
  constructor(message = '', options = undefined) {
    super(` + "`${message}`" + `);
    let name = 'Error';
    if (options !== null && typeof options === 'object') {
      if (options.name !== undefined) name = ` + "`${options.name}`" + `;
      if ('cause' in options) Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true });
    } else if (options !== undefined) {
      name = ` + "`${options}`" + `;
    }
    this.#name = name;
    const st = this.stack, nl = typeof st === 'string' ? st.indexOf('\n') : -1;
    // Frames as V8 writes them, whether st is goja's ("\tat f (a.js:1:2(3))")
    // or already V8's.
    const frames = nl >= 0 ? st.slice(nl).replace(/\n\tat /g, '\n    at ').replace(/(:\d+:\d+)\(\d+\)/g, '$1').replace(/\s+$/, '') : '';
    Object.defineProperty(this, 'stack', { value: name + ': ' + this.message + frames, writable: true, configurable: true });
  }
  get name() { return this.#name; }
  get code() { return codes[this.#name] || 0; }
  get [toStringTag]() { return 'DOMException'; }
}
// The legacy code constants, on the constructor and the prototype, as
// WebIDL defines constants (enumerable, read-only).
const legacy = ['INDEX_SIZE_ERR', 'DOMSTRING_SIZE_ERR', 'HIERARCHY_REQUEST_ERR', 'WRONG_DOCUMENT_ERR',
  'INVALID_CHARACTER_ERR', 'NO_DATA_ALLOWED_ERR', 'NO_MODIFICATION_ALLOWED_ERR', 'NOT_FOUND_ERR',
  'NOT_SUPPORTED_ERR', 'INUSE_ATTRIBUTE_ERR', 'INVALID_STATE_ERR', 'SYNTAX_ERR', 'INVALID_MODIFICATION_ERR',
  'NAMESPACE_ERR', 'INVALID_ACCESS_ERR', 'VALIDATION_ERR', 'TYPE_MISMATCH_ERR', 'SECURITY_ERR',
  'NETWORK_ERR', 'ABORT_ERR', 'URL_MISMATCH_ERR', 'QUOTA_EXCEEDED_ERR', 'TIMEOUT_ERR',
  'INVALID_NODE_TYPE_ERR', 'DATA_CLONE_ERR'];
// WebIDL attributes are enumerable; their getters check the receiver.
Object.defineProperty(DOMException.prototype, 'name', { enumerable: true });
Object.defineProperty(DOMException.prototype, 'code', { enumerable: true });
for (let i = 0; i < legacy.length; i++) {
  const d = { value: i + 1, enumerable: true, writable: false, configurable: false };
  Object.defineProperty(DOMException, legacy[i], d);
  Object.defineProperty(DOMException.prototype, legacy[i], d);
}
return DOMException;
})`

// The sources avoid Map, Symbol, for-of and Array methods where they can:
// touching one materializes goja's lazy built-in (Map.prototype alone is a
// dozen function objects), which costs more than the classes themselves.
const eventsSource = `(function (hooks) {
'use strict';
const domException = hooks.domException;
const now = hooks.now;
const reportError = hooks.reportError;
const toStringTag = hooks.toStringTag;
const defineProperty = Object.defineProperty;
const NONE = 0, CAPTURING_PHASE = 1, AT_TARGET = 2, BUBBLING_PHASE = 3;
const tag = (C, name) => defineProperty(C.prototype, toStringTag, { value: name, configurable: true });

let eventInternals;
class Event {
  #type; #bubbles; #cancelable; #composed; #timeStamp;
  #defaultPrevented = false; #target = null; #currentTarget = null; #phase = NONE;
  #stop = false; #stopImmediate = false; #dispatching = false; #passive = false; #trusted = false;
  constructor(type, init = undefined) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
    if (init !== undefined && init !== null && typeof init !== 'object' && typeof init !== 'function')
      throw new TypeError("Failed to construct 'Event': The provided value is not of type 'EventInit'.");
    this.#type = ` + "`${type}`" + `;
    if (init) {
      this.#bubbles = !!init.bubbles;
      this.#cancelable = !!init.cancelable;
      this.#composed = !!init.composed;
    } else {
      this.#bubbles = this.#cancelable = this.#composed = false;
    }
    this.#timeStamp = now();
  }
  get type() { return this.#type; }
  get target() { return this.#target; }
  get srcElement() { return this.#target; }
  get currentTarget() { return this.#currentTarget; }
  get eventPhase() { return this.#phase; }
  get bubbles() { return this.#bubbles; }
  get cancelable() { return this.#cancelable; }
  get composed() { return this.#composed; }
  get defaultPrevented() { return this.#defaultPrevented; }
  get isTrusted() { return this.#trusted; }
  get timeStamp() { return this.#timeStamp; }
  get returnValue() { return !this.#defaultPrevented; }
  set returnValue(v) { if (!v) this.preventDefault(); }
  get cancelBubble() { return this.#stop; }
  set cancelBubble(v) { if (v) this.#stop = true; }
  composedPath() { return this.#currentTarget ? [this.#currentTarget] : []; }
  preventDefault() { if (this.#cancelable && !this.#passive) this.#defaultPrevented = true; }
  stopPropagation() { this.#stop = true; }
  stopImmediatePropagation() { this.#stop = true; this.#stopImmediate = true; }
  static NONE = NONE;
  static CAPTURING_PHASE = CAPTURING_PHASE;
  static AT_TARGET = AT_TARGET;
  static BUBBLING_PHASE = BUBBLING_PHASE;
  static {
    eventInternals = {
      is: (e) => typeof e === 'object' && e !== null && #type in e,
      begin(e, target) {
        if (e.#dispatching) throw domException('The event is already being dispatched.', 'InvalidStateError');
        e.#dispatching = true; e.#target = target; e.#currentTarget = target; e.#phase = AT_TARGET;
      },
      end(e) { e.#dispatching = false; e.#currentTarget = null; e.#phase = NONE; e.#stop = false; e.#stopImmediate = false; },
      stopped: (e) => e.#stopImmediate,
      passive(e, p) { e.#passive = p; },
      trust(e) { e.#trusted = true; return e; },
    };
  }
}
tag(Event, 'Event');

function capture(options) {
  if (options === null || options === undefined) return false;
  if (typeof options === 'object' || typeof options === 'function') return !!options.capture;
  return !!options;
}

function indexOf(list, callback, capture) {
  for (let i = 0; i < list.length; i++) {
    if (list[i].callback === callback && list[i].capture === capture) return i;
  }
  return -1;
}

let signalInternals;
class EventTarget {
  #listeners = null; // type -> listener records, created on first use
  addEventListener(type, callback, options = undefined) {
    if (arguments.length < 2) throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required.");
    const cap = capture(options);
    let once = false, passive = false, signal;
    if (options !== null && (typeof options === 'object' || typeof options === 'function')) {
      once = !!options.once; passive = !!options.passive; signal = options.signal;
      if (signal !== undefined && !signalInternals.is(signal))
        throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type AbortSignal.");
    }
    if (callback === null || callback === undefined) return;
    if (typeof callback !== 'function' && typeof callback !== 'object')
      throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': The callback provided as parameter 2 is not an object.");
    if (signal !== undefined && signal.aborted) return;
    type = ` + "`${type}`" + `;
    if (this.#listeners === null) this.#listeners = Object.create(null);
    let list = this.#listeners[type];
    if (!list) list = this.#listeners[type] = [];
    if (indexOf(list, callback, cap) >= 0) return;
    list[list.length] = { callback, capture: cap, once, passive, removed: false };
    if (signal !== undefined) signalInternals.onAbort(signal, () => this.removeEventListener(type, callback, { capture: cap }));
  }
  removeEventListener(type, callback, options = undefined) {
    const list = this.#listeners === null ? undefined : this.#listeners[` + "`${type}`" + `];
    if (!list) return;
    const i = indexOf(list, callback, capture(options));
    if (i < 0) return;
    list[i].removed = true;
    for (let j = i; j < list.length - 1; j++) list[j] = list[j + 1];
    list.length--;
  }
  dispatchEvent(event) {
    if (!eventInternals.is(event)) throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    eventInternals.begin(event, this);
    try {
      const live = this.#listeners === null ? undefined : this.#listeners[event.type];
      if (live) {
        const list = [];
        for (let i = 0; i < live.length; i++) list[i] = live[i];
        for (let i = 0; i < list.length; i++) {
          const l = list[i];
          if (l.removed) continue;
          if (l.once) this.removeEventListener(event.type, l.callback, { capture: l.capture });
          eventInternals.passive(event, l.passive);
          try {
            if (typeof l.callback === 'function') {
              l.callback.call(this, event);
            } else {
              const h = l.callback.handleEvent;
              if (typeof h !== 'function') throw new TypeError("'handleEvent' property of event listener should be callable");
              h.call(l.callback, event);
            }
          } catch (err) {
            reportError(err);
          }
          eventInternals.passive(event, false);
          if (eventInternals.stopped(event)) break;
        }
      }
    } finally {
      eventInternals.end(event);
    }
    return !event.defaultPrevented;
  }
}
tag(EventTarget, 'EventTarget');

const token = {};
const abortError = () => domException('This operation was aborted', 'AbortError');
class AbortSignal extends EventTarget {
  #aborted = false; #reason = undefined; #handler = null; #handlerListener = null; #algorithms = null;
  constructor(key = undefined) {
    if (key !== token) throw new TypeError('Illegal constructor');
    super();
  }
  get aborted() { return this.#aborted; }
  get reason() { return this.#reason; }
  throwIfAborted() { if (this.#aborted) throw this.#reason; }
  get onabort() { return this.#handler; }
  set onabort(v) {
    this.#handler = (typeof v === 'function' || (typeof v === 'object' && v !== null)) ? v : null;
    if (this.#handler !== null && this.#handlerListener === null) {
      this.#handlerListener = (e) => { const h = this.#handler; if (typeof h === 'function') h.call(this, e); };
      this.addEventListener('abort', this.#handlerListener);
    }
  }
  static abort(reason = undefined) {
    const s = new AbortSignal(token);
    s.#aborted = true;
    s.#reason = reason === undefined ? abortError() : reason;
    return s;
  }
  static timeout(ms) {
    ms = +ms;
    if (!(ms >= 0) || ms > 9007199254740991) throw new TypeError("Failed to execute 'timeout' on 'AbortSignal': Value is outside the 'unsigned long long' value range.");
    const set = globalThis.setTimeout;
    if (typeof set !== 'function') throw new TypeError('AbortSignal.timeout needs setTimeout, which this runtime does not provide');
    const s = new AbortSignal(token);
    set(() => AbortSignal.#signalAbort(s, domException('The operation was aborted due to timeout', 'TimeoutError')), ms);
    return s;
  }
  static any(signals) {
    const list = [];
    for (const s of signals) {
      if (!AbortSignal.#is(s)) throw new TypeError("Failed to execute 'any' on 'AbortSignal': member is not of type AbortSignal.");
      list[list.length] = s;
    }
    const r = new AbortSignal(token);
    for (let i = 0; i < list.length; i++) {
      if (list[i].#aborted) { r.#aborted = true; r.#reason = list[i].#reason; return r; }
    }
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      AbortSignal.#onAbort(s, () => AbortSignal.#signalAbort(r, s.#reason));
    }
    return r;
  }
  static #is(s) { return typeof s === 'object' && s !== null && #aborted in s; }
  static #onAbort(s, f) {
    if (s.#algorithms === null) s.#algorithms = [];
    s.#algorithms[s.#algorithms.length] = f;
  }
  static #signalAbort(s, reason) {
    if (s.#aborted) return;
    s.#aborted = true;
    s.#reason = reason === undefined ? abortError() : reason;
    const algs = s.#algorithms;
    s.#algorithms = null;
    if (algs !== null) {
      for (let i = 0; i < algs.length; i++) {
        try { algs[i](); } catch (err) { reportError(err); }
      }
    }
    s.dispatchEvent(eventInternals.trust(new Event('abort')));
  }
  static {
    signalInternals = {
      is: (s) => AbortSignal.#is(s),
      create: () => new AbortSignal(token),
      abort: (s, reason) => AbortSignal.#signalAbort(s, reason),
      onAbort: (s, f) => AbortSignal.#onAbort(s, f),
    };
  }
}
tag(AbortSignal, 'AbortSignal');

class AbortController {
  #signal = new AbortSignal(token);
  get signal() { return this.#signal; }
  abort(reason = undefined) { signalInternals.abort(this.#signal, reason); }
}
tag(AbortController, 'AbortController');

return {
  Event, EventTarget, AbortSignal, AbortController,
  isSignal: signalInternals.is, newSignal: signalInternals.create,
};
})`

var (
	domExceptionProgram = sync.OnceValue(func() *goja.Program {
		return goja.MustCompile("webapi:DOMException", domExceptionSource, true)
	})
	eventsProgram = sync.OnceValue(func() *goja.Program {
		return goja.MustCompile("webapi:events", eventsSource, true)
	})
)

// runFactory runs a compiled factory function expression and calls it.
func (a *API) runFactory(p *goja.Program, args ...goja.Value) goja.Value {
	f, err := a.vm.RunProgram(p)
	if err != nil {
		a.rethrow(err)
	}
	fn, ok := goja.AssertFunction(f)
	if !ok {
		panic(a.vm.NewTypeError("webapi: internal factory is not a function"))
	}
	v, err := fn(goja.Undefined(), args...)
	if err != nil {
		a.rethrow(err)
	}
	return v
}

func (a *API) domExceptionClass() *goja.Object {
	if a.domExc == nil {
		a.domExc = a.runFactory(domExceptionProgram(), goja.SymToStringTag).(*goja.Object)
	}
	return a.domExc
}

// domException makes a DOMException to throw.
func (a *API) domException(msg, name string) *goja.Object {
	o, err := a.vm.New(a.domExceptionClass(), a.vm.ToValue(msg), a.vm.ToValue(name))
	if err != nil {
		a.rethrow(err)
	}
	return o
}

type eventsJS struct {
	obj       *goja.Object
	isSignal  goja.Callable
	newSignal goja.Callable
}

func (a *API) eventClasses() *goja.Object {
	return a.eventsJS().obj
}

func (a *API) eventsJS() *eventsJS {
	if a.events != nil {
		return a.events
	}
	hooks := a.vm.NewObject()
	_ = hooks.Set("domException", a.newFunc("domException", 2, func(call goja.FunctionCall) goja.Value {
		return a.domException(a.str(call.Argument(0)), a.str(call.Argument(1)))
	}))
	_ = hooks.Set("toStringTag", goja.SymToStringTag)
	_ = hooks.Set("now", a.newFunc("now", 0, func(goja.FunctionCall) goja.Value { return a.vm.ToValue(a.perfNow()) }))
	_ = hooks.Set("reportError", a.newFunc("reportError", 1, func(call goja.FunctionCall) goja.Value {
		if a.log != nil {
			m := a.newMessage()
			m.WriteString("Uncaught ")
			a.inspect(m, call.Argument(0), inspectDepth)
			a.emit("error", m)
		}
		return goja.Undefined()
	}))
	o := a.runFactory(eventsProgram(), hooks).(*goja.Object)
	ev := &eventsJS{obj: o}
	ev.isSignal, _ = goja.AssertFunction(o.Get("isSignal"))
	ev.newSignal, _ = goja.AssertFunction(o.Get("newSignal"))
	a.events = ev
	return ev
}

func (a *API) isAbortSignal(v goja.Value) bool {
	r, err := a.eventsJS().isSignal(goja.Undefined(), v)
	if err != nil {
		a.rethrow(err)
	}
	return r.ToBoolean()
}

func (a *API) newAbortSignal() goja.Value {
	r, err := a.eventsJS().newSignal(goja.Undefined())
	if err != nil {
		a.rethrow(err)
	}
	return r
}
