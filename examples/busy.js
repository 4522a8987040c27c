// A Worker that keeps its slot busy for a while (200 ms of CPU), to show
// invocations spilling to peers when a node is full:
//   for i in 1 2 3 4 5 6; do warren run --node URL examples/busy.js & done
export default {
  fetch(request) {
    const ms = Number(new URL(request.url).searchParams.get("ms") ?? 200);
    const end = Date.now() + ms;
    let n = 0;
    while (Date.now() < end) n++;
    return new Response(`spun ${n} times for ${ms} ms\n`);
  },
};
