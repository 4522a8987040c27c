// 100,000 closures, each over its own captured state.
function build(scale) {
  const fs = [];
  for (let i = 0; i < 100000 * scale; i++) {
    let count = i;
    fs.push(() => ++count);
  }
  return fs;
}
