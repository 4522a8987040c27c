package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/warrenmesh/warren/testnet"
)

// chromiumPath finds a Chromium or Chrome binary: $CHROMIUM, else one on
// $PATH.
func chromiumPath() (string, bool) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		p, err := exec.LookPath(p)
		return p, err == nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// TestDashboardInChromium loads the dashboard of a 3-node testnet (real
// node processes) in headless Chromium: the token comes in the URL's
// fragment and leaves the address bar, the page shows the 3 members and
// their RTT matrix, the live tail connects (fetch with the token in a
// header), and a snippet run from the page shows its output, as text, and
// the node it ran on; the tail then shows the same invocation.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test (builds the binary, runs 3 node processes and Chromium)")
	}
	chrome, ok := chromiumPath()
	if !ok {
		t.Skip("no chromium binary found (apt-get install chromium, or set $CHROMIUM): skipping the dashboard's browser test")
	}
	testnet.Exclusive(t)
	warrenCmd(t) // builds binPath
	dir := t.TempDir()
	t.Cleanup(func() { testnet.Down(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := testnet.Up(ctx, testnet.Options{Binary: binPath, Dir: dir, N: 3, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.Token(time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chrome), chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses root with its sandbox
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var (
		mu     sync.Mutex
		thrown []string
	)
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			thrown = append(thrown, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}

	// waitJS polls expr in the page until it gives true.
	waitJS := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := chromedp.Run(bctx, chromedp.Evaluate[bool](expr))
			if err == nil && got {
				return
			}
			if time.Now().After(deadline) {
				status, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
				t.Fatalf("waiting for %s: %v (page status %q)", what, err, status)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%q).textContent", sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}

	start := time.Now()
	if err := chromedp.Do(bctx, chromedp.Navigate(st.Nodes[0].API+"/#token="+url.QueryEscape(tok))); err != nil {
		t.Fatal(err)
	}
	waitJS("3 alive members", `(() => { const r = [...document.querySelectorAll("#members tbody tr")];
		return r.length === 3 && r.every((tr) => tr.cells[1].textContent === "alive"); })()`)
	waitJS("the 3x3 RTT matrix", `document.querySelectorAll("#rtt tbody tr").length === 3 &&
		[...document.querySelectorAll("#rtt tbody td")].every((td) => td.textContent !== "?")`)
	waitJS("the token gone from the address bar and kept for the session",
		`location.hash === "" && sessionStorage.getItem("warren.token") === `+jsString(tok))
	waitJS("the live tail connected", `document.getElementById("tail-state").textContent === "(connected)"`)
	for _, n := range []string{"n1", "n2", "n3"} {
		if !strings.Contains(text("#members tbody"), n) {
			t.Errorf("members do not list %s: %q", n, text("#members tbody"))
		}
	}

	// Its output is HTML, which the page must show as text.
	snippet := `export default { fetch(req) {
  console.log("ran at " + new URL(req.url).pathname);
  return new Response("<img src=x id=injected>dashboard-ok");
} }`
	if err := chromedp.Do(bctx,
		chromedp.SetValue("#run-source", snippet),
		chromedp.SetValue("#run-path", "/from-the-page"),
		chromedp.Click("#run-button"),
	); err != nil {
		t.Fatal(err)
	}
	waitJS("the run's result", `document.getElementById("run-outcome").textContent === "ok"`)
	if got := text("#run-body"); got != "<img src=x id=injected>dashboard-ok" {
		t.Errorf("body shown: %q", got)
	}
	waitJS("no element made from the output", `document.getElementById("injected") === null && document.getElementById("run-body").children.length === 0`)
	if got := text("#run-logs"); got != "[log] ran at /from-the-page" {
		t.Errorf("logs shown: %q", got)
	}
	ranOn := text("#run-node")
	if !slices.Contains([]string{"n1", "n2", "n3"}, ranOn) || !strings.HasSuffix(text("#run-hops"), ranOn) {
		t.Errorf("ran on %q, hops %q", ranOn, text("#run-hops"))
	}
	waitJS("the run in the live tail", `[...document.querySelectorAll("#tail tbody tr")].some((tr) =>
		tr.cells[2].textContent === "run" && tr.cells[8].textContent.includes("ran at /from-the-page"))`)

	// TypeScript, and an exception shown with its stack (as text).
	if err := chromedp.Do(bctx,
		chromedp.SetValue("#run-lang", "ts"),
		chromedp.SetValue("#run-source", "export default { fetch(): Response {\n  throw new TypeError(\"<b>bad</b> input\");\n} }"),
		chromedp.Click("#run-button"),
	); err != nil {
		t.Fatal(err)
	}
	waitJS("the exception", `document.getElementById("run-outcome").textContent === "exception"`)
	if got := text("#run-exceptions"); !strings.HasPrefix(got, "TypeError: <b>bad</b> input") || !strings.Contains(got, "main.ts:2") {
		t.Errorf("exceptions shown: %q", got)
	}
	if got := text("#run-body") + text("#run-status"); got != "–" {
		t.Errorf("an exception shows body and status %q, want none", got)
	}
	t.Logf("page loaded, members shown, snippet run on %s and tailed in %v", ranOn, time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if len(thrown) > 0 {
		t.Errorf("the page threw: %q", thrown)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string { return fmt.Sprintf("%q", s) }
