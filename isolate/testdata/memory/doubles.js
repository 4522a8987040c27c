// An array of 1,000,000 fractional numbers.
function build(scale) {
  const a = [];
  for (let i = 0; i < 1000000 * scale; i++) a.push(i * 0.25 + 0.1);
  return a;
}
