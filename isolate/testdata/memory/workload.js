// The data workload of a typical API Worker: 100,000 small objects to
// JSON (about 4 MB) and back, sorted with a comparator; both the objects
// and their parsed copy are kept.
function build(scale) {
  const rows = [];
  for (let i = 0; i < 100000 * scale; i++) {
    rows.push({ id: i, name: "user" + i, score: (i * 7919) % 1000, active: i % 2 === 0 });
  }
  const json = JSON.stringify(rows);
  const back = JSON.parse(json);
  back.sort((a, b) => a.score - b.score || a.id - b.id);
  return [rows, back];
}
