// A Map of 200,000 string keys to numbers.
function build(scale) {
  const m = new Map();
  for (let i = 0; i < 200000 * scale; i++) m.set("k" + i, i);
  return m;
}
