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

module.exports = EventEmitter;
