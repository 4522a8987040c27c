// One 8 MB string joined from 480,000 lines (a CSV file in memory).
function build(scale) {
  const parts = [];
  for (let i = 0; i < 480000 * scale; i++) parts.push("line " + (i % 100000).toString().padStart(6, "0") + ",ok\n");
  return parts.join("");
}
