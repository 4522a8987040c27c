package isolate

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "embed"
)

// The Web Platform Tests, file by file, on warren and (optionally) workerd.
// The files of the table are copied into testdata/wpt/suite (their
// licence is there), so the test runs in make test; point -wpt (or
// WARREN_WPT) at a checkout of web-platform-tests/wpt to run the table's
// files at other versions. Each file named in
// testdata/wpt/files.tsv runs as one Worker: testdata/wpt/harness.js (a
// small testharness.js of warren's), the scripts of its "// META: script="
// lines, the file, and a fetch handler answering the subtests' results.
// The test fails when warren passes fewer subtests of a file than the
// table records. With -workerd (or WARREN_WORKERD) naming a workerd
// binary (npm install workerd), the same Worker also runs in workerd and
// both counts are printed side by side. docs/conformance.md has the table.
//
//	go test ./isolate -run TestWPT -wpt ~/wpt -workerd node_modules/.bin/workerd -v
var (
	wptDir     = flag.String("wpt", os.Getenv("WARREN_WPT"), "a checkout of web-platform-tests/wpt (TestWPT; default testdata/wpt/suite)")
	workerdBin = flag.String("workerd", os.Getenv("WARREN_WORKERD"), "a workerd binary to run the WPT files side by side (TestWPT)")
	wptVerbose = flag.Bool("wpt-failures", false, "TestWPT: log every failing subtest")
	wptOnly    = flag.String("wpt-only", "", "TestWPT: run only the files whose path contains this")
)

//go:embed testdata/wpt/harness.js
var wptHarness string

// wptFetchRE finds fetch("relative/path.json") in a WPT file.
var wptFetchRE = regexp.MustCompile(`fetch\((["'])([\w./-]+\.json)["']\)`)

// wptTimeout bounds one file's asynchronous subtests.
const wptTimeout = 10 * time.Second

type wptResult struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

type wptFile struct {
	path    string
	warren  int // subtests warren passed when the table was last written
	workerd int // and workerd (-1: not run)
	total   int
}

