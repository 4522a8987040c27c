'use strict';
// node:process: an EventEmitter, as in Node, with what a Worker can use.
// env holds the Worker's text bindings (its plain-string env values), read
// at each access, as Cloudflare's nodejs_compat_populate_process_env does;
// assignments to it stay in this invocation.
const EventEmitter = require('events');

const process = new EventEmitter();

const bindings = () => {
  const e = globalThis.__warrenEnv;
  return e !== null && typeof e === 'object' ? e : {};
};
const own = Object.create(null); // keys set or deleted by the Worker
const text = (k) => {
  if (typeof k !== 'string') return undefined;
  if (k in own) return own[k];
  let v;
  try {
    v = bindings()[k];
  } catch (e) {
    return undefined;
  }
  return typeof v === 'string' ? v : undefined;
};
const envKeys = () => {
  const keys = [];
  let e = {};
  try {
    e = bindings();
  } catch (err) {}
  for (const k of Object.keys(e)) {
    if (!(k in own) && typeof e[k] === 'string') keys.push(k);
  }
  for (const k of Object.keys(own)) if (own[k] !== undefined) keys.push(k);
  return keys;
};
const env = new Proxy({}, {
  get: (_, k) => text(k),
  has: (_, k) => text(k) !== undefined,
  ownKeys: () => envKeys(),
  getOwnPropertyDescriptor: (_, k) => {
    const v = text(k);
    return v === undefined ? undefined : { value: v, writable: true, enumerable: true, configurable: true };
  },
  set: (_, k, v) => {
    if (typeof k === 'string') own[k] = String(v);
    return true;
  },
  defineProperty: (_, k, d) => {
    if (typeof k === 'string') own[k] = String(d.value);
    return true;
  },
  deleteProperty: (_, k) => {
    if (typeof k === 'string') own[k] = undefined;
    return true;
  },
});

const nextTick = (fn, ...args) => {
  if (typeof fn !== 'function') {
    const err = new TypeError('The "callback" argument must be of type function. Received ' + (fn === null ? 'null' : typeof fn));
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  queueMicrotask(() => fn(...args));
};

const start = Date.now();
const hrtime = (prev) => {
  const ns = BigInt(Math.round(performance.now() * 1e6));
  let s = Number(ns / 1000000000n), n = Number(ns % 1000000000n);
  if (prev) {
    s -= prev[0];
    n -= prev[1];
    if (n < 0) {
      s--;
      n += 1e9;
    }
  }
  return [s, n];
};
hrtime.bigint = () => BigInt(Math.round(performance.now() * 1e6));

Object.assign(process, {
  env,
  nextTick,
  hrtime,
  version: 'v22.14.0',
  versions: { node: '22.14.0' },
  platform: 'linux',
  arch: 'x64',
  title: 'workerd',
  argv: [],
  argv0: 'workerd',
  execArgv: [],
  execPath: '',
  pid: 1,
  ppid: 0,
  exitCode: undefined,
  release: { name: 'node' },
  features: {},
  config: {},
  cwd: () => '/',
  chdir: () => {
    const err = new Error('process.chdir() is not supported');
    err.code = 'ERR_METHOD_NOT_IMPLEMENTED';
    throw err;
  },
  umask: () => 0o22,
  uptime: () => (Date.now() - start) / 1000,
  memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
  emitWarning: (warning, type) => {
    const name = typeof type === 'string' ? type : (warning && warning.name) || 'Warning';
    console.warn(name + ': ' + (warning && warning.message !== undefined ? warning.message : String(warning)));
  },
  exit: (code) => {
    const err = new Error('process.exit(' + (code === undefined ? '' : code) + ') is not supported in a Worker');
    err.code = 'ERR_METHOD_NOT_IMPLEMENTED';
    throw err;
  },
  abort: () => {
    throw new Error('process.abort() is not supported in a Worker');
  },
});
Object.defineProperty(process, Symbol.toStringTag, { value: 'process', configurable: true });

module.exports = process;
