// The data workload of the isolate/data bench row: build 100,000 small
// objects, JSON.stringify them (about 4.3 MB), JSON.parse the text back,
// sort with a comparator, and run a 3-million-step `let` loop. It answers
// with the milliseconds each step took, measured with performance.now(),
// and a checksum that shows every step did its work. The same file runs
// in Node (bench/data.go), which calls runWorkload() directly.
function runWorkload() {
  const t = {};
  let t0 = performance.now();
  const items = [];
  for (let i = 0; i < 100000; i++) {
    items.push({ id: i, name: "item" + i, score: (i * 7919) % 10007 });
  }
  let t1 = performance.now();
  t.build = t1 - t0;
  t0 = t1;
  const text = JSON.stringify(items);
  t1 = performance.now();
  t.stringify = t1 - t0;
  t0 = t1;
  const back = JSON.parse(text);
  t1 = performance.now();
  t.parse = t1 - t0;
  t0 = t1;
  back.sort((a, b) => a.score - b.score || a.id - b.id);
  t1 = performance.now();
  t.sort = t1 - t0;
  t0 = t1;
  let sum = 0;
  for (let i = 0; i < 3000000; i++) {
    sum = (sum + i * 3) % 1000003;
  }
  t1 = performance.now();
  t.loop = t1 - t0;
  t.bytes = text.length;
  t.check = back[0].id + "/" + back[99999].id + "/" + sum;
  return t;
}

export default {
  fetch() {
    return Response.json(runWorkload());
  },
};
