// An array of 200,000 distinct short strings.
function build(scale) {
  const a = [];
  for (let i = 0; i < 200000 * scale; i++) a.push("key-" + i + "-" + (i * 31 % 997));
  return a;
}