// readWPTTable reads testdata/wpt/files.tsv: path, warren's passes,
// workerd's passes, subtests, and the wpt commit of the file measured
// (lines starting with # are comments).
func readWPTTable(t *testing.T) []wptFile {
	f, err := os.Open("testdata/wpt/files.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []wptFile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ln := strings.TrimSpace(sc.Text())
		if ln == "" || strings.HasPrefix(ln, "#") {
			continue
		}
		cols := strings.Fields(ln)
		if len(cols) != 4 && len(cols) != 5 {
			t.Fatalf("files.tsv: %q: want 4 or 5 columns", ln)
		}
		n := make([]int, 3)
		for i := range n {
			if n[i], err = strconv.Atoi(cols[i+1]); err != nil {
				t.Fatalf("files.tsv: %q: %v", ln, err)
			}
		}
		out = append(out, wptFile{path: cols[0], warren: n[0], workerd: n[1], total: n[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wptWorker builds the Worker that runs one WPT file.
func wptWorker(root, rel string) (string, error) {
	src, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(wptHarness)
	// The file and its scripts run inside the fetch handler (workerd allows
	// no timers or I/O in global scope), as the body of one function.
	fmt.Fprintf(&b, "\nexport default { async fetch() { return new Response(JSON.stringify(await __wptResults(%d, function () {\n", wptTimeout.Milliseconds())
	// The JSON data files the file fetches by a relative path
	// (fetch("resources/urltestdata.json")) are served from the suite by
	// a local fetch that shadows the global one.
	res := map[string]string{}
	for _, m := range wptFetchRE.FindAllStringSubmatch(string(src), -1) {
		data, err := os.ReadFile(filepath.Join(root, filepath.Dir(rel), m[2]))
		if err != nil {
			return "", fmt.Errorf("%s: fetched resource: %w", rel, err)
		}
		res[m[2]] = string(data)
	}
	if len(res) > 0 {
		enc, err := json.Marshal(res)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n;const fetch = __wptFetch(%s);\n", enc)
	}
	for _, ln := range strings.Split(string(src), "\n") {
		ln = strings.TrimSpace(ln)
		if !strings.HasPrefix(ln, "// META:") {
			if ln != "" && !strings.HasPrefix(ln, "//") {
				break
			}
			continue
		}
		kv := strings.TrimSpace(strings.TrimPrefix(ln, "// META:"))
		script, ok := strings.CutPrefix(kv, "script=")
		if !ok {
			continue
		}
		var p string
		if strings.HasPrefix(script, "/") {
			p = filepath.Join(root, script)
		} else {
			p = filepath.Join(root, filepath.Dir(rel), script)
		}
		if strings.HasSuffix(p, "/resources/testharness.js") || strings.HasSuffix(p, "/resources/testharnessreport.js") ||
			strings.HasSuffix(p, "/common/subset-tests.js") || strings.HasSuffix(p, "/common/subset-tests-by-key.js") {
			continue // the harness has subsetTest and subsetTestByKey
		}
		dep, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s: META script: %w", rel, err)
		}
		fmt.Fprintf(&b, "\n;// ---- %s\n", script)
		b.Write(dep)
	}
	fmt.Fprintf(&b, "\n;// ---- %s\n", rel)
	b.Write(src)
	b.WriteString("\n}))); } };\n")
	return b.String(), nil
}

func countPassed(rs []wptResult) int {
	n := 0
	for _, r := range rs {
		if r.Status == "PASS" {
			n++
		}
	}
	return n
}

func TestWPT(t *testing.T) {
	dir := *wptDir
	if dir == "" {
		dir = filepath.Join("testdata", "wpt", "suite")
	}
	files := readWPTTable(t)
	rt := testRuntime(t, InProcess)
	var rows []string
	sumW, sumD, sumT := 0, 0, 0
	for _, f := range files {
		if !strings.Contains(f.path, *wptOnly) {
			continue
		}
		script, err := wptWorker(dir, f.path)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		code := js("main.js", script)
		code.Limits = &Limits{CPUMs: 60_000, WallMs: 60_000, MemoryMB: 512}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		res := rt.Run(ctx, &Invocation{Code: code, Request: &Request{Method: "GET", URL: "https://wpt.test/"}})
		cancel()
		var rs []wptResult
		if res.Outcome != OutcomeOK || json.Unmarshal(res.Response.Body, &rs) != nil {
			msg := string(res.Outcome)
			if len(res.Exceptions) > 0 {
				msg += ": " + res.Exceptions[0].Name + ": " + res.Exceptions[0].Message
			}
			t.Logf("%s: warren: %s", f.path, msg)
		}
		w := countPassed(rs)
		if *wptVerbose {
			for _, r := range rs {
				if r.Status != "PASS" {
					t.Logf("%s: %s %q: %s", f.path, r.Status, r.Name, r.Message)
				}
			}
		}
		d := -1
		if *workerdBin != "" {
			drs, err := runWorkerd(t, *workerdBin, script)
			if err != nil {
				t.Logf("%s: workerd: %v", f.path, err)
			}
			d = countPassed(drs)
			if *wptVerbose {
				for _, r := range drs {
					if r.Status != "PASS" {
						t.Logf("%s: workerd: %s %q: %s", f.path, r.Status, r.Name, r.Message)
					}
				}
			}
			if len(drs) > len(rs) && len(drs) > f.total {
				f.total = len(drs)
			}
		}
		if len(rs) > f.total {
			f.total = len(rs)
		}
		if w < f.warren {
			t.Errorf("%s: warren passes %d subtests, fewer than the %d of testdata/wpt/files.tsv", f.path, w, f.warren)
		}
		rows = append(rows, fmt.Sprintf("%s\t%d\t%d\t%d", f.path, w, d, f.total))
		sumW, sumD, sumT = sumW+w, sumD+d, sumT+f.total
	}
	t.Logf("path\twarren\tworkerd\tsubtests\n%s\ntotal\t%d\t%d\t%d", strings.Join(rows, "\n"), sumW, sumD, sumT)
}

// runWorkerd serves script as an ES module Worker in a workerd process and
// reads one response.
func runWorkerd(t *testing.T, bin, script string) ([]wptResult, error) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	config := `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w) ],
  sockets = [ (name = "http", address = "` + addr + `", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ (name = "main.js", esModule = embed "main.js") ],
  compatibilityDate = "2025-09-01",
);
`
	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte(script), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.capnp"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", filepath.Join(dir, "config.capnp"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			defer resp.Body.Close()
			var rs []wptResult
			if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
				return nil, fmt.Errorf("status %d: %w (%s)", resp.StatusCode, err, stderr.String())
			}
			return rs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("workerd did not answer: %w (%s)", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
