package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/gotool"
	"github.com/warrenmesh/warren/testnet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// warren builds the binary once and runs it with args in the repository's
// root, returning stdout, stderr and the exit status: the command line is a
// contract (DESIGN §3.4).
func warren(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return warrenIn(t, filepath.Join("..", ".."), args...)
}

// warrenIn is warren run in the directory dir.
func warrenIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := warrenCmd(t, args...)
	cmd.Dir = dir
	return runWarren(t, cmd)
}

// runWarren runs cmd and returns what it printed and its exit status.
func runWarren(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// warrenCmd is a warren command, built once, not started, run in the
// repository's root.
func warrenCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warren-cli")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "warren")
		goCmd, err := gotool.Path()
		if err != nil {
			buildErr = err
			return
		}
		build := exec.Command(goCmd, "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building warren: %v", buildErr)
	}
	cmd := exec.Command(binPath, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "WARREN_NODE=")
	return cmd
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func TestRunCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	out, errOut, code := warren(t, "run", "examples/hello.ts")
	if code != 0 || !strings.Contains(out, "Hello from warren") || !strings.Contains(errOut, "[log] hello from /") {
		t.Errorf("run hello: %d %q %q", code, out, errOut)
	}
	out, _, code = warren(t, "run", "--json", "--path", "/greet/Ada", "examples/router/main.ts")
	var res struct {
		Outcome  string
		Response struct {
			Status int
			Body   string
		}
		Telemetry struct {
			Node     string
			Executor string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("run --json: %d %v %q", code, err, out)
	}
	if res.Outcome != "ok" || res.Response.Body != "Hello, Ada!\n" || res.Telemetry.Executor != "sandbox" {
		t.Errorf("run --json: %+v", res)
	}
	if _, errOut, code := warren(t, "run", "--cpu-ms", "50", "examples/spin.js"); code != 1 || !strings.Contains(errOut, "exceededCpu") {
		t.Errorf("spin: %d %q", code, errOut)
	}
	if _, errOut, code := warren(t, "run", "--path", "/fail", "examples/router/main.ts"); code != 1 || !strings.Contains(errOut, "main.ts:15") {
		t.Errorf("fail: %d %q", code, errOut)
	}
	if out, _, code := warren(t, "run", "-d", "echo me", "--in-process", "examples/router/main.ts", "--path", "/hash"); code != 0 || !strings.Contains(out, `"bytes":7`) {
		t.Errorf("POST body: %d %q", code, out)
	}
	// A streamed body is printed as it comes (the embedded runtime).
	wantStream := "data: Here\n\ndata: is\n\ndata: a\n\ndata: streamed\n\ndata: answer\n\ndata: about\n\ndata: ci,\n\n"
	if out, errOut, code := warren(t, "run", "--path", "/?q=ci&ms=1", "examples/stream.js"); code != 0 || !strings.HasPrefix(out, wantStream) || !strings.HasSuffix(out, "event: done\ndata: \n\n") {
		t.Errorf("stream: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := warren(t, "run", "does-not-exist.ts"); code != 1 || !strings.Contains(errOut, "does-not-exist.ts") {
		t.Errorf("missing file: %d %q", code, errOut)
	}
	// ctx.waitUntil work ends after the response; its logs and exceptions
	// are printed all the same.
	bg := filepath.Join(t.TempDir(), "bg.js")
	if err := os.WriteFile(bg, []byte(`export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise((_, reject) => setTimeout(() => { console.log("later"); reject(new Error("background failed")); }, 10)));
  return new Response("early");
} }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := warren(t, "run", bg); code != 0 || out != "early" || !strings.Contains(errOut, "[log] later") || !strings.Contains(errOut, "Error: background failed") {
		t.Errorf("waitUntil: %d %q %q", code, out, errOut)
	}
}

// TestUsageErrors: every wrong use of the command line exits 2 with a
// message on stderr saying what is wrong, and runs nothing.
func TestUsageErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"dashboard"}, `unknown command "dashboard" for "warren"`},
		{[]string{"tail", "extra"}, "takes no arguments"},
		{[]string{"deploy"}, "takes NAME FILE"},
		{[]string{"membres"}, "did you mean members?"},
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"help", "dashboard"}, `unknown help topic "dashboard"`},
		{[]string{"run"}, "exactly one FILE"},
		{[]string{"run", "a", "b"}, "exactly one FILE"},
		{[]string{"run", "--no-such-flag", "x.js"}, "unknown flag: --no-such-flag"},
		{[]string{"run", "--cpu-ms", "many", "x.js"}, `invalid argument "many"`},
		{[]string{"run", "-H", "nocolon", "examples/hello.ts"}, "want 'Name: value'"},
		{[]string{"run", "--node", "127.0.0.1:1", "--allow-net", "example.com", "examples/hello.ts"}, "--allow-net"},
		{[]string{"run", "--node", "127.0.0.1:1", "--state", "d", "examples/hello.ts"}, "--state applies to the embedded runtime"},
		{[]string{"run", "--kv", "VISITS", "examples/hello.ts"}, "want NAME=namespace"},
		{[]string{"run", "--kv", "=visits", "examples/hello.ts"}, "want NAME=namespace"},
		{[]string{"run", "--kv", "VISITS=a/b", "examples/hello.ts"}, "namespace: byte 0x2f"},
		{[]string{"run", "--kv", "V=a", "--kv", "V=b", "examples/hello.ts"}, "V is bound twice"},
		{[]string{"run", "--var", "NAME", "examples/hello.ts"}, "want NAME=VALUE"},
		{[]string{"run", "--var", "=x", "examples/hello.ts"}, "want NAME=VALUE"},
		{[]string{"run", "--var", ":x", "examples/hello.ts"}, "want NAME=VALUE"},
		{[]string{"run", "--var", "A=1", "--var", "A=2", "examples/hello.ts"}, "A is set twice"},
		{[]string{"run", "--var", "A=1", "--kv", "A=ns", "examples/hello.ts"}, "A is also bound by another flag"},
		{[]string{"deploy", "--var", "x", "w", "examples/hello.ts"}, "want NAME=VALUE"},
		{[]string{"node", "extra"}, "warren node takes no arguments"},
		{[]string{"node", "--log-format", "yaml"}, "want text or json"},
		{[]string{"node", "--log-level", "loud"}, "want debug, info, warn or error"},
		{[]string{"node", "--slots", "x"}, `invalid argument "x"`},
		{[]string{"members", "extra"}, "warren members takes no arguments"},
		{[]string{"decommission", "extra"}, "warren decommission takes no arguments"},
		{[]string{"decommission", "--cancel", "--status"}, "--cancel and --status"},
		{[]string{"secret"}, "needs a subcommand: init"},
		{[]string{"secret", "bogus"}, `unknown command "bogus" for "warren secret"`},
		{[]string{"secret", "init"}, "exactly one FILE"},
		{[]string{"secret", "init", "a", "b"}, "exactly one FILE"},
		{[]string{"testnet"}, "testnet needs a subcommand"},
		{[]string{"testnet", "bogus"}, `unknown command "bogus" for "warren testnet"`},
		{[]string{"testnet", "up", "x"}, "only after --"},
		{[]string{"testnet", "up", "-n", "0"}, "at least 1"},
		{[]string{"testnet", "status", "x"}, "takes no arguments"},
		{[]string{"testnet", "url"}, "exactly one NAME"},
		{[]string{"testnet", "stop"}, "exactly one node NAME"},
		{[]string{"testnet", "pause", "a", "b"}, "exactly one node NAME"},
		{[]string{"completion"}, "needs a subcommand: bash, fish, powershell, zsh"},
		{[]string{"completion", "csh"}, `unknown command "csh" for "warren completion"`},
		{[]string{"completion", "bash", "extra"}, `"extra"`},
	} {
		out, errOut, code := warren(t, tc.args...)
		if code != 2 || !strings.HasPrefix(errOut, "warren: ") || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("warren %s: exit %d, stdout %q, stderr %q; want exit 2 saying %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
	// Help is not an error.
	for _, args := range [][]string{nil, {"help"}, {"help", "testnet", "up"}, {"run", "--help"}} {
		if out, errOut, code := warren(t, args...); code != 0 || out == "" {
			t.Errorf("warren %s: exit %d %q", strings.Join(args, " "), code, errOut)
		}
	}
}

func TestSecretInit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	path := filepath.Join(t.TempDir(), "s")
	if _, errOut, code := warren(t, "secret", "init", path); code != 0 {
		t.Fatalf("secret init: %d %q", code, errOut)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode: %v %v", st.Mode(), err)
	}
	if _, _, code := warren(t, "secret", "init", path); code == 0 {
		t.Error("secret init overwrote an existing secret")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := warren(t, "node", "--secret", path, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("node with a world-readable secret: %d %q", code, errOut)
	}
}

// TestTestnetCommands drives a two-node testnet through the command line:
// up, members and run against it, pause and resume one node, down.
func TestTestnetCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the multi-process testnet")
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGSTOP for pause")
	}
	testnet.Exclusive(t)
	dir := t.TempDir()
	t.Cleanup(func() { warren(t, "testnet", "down", "--dir", dir) })
	out, errOut, code := warren(t, "testnet", "up", "-n", "2", "--dir", dir)
	if code != 0 {
		t.Fatalf("testnet up: %d %s %s", code, out, errOut)
	}
	// The client commands mint their tokens from the testnet's secret.
	t.Setenv("WARREN_SECRET", filepath.Join(dir, "secret"))
	t.Setenv("WARREN_TOKEN", "")
	url, _, code := warren(t, "testnet", "url", "--dir", dir, "n2")
	url = strings.TrimSpace(url)
	if code != 0 || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("testnet url n2: %d %q", code, url)
	}
	if out, errOut, code := warren(t, "run", "--node", url, "examples/hello.ts"); code != 0 || out == "" {
		t.Errorf("run --node n2: %d %q %s", code, out, errOut)
	}
	// A streamed body comes through the node as lines, printed as it comes.
	if out, errOut, code := warren(t, "run", "--node", url, "--path", "/?q=ci&ms=1", "examples/stream.js"); code != 0 || !strings.HasPrefix(out, "data: Here\n\ndata: is\n\n") || !strings.HasSuffix(out, "event: done\ndata: \n\n") {
		t.Errorf("run --node n2 stream: %d %q %s", code, out, errOut)
	}
	// A Worker counts its visits in the mesh's KV store: one visit
	// through n2, the next through n1, which sees it at once. The first
	// may wait for the new mesh to place its groups.
	url1, _, _ := warren(t, "testnet", "url", "--dir", dir, "n1")
	url1 = strings.TrimSpace(url1)
	deadline := time.Now().Add(time.Minute)
	for {
		out, errOut, code := warren(t, "run", "--node", url, "--kv", "VISITS=visits", "examples/counter.js")
		if code == 0 {
			if out != "visit 1\n" {
				t.Fatalf("first visit: %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run --node --kv: %d %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, errOut, code := warren(t, "run", "--node", url1, "--kv", "VISITS=visits", "examples/counter.js"); code != 0 || out != "visit 2\n" {
		t.Errorf("second visit, through n1: %d %q %s", code, out, errOut)
	}
	if out, errOut, code := warren(t, "kv", "get", "--node", url1, "visits", "count"); code != 0 || out != "2" {
		t.Errorf("kv get count: %d %q %s", code, out, errOut)
	}
	if out, errOut, code := warren(t, "members", "--node", url); code != 0 || !strings.Contains(out, "n1") || !strings.Contains(out, "n2") {
		t.Errorf("members: %d %s %s", code, out, errOut)
	}
	if out, errOut, code := warren(t, "testnet", "pause", "--dir", dir, "n2"); code != 0 || !strings.Contains(out, "paused n2") {
		t.Fatalf("pause: %d %s %s", code, out, errOut)
	}
	if out, _, _ := warren(t, "testnet", "status", "--dir", dir); !strings.Contains(out, "paused") {
		t.Errorf("status after pause does not say paused:\n%s", out)
	}
	if out, errOut, code := warren(t, "testnet", "resume", "--dir", dir, "n2"); code != 0 || !strings.Contains(out, "resumed n2") {
		t.Fatalf("resume: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := warren(t, "testnet", "pause", "--dir", dir, "n9"); code == 0 || !strings.Contains(errOut, "n9") {
		t.Errorf("pause of an unknown node: %d %s", code, errOut)
	}
	if out, errOut, code := warren(t, "testnet", "down", "--dir", dir); code != 0 {
		t.Errorf("down: %d %s %s", code, out, errOut)
	}
}

// echoWorker writes a Worker that answers its request's URL, content-type
// and body, one per line, and returns its path.
func echoWorker(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "echo.js")
	if err := os.WriteFile(p, []byte(`export default { async fetch(req) {
  return new Response(req.url + "\n" + req.headers.get("content-type") + "\n" + await req.text());
} }`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunPath: --path without a leading slash is the path it names, not
// part of the host.
func TestRunPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	echo := echoWorker(t)
	for path, want := range map[string]string{"greet": "http://localhost/greet", "/greet": "http://localhost/greet", "a/b?q=1": "http://localhost/a/b?q=1", "": "http://localhost/"} {
		out, errOut, code := warren(t, "run", "--in-process", "--path", path, echo)
		if got, _, _ := strings.Cut(out, "\n"); code != 0 || got != want {
			t.Errorf("--path %q: %d url %q, want %q (%q)", path, code, got, want, errOut)
		}
	}
}

// TestRunVar: --var NAME=VALUE (or NAME:VALUE) sets env.NAME to the
// string VALUE, kept as given (no JSON parsing, '=', ':' and spaces in it
// kept).
func TestRunVar(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	w := filepath.Join(t.TempDir(), "vars.js")
	if err := os.WriteFile(w, []byte(`export default { fetch(req, env) {
  return new Response(JSON.stringify([env.GREETING, typeof env.N, env.N, env.EQ, env.EMPTY]));
} }`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := warren(t, "run", "--in-process", "--var", "GREETING=hello world", "--var", "N:42", "--var", "EQ=a=b:c", "--var", "EMPTY=", w)
	if want := `["hello world","string","42","a=b:c",""]`; code != 0 || out != want {
		t.Errorf("run --var: %d %q %q, want %q", code, out, errOut, want)
	}
}

// TestRunNPM: a Worker importing npm packages from node_modules runs in
// a sandbox worker, which has only the code object.
func TestRunNPM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	out, errOut, code := warren(t, "run", "node/testdata/npm/worker.js")
	if code != 0 || !strings.Contains(out, `"greet":"hello, ADA nested-pad:y"`) || !strings.Contains(out, `"flavor":"workerd"`) || !strings.Contains(out, `"id":true`) {
		t.Errorf("run npm worker: %d %q %q", code, out, errOut)
	}
}

// TestRunHost: -H 'Host: ...' sets request.url's host; a Host that is
// not one is a usage error.
func TestRunHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	echo := echoWorker(t)
	out, errOut, code := warren(t, "run", "--in-process", "-H", "Host: example.com:8080", "--path", "/a?b=1", echo)
	if got, _, _ := strings.Cut(out, "\n"); code != 0 || got != "http://example.com:8080/a?b=1" {
		t.Errorf("-H Host: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := warren(t, "run", "--in-process", "-H", "Host: a/b", echo); code != 2 || !strings.Contains(errOut, "is not a host") {
		t.Errorf("-H 'Host: a/b': %d %q, want a usage error", code, errOut)
	}
}

// TestRunInProcessWithNode: --in-process is a flag of the embedded runtime;
// with a node it is a usage error, not silently ignored.
func TestRunInProcessWithNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	// Nothing listens on port 1: the error must come before any call.
	_, errOut, code := warren(t, "run", "--node", "127.0.0.1:1", "--in-process", "examples/hello.ts")
	if code != 2 || !strings.Contains(errOut, "--in-process") || strings.Contains(errOut, "connection refused") {
		t.Errorf("run --node --in-process: exit %d %q, want 2 naming --in-process", code, errOut)
	}
}

// TestRunData: a -d body comes as text/plain;charset=UTF-8 unless -H
// names its type; without -d there is no content-type.
func TestRunData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	echo := echoWorker(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", "hi"}, "text/plain;charset=UTF-8\nhi"},
		{[]string{"-d", `{"a":1}`, "-H", "Content-Type: application/json"}, "application/json\n{\"a\":1}"},
		{[]string{"-H", "content-type: text/csv", "-d", "a,b"}, "text/csv\na,b"},
		{nil, "null\n"},
	} {
		out, errOut, code := warren(t, append(append([]string{"run", "--in-process"}, tc.args...), echo)...)
		if _, got, _ := strings.Cut(out, "\n"); code != 0 || got != tc.want {
			t.Errorf("%q: %d %q, want %q (%q)", tc.args, code, got, tc.want, errOut)
		}
	}
}

// TestTestnetHelp: the help of warren testnet and its "needs a subcommand"
// error name every subcommand.
func TestTestnetHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	help, _, code := warren(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	_, bare, code := warren(t, "testnet")
	if code != 2 {
		t.Errorf("testnet: exit %d, want 2", code)
	}
	short, _, _ := strings.Cut(help[strings.Index(help, "testnet"):], "\n")
	need, _, _ := strings.Cut(bare, "\n")
	for _, sub := range newTestnetCmd().Commands() {
		word := regexp.MustCompile(`\b` + sub.Name() + `\b`)
		if !word.MatchString(short) {
			t.Errorf("warren help lists testnet as %q, without %s", short, sub.Name())
		}
		if !word.MatchString(need) {
			t.Errorf("warren testnet says %q, without %s", need, sub.Name())
		}
	}
}

// TestNodeCeilings: --max-wall-ms and --max-memory-mb reach the node,
// which refuses one past what the runtime allows (15 min, 4096 MiB).
func TestNodeCeilings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tc := range []struct{ flag, value, max string }{
		{"--max-wall-ms", "900001", "900000"},
		{"--max-memory-mb", "4097", "4096"},
	} {
		_, errOut, code := warren(t, "node", tc.flag, tc.value, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0")
		if code == 0 || !strings.Contains(errOut, tc.value) || !strings.Contains(errOut, tc.max) {
			t.Errorf("node %s %s: %d %q", tc.flag, tc.value, code, errOut)
		}
	}
}

// writeWorker writes a Worker's source into a new temporary directory and
// returns its path.
func writeWorker(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunKV: --kv binds a namespace of a store on disk that outlives each
// warren run, in --state or else in .warren/state under the current
// directory.
func TestRunKV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	counter := writeWorker(t, "counter.js", `export default { async fetch(req, env) {
  const n = Number(await env.VISITS.get("count") ?? 0) + 1;
  await env.VISITS.put("count", String(n));
  return new Response(String(n));
} }`)
	state := t.TempDir()
	for _, want := range []string{"1", "2", "3"} {
		out, errOut, code := warren(t, "run", "--kv", "VISITS=visits", "--state", state, counter)
		if code != 0 || out != want {
			t.Fatalf("visit: exit %d, %q, want %q (%s)", code, out, want, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "kv")); err != nil {
		t.Errorf("no store in --state: %v", err)
	}
	// Another namespace of the same store starts from nothing; another
	// binding name reaches the same namespace.
	if out, errOut, code := warren(t, "run", "--kv", "VISITS=other", "--state", state, counter); code != 0 || out != "1" {
		t.Errorf("other namespace: %d %q %s", code, out, errOut)
	}
	both := writeWorker(t, "both.js", `export default { async fetch(req, env) {
  return new Response(await env.A.get("count") + " " + await env.B.get("count"));
} }`)
	if out, errOut, code := warren(t, "run", "--kv", "A=visits", "--kv", "B=other", "--state", state, both); code != 0 || out != "3 1" {
		t.Errorf("two bindings: %d %q %s", code, out, errOut)
	}

	list := writeWorker(t, "list.js", `export default { async fetch(req, env) {
  for (const k of ["a1", "a2", "a3", "a4", "a5", "b1"]) await env.VISITS.put(k, k.toUpperCase());
  const pages = [];
  let cursor;
  do {
    const page = await env.VISITS.list({ prefix: "a", limit: 2, cursor });
    pages.push(page.keys.map((k) => k.name).join(","));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return new Response(pages.join("|"));
} }`)
	if out, errOut, code := warren(t, "run", "--kv", "VISITS=list", "--state", state, list); code != 0 || out != "a1,a2|a3,a4|a5" {
		t.Errorf("list: %d %q %s", code, out, errOut)
	}

	// A broken rule of Workers KV is the Worker's exception, saying which.
	bad := writeWorker(t, "bad.js", `export default { async fetch(req, env) {
  await env.VISITS.put("k".repeat(600), "v");
  return new Response("stored");
} }`)
	out, errOut, code := warren(t, "run", "--kv", "VISITS=visits", "--state", state, bad)
	if code != 1 || out != "" || !strings.Contains(errOut, "outcome: exception") ||
		!strings.Contains(errOut, "KV VISITS.put: key: UTF-8 encoded length of 600 exceeds key length limit of 512") ||
		strings.Contains(errOut, "internalError") || strings.Contains(errOut, "kvsm") {
		t.Errorf("600-byte key: exit %d %q\n%s", code, out, errOut)
	}

	// Without --state the store is .warren/state/kv in the current
	// directory, made on first use; without --kv there is none.
	cwd := t.TempDir()
	if out, errOut, code := warrenIn(t, cwd, "run", writeWorker(t, "hi.js", `export default { fetch() { return new Response("hi") } }`)); code != 0 || out != "hi" {
		t.Fatalf("run without --kv: %d %q %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(cwd, ".warren")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a run without --kv made .warren: %v", err)
	}
	for _, want := range []string{"1", "2"} {
		if out, errOut, code := warrenIn(t, cwd, "run", "--kv", "VISITS=visits", counter); code != 0 || out != want {
			t.Fatalf("default state: exit %d, %q, want %q (%s)", code, out, want, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(cwd, ".warren", "state", "kv")); err != nil {
		t.Errorf("no default store: %v", err)
	}
}
