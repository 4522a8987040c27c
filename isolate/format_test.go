package isolate

import (
	"strings"
	"testing"
)

// TestGuestTextIsNotAFormat: guest text inside an error message (a URL, a
// header name, a method) reaches the guest verbatim, never read as a
// format string.
func TestGuestTextIsNotAFormat(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { async fetch() {
  const msgs = [];
  try { await fetch("https://x.test/%d%s%v"); } catch (e) { msgs.push(e.message); }
  try { new Headers({ "bad name %d%s": "x" }); } catch (e) { msgs.push(e.message); }
  try { new Request("https://x.test/", { method: "B%dD METHOD" }); } catch (e) { msgs.push(e.message); }
  return new Response(msgs.join("\n"));
} }`)
			res := run(t, rt, c, nil)
			if !res.OK() {
				t.Fatalf("outcome %s: %s %+v", res.Outcome, res.Error, res.Exceptions)
			}
			body := string(res.Response.Body)
			for _, want := range []string{"https://x.test/%d%s%v", "bad name %d%s", "B%dD METHOD"} {
				if !strings.Contains(body, want) {
					t.Errorf("messages %q lack %q", body, want)
				}
			}
			if strings.Contains(body, "%!") {
				t.Errorf("messages %q were formatted", body)
			}
		})
	}
}
