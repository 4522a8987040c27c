'use strict';
// node:events: the npm package events (vendor/events), with errorMonitor
// and the module functions of Node it lacks.
const EventEmitter = require('./vendor/events/events.js');

const listenersOf = (target, name) => {
  if (target && typeof target.listeners === 'function') return target.listeners(name);
  return [];
};

EventEmitter.getEventListeners = listenersOf;
EventEmitter.listenerCount = (emitter, name) => emitter.listenerCount(name);
EventEmitter.setMaxListeners = (n = EventEmitter.defaultMaxListeners, ...targets) => {
  if (targets.length === 0) EventEmitter.defaultMaxListeners = n;
  for (const t of targets) if (t && typeof t.setMaxListeners === 'function') t.setMaxListeners(n);
};
EventEmitter.getMaxListeners = (emitter) => (emitter && typeof emitter.getMaxListeners === 'function' ? emitter.getMaxListeners() : EventEmitter.defaultMaxListeners);

// on(emitter, name) is an async iterator of the arguments of each name
// event, as Node's: an error event rejects the next read and ends it.
// Symbol.asyncIterator is the bundle's (goja has none; see the bundle
// package's knownSymbols).
EventEmitter.on = function on(emitter, event, options) {
  const signal = options && options.signal;
  const unconsumed = [];
  const pending = [];
  let error = null;
  let finished = false;
  const abortError = () => {
    const err = new Error('The operation was aborted');
    err.name = 'AbortError';
    err.code = 'ABORT_ERR';
    return err;
  };
  const close = () => {
    emitter.removeListener(event, onEvent);
    emitter.removeListener('error', onError);
    if (signal) signal.removeEventListener('abort', onAbort);
    finished = true;
  };
  const onEvent = (...args) => {
    const p = pending.shift();
    if (p) p.resolve({ value: args, done: false });
    else unconsumed.push(args);
  };
  const onError = (err) => {
    close();
    const p = pending.shift();
    if (p) p.reject(err);
    else error = err;
    for (const q of pending.splice(0)) q.resolve({ value: undefined, done: true });
  };
  const onAbort = () => onError(abortError());
  if (signal && signal.aborted) throw abortError();
  emitter.on(event, onEvent);
  if (event !== 'error') emitter.on('error', onError);
  if (signal) signal.addEventListener('abort', onAbort, { once: true });
  const asyncIterator = Symbol.asyncIterator || Symbol.for('Symbol.asyncIterator');
  return {
    next() {
      if (unconsumed.length > 0) return Promise.resolve({ value: unconsumed.shift(), done: false });
      if (error !== null) {
        const p = Promise.reject(error);
        error = null;
        return p;
      }
      if (finished) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    return() {
      close();
      for (const q of pending.splice(0)) q.resolve({ value: undefined, done: true });
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err) {
      onError(err);
      return Promise.reject(err);
    },
    [asyncIterator]() {
      return this;
    },
  };
};

module.exports = EventEmitter;
