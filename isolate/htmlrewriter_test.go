package isolate

import (
	"strings"
	"testing"
)

// TestHTMLRewriterLimits: a rewriting that would take seconds of Go work
// (deep nesting, a descendant selector that never matches) stops at the
// CPU limit, and a document nesting too deeply is an exception, on both
// executors.
func TestHTMLRewriterLimits(t *testing.T) {
	slow := js("main.js", `export default { fetch() {
  const html = "<div>".repeat(1000) + "<a>x</a>".repeat(2000000);
  return new HTMLRewriter().on("section a", { element(e) { e.remove() } }).transform(new Response(html));
} }`)
	slow.Limits = &Limits{CPUMs: 200, WallMs: 30_000, MemoryMB: 256}
	deep := js("main.js", `export default { async fetch() {
  try {
    await new HTMLRewriter().on("p", { element() {} }).transform(new Response("<div>".repeat(5000))).text();
    return new Response("no error");
  } catch (e) { return new Response(e.name + ": " + e.message); }
} }`)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			res := run(t, rt, slow, nil)
			// Unchecked, the rewriting would go on for seconds before the
			// limit is seen.
			if res.Outcome != OutcomeExceededCPU || res.Telemetry.WallTime > 3000 {
				t.Errorf("slow rewriting: %s after %.0f ms: %s %+v", res.Outcome, res.Telemetry.WallTime, res.Error, res.Exceptions)
			}
			res = run(t, rt, deep, nil)
			if res.Outcome != OutcomeOK || res.Response == nil || !strings.Contains(string(res.Response.Body), "Error: HTMLRewriter: the document nests elements too deeply") {
				t.Errorf("deep document: %s %s %+v", res.Outcome, res.Error, res.Response)
			}
		})
	}
}
