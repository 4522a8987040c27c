// The harness shared by gen.js (in Node) and TestNodeCompatModules (in
// warren): evaluate each case's expression with the node: modules in
// scope, await it, and render it as a string ("throws Name: message" when
// it throws). Both sides run exactly this code.
async function evaluate(mods, src) {
  const names = Object.keys(mods);
  try {
    const f = new Function(...names, "return (" + src + ");");
    const v = await f(...names.map((n) => mods[n]));
    return String(v);
  } catch (e) {
    return "throws " + (e && e.name) + ": " + (e && e.message);
  }
}
