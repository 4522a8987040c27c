// 100,000 small objects with a number, a string and a boolean each (the
// shape of rows a Worker builds from a database or an API).
function build(scale) {
  const rows = [];
  for (let i = 0; i < 100000 * scale; i++) {
    rows.push({ id: i, name: "user" + i, score: (i * 7919) % 1000, active: i % 2 === 0 });
  }
  return rows;
}
