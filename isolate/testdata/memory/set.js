// A Set of 300,000 integers.
function build(scale) {
  const s = new Set();
  for (let i = 0; i < 300000 * scale; i++) s.add(i * 3);
  return s;
}
