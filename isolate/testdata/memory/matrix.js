// A 1,000 x 1,000 matrix as an array of arrays of numbers.
function build(scale) {
  const n = Math.round(1000 * Math.sqrt(scale));
  const rows = [];
  for (let i = 0; i < n; i++) {
    const r = [];
    for (let j = 0; j < n; j++) r.push((i * j) % 97 + 0.5);
    rows.push(r);
  }
  return rows;
}
