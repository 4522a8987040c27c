// A hostile Worker: it never yields. warren ends it at its CPU limit.
//   warren run --cpu-ms 50 examples/spin.js
export default {
  fetch() {
    for (;;) {}
  },
};
