package testnet

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssBytes is the resident set of a process (Linux).
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// runCode is a POST /v1/run body for a code object of one module.
func runCode(src string) string {
	b, _ := json.Marshal(map[string]any{"code": map[string]any{"mainModule": "main.js", "modules": map[string]string{"main.js": src}}})
	return string(b)
}

// TestHostilePreparationLiveNode sends code built to break bundling to a
// real node process, while another client makes honest calls. Each hostile
// call ends with a clear outcome within the preparation deadline, the
// honest calls all succeed, the node stays up, and its memory returns
// near where it was idle.
func TestHostilePreparationLiveNode(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("runs a node process and reads /proc")
	}
	Exclusive(t)
	bin := buildWarren(t)
	dir := t.TempDir()
	downAtEnd(t, dir)
	ctx := harnessCtx(t, 3*time.Minute)
	st, err := Up(ctx, Options{Binary: bin, Dir: dir, N: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	authorize(t, st)
	n := st.Nodes[0]
	handler := func(expr string) string {
		return "export default { fetch() { return new Response(String(" + expr + ")) } }"
	}
	hello := runCode(handler("'hi'"))
	if out, err := postRun(ctx, n.API, hello); err != nil || !strings.Contains(out, `"outcome":"ok"`) {
		t.Fatalf("hello: %v %s", err, out)
	}
	idle := rssBytes(t, n.PID)
	huge := "export default { fetch() { return new Response('x') } };\n" + strings.Repeat("var a = [1,2,3,4,5,6,7,8,9,10].map(x => x * 2 + Math.max(x, 3));\n", 30<<20/64)
	hostile := []struct{ name, body string }{
		{"arrays 250k deep", runCode(handler(strings.Repeat("[", 250000) + strings.Repeat("]", 250000)))},
		{"blocks 20k deep", runCode(strings.Repeat("if(1){", 20000) + strings.Repeat("}", 20000) + handler("1"))},
		{"arrows 100k deep", runCode(handler(strings.Repeat("x=>", 100000) + "1"))},
		{"ifs without braces 20k deep", runCode(strings.Repeat("if(1)", 20000) + "1;\n" + handler("1"))},
	}
	for i := range 3 { // three at once used to hold 10 GB
		hostile = append(hostile, struct{ name, body string }{fmt.Sprintf("30 MB module #%d", i), runCode(fmt.Sprintf("// %d\n", i) + huge)})
	}

	stop := make(chan struct{})
	var honest sync.WaitGroup
	var honestOK, honestBad int
	var mu sync.Mutex
	honest.Add(1)
	go func() {
		defer honest.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := postRun(ctx, n.API, hello)
			mu.Lock()
			if err == nil && strings.Contains(out, `"outcome":"ok"`) {
				honestOK++
			} else {
				honestBad++
				t.Errorf("honest call during the attack: %v %.300s", err, out)
			}
			mu.Unlock()
		}
	}()

	var wg sync.WaitGroup
	for _, h := range hostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			out, err := postRun(ctx, n.API, h.body)
			took := time.Since(t0)
			var res struct {
				Outcome    string `json:"outcome"`
				Exceptions []struct{ Name, Message string }
				Code       string `json:"code"` // an API error
				Error      string `json:"error"`
			}
			if err == nil {
				err = json.Unmarshal([]byte(out), &res)
			}
			t.Logf("%s: %s%s in %v %v %s", h.name, res.Outcome, res.Code, took.Round(time.Millisecond), res.Exceptions, res.Error)
			clear := res.Outcome == "exception" && len(res.Exceptions) == 1 || res.Code == "invalid_code"
			if err != nil || !clear {
				t.Errorf("%s: %v %.300s, want one exception or a 400", h.name, err, out)
			}
			// The preparation deadline is 1 s; reading and decoding 30 MB
			// take 1-2 s more on a quiet 2-core machine (three at once
			// share it). This bound catches a hang, not a slow machine:
			// the figures are in the log above.
			if took > 10*time.Second {
				t.Errorf("%s: took %v", h.name, took)
			}
		}()
	}
	wg.Wait()
	close(stop)
	honest.Wait()
	if !n.Running() {
		t.Fatal("the node died")
	}
	t.Logf("honest calls during the attack: %d ok, %d not", honestOK, honestBad)
	if honestOK == 0 {
		t.Error("no honest call completed during the attack")
	}
	peak := rssBytes(t, n.PID)
	deadline := time.Now().Add(15 * time.Second)
	for {
		rss := rssBytes(t, n.PID)
		if rss <= idle+50<<20 {
			t.Logf("node RSS: idle %d MiB, after the attack %d MiB, now %d MiB", idle>>20, peak>>20, rss>>20)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node RSS %d MiB 15 s after the attack, idle was %d MiB", rss>>20, idle>>20)
		}
		time.Sleep(100 * time.Millisecond) // polling /proc; the deadline above bounds it
	}
}
