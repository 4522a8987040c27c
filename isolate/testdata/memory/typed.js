// Typed arrays: 8 MB of Float64Array and 8 MB of Uint8Array.
function build(scale) {
  const f = new Float64Array((1 << 20) * scale);
  for (let i = 0; i < f.length; i++) f[i] = i / 3;
  const b = new Uint8Array((8 << 20) * scale);
  for (let i = 0; i < b.length; i += 4096) b[i] = i & 255;
  return [f, b];
}
