// Injected before every module of a nodejs_compat bundle: the globals
// Buffer and process, as Cloudflare's nodejs_compat has them. Each is a
// getter until first read, so a Worker that never touches them does not
// run node:buffer or node:process; assigning one replaces it.
const lazy = (name, get) => {
  Object.defineProperty(globalThis, name, {
    configurable: true,
    enumerable: false,
    get() {
      const v = get();
      Object.defineProperty(globalThis, name, { value: v, writable: true, configurable: true, enumerable: false });
      return v;
    },
    set(v) {
      Object.defineProperty(globalThis, name, { value: v, writable: true, configurable: true, enumerable: false });
    },
  });
};
lazy("Buffer", () => require("buffer").Buffer);
lazy("process", () => require("process"));
