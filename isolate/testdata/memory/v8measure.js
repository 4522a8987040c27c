// v8measure.js measures how much memory V8 holds for each Worker of the
// memory corpus (the *.js files next to it): the growth of the heap in
// use plus external memory (ArrayBuffer backing stores), after full
// collections, while the structure build(1) returns is kept alive.
//
//   node v8measure.js > v8.json
//
// Each Worker is measured in a fresh node process, three times; the median
// is kept. warren's tests read v8.json (see isolate/memory_test.go).
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");
const { execFileSync } = require("child_process");

function gcHard() {
  for (let i = 0; i < 4; i++) global.gc();
}

function used() {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

if (process.argv[2] === "--one") {
  const file = process.argv[3];
  const build = vm.runInThisContext(fs.readFileSync(file, "utf8") + "\n;build", { filename: file });
  gcHard();
  const before = used();
  let kept = build(1);
  gcHard();
  const after = used();
  process.stdout.write(String(after - before));
  if (kept === undefined) throw new Error("build returned nothing");
  kept = null;
  return;
}

const dir = __dirname;
const out = {
  measuredWith: "node " + process.version + " (V8 " + process.versions.v8 + ")",
  method: "process.memoryUsage() heapUsed + external, growth after global.gc() while build(1)'s result is alive; median of 3 fresh processes",
  bytes: {},
};
for (const f of fs.readdirSync(dir).sort()) {
  if (!f.endsWith(".js") || f === "v8measure.js") continue;
  const runs = [];
  for (let i = 0; i < 3; i++) {
    runs.push(Number(execFileSync(process.execPath, ["--expose-gc", __filename, "--one", path.join(dir, f)], { encoding: "utf8" })));
  }
  runs.sort((a, b) => a - b);
  out.bytes[f.replace(/\.js$/, "")] = runs[1];
}
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
