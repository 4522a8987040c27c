package isolate

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentColdBundles: many calls of code not bundled yet, at once:
// each gets its own correct result, also when bundling fails (each caller
// owns its result: the race detector watches), and distinct codes do not
// wait for each other's bundles.
func TestConcurrentColdBundles(t *testing.T) {
	rt := testRuntime(t, InProcess)
	good := js("main.js", `export default { fetch() { return new Response("cold") } }`)
	bad := js("main.js", `export default { fetch() { return new Response("x" } }`)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			c := good
			switch i % 3 {
			case 1:
				c = bad
			case 2:
				c = js("main.js", fmt.Sprintf(`export default { fetch() { return new Response("n%d") } }`, i))
			}
			res := run(t, rt, c, nil)
			switch i % 3 {
			case 0:
				if !res.OK() || string(res.Response.Body) != "cold" {
					t.Errorf("call %d: %s %q", i, res.Outcome, res.Error)
				}
			case 1:
				if res.Outcome != OutcomeException || len(res.Exceptions) != 1 || res.Exceptions[0].Name != "SyntaxError" {
					t.Errorf("call %d: %s %+v", i, res.Outcome, res.Exceptions)
				}
				res.Exceptions[0].Message = "mine" // callers may change their result
			case 2:
				if !res.OK() || string(res.Response.Body) != fmt.Sprintf("n%d", i) {
					t.Errorf("call %d: %s %q", i, res.Outcome, res.Error)
				}
			}
		})
	}
	wg.Wait()
}
