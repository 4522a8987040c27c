// A hostile Worker: it allocates without bound. warren ends it at its memory limit.
//   warren run --memory-mb 64 examples/membomb.js
export default {
  fetch() {
    const keep = [];
    for (;;) keep.push(new Uint8Array(1 << 20));
  },
};
