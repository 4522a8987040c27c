// An array of 1,000,000 small integers.
function build(scale) {
  const a = [];
  for (let i = 0; i < 1000000 * scale; i++) a.push(i % 100000);
  return a;
}
