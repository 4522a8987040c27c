// capture.mjs records what V8 with ICU gives for each expression of
// cases.js (run with node from this directory; the tests need only the
// output, expected.json).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
const cases = createRequire(import.meta.url)("./cases.js");
const out = { icu: process.versions.icu, cases: [] };
for (const c of cases) {
  let v;
  try { v = String(eval(c)); } catch (e) { v = "throws " + e.name; }
  out.cases.push([c, v]);
}
writeFileSync("expected.json", JSON.stringify(out, null, 1) + "\n");
console.log(out.cases.length, "cases");
