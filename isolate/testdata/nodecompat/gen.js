// gen.js writes cases.json: each line of cases.txt ("module<TAB>expression")
// with the value Node gives it. Run with Node (20 or later) from this
// directory: node gen.js. The test itself never needs Node.
const fs = require("fs");
const harness = fs.readFileSync(__dirname + "/harness.js", "utf8");
const evaluate = new Function(harness + "\nreturn evaluate;")();
const mods = {
  Buffer: require("buffer").Buffer,
  bufferModule: require("buffer"),
  EventEmitter: require("events"),
  util: require("util"),
  path: require("path"),
  assert: require("assert"),
  assertStrict: require("assert/strict"),
  StringDecoder: require("string_decoder").StringDecoder,
  process: require("process"),
  crypto: require("crypto"),
};
(async () => {
  const out = [];
  for (const line of fs.readFileSync(__dirname + "/cases.txt", "utf8").split("\n")) {
    if (!line.trim()) continue;
    const [module, expr] = line.split("\t");
    out.push({ module, expr, want: await evaluate(mods, expr) });
  }
  fs.writeFileSync(__dirname + "/cases.json", JSON.stringify(out, null, 1) + "\n");
})();
