package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/node"
)

// TestDeployCommands drives warren deploy, workers and undeploy against a
// node, and calls the deployed Worker.
func TestDeployCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url := kvTestNode(t, true)
	dir := t.TempDir()
	file := filepath.Join(dir, "hello.js")
	src := `import { greeting } from "./greeting.js";
export default { async fetch(req, env) {
  await env.KV.put("seen", new URL(req.url).pathname);
  return new Response(greeting + " " + await env.KV.get("seen"));
} }`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "greeting.js"), []byte(`export const greeting = "hello";`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, errHas string
	}{
		{[]string{"deploy", "--node", url, "--kv", "KV=app", "hello", file}, 0, "deployed hello version 1\n" + url + "/w/hello/\n", ""},
		{[]string{"deploy", "--node", url, "--kv", "KV=app", "hello", file}, 0, "deployed hello version 2\n" + url + "/w/hello/\n", ""},
		{[]string{"undeploy", "--node", url, "nope"}, 1, "", "not_found"},
		{[]string{"deploy", "--node", url, "--kv", "KV=warren.x", "x", file}, 1, "", "reserved"},
		// Usage errors.
		{[]string{"deploy", "hello"}, 2, "", "NAME FILE"},
		{[]string{"deploy", "Hello", file}, 2, "", "Worker name"},
		{[]string{"deploy", "--kv", "nope", "x", file}, 2, "", "NAME=namespace"},
		{[]string{"deploy", "--do", "nope", "x", file}, 2, "", "NAME=Class"},
		{[]string{"deploy", "--do", "C=Bad_Worker.Class", "x", file}, 2, "", "NAME=Class"},
		{[]string{"deploy", "--do", "C=Counter", "--kv", "C=ns", "x", file}, 2, "", "bound twice"},
		{[]string{"undeploy"}, 2, "", "exactly one NAME"},
		{[]string{"undeploy", "-x"}, 2, "", ""},
		{[]string{"workers", "extra"}, 2, "", "takes no arguments"},
	} {
		out, errOut, code := warren(t, tc.args...)
		if code != tc.code || (tc.stdout != "" || code == 0) && out != tc.stdout || !strings.Contains(errOut, tc.errHas) {
			t.Errorf("warren %s: exit %d, stdout %q, stderr %q; want %d, %q, %q", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.stdout, tc.errHas)
		}
	}
	// The Worker answers at its URL, without a token.
	resp, err := http.Get(url + "/w/hello/a/b")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello /a/b" {
		t.Errorf("GET /w/hello/a/b: %d %s", resp.StatusCode, b)
	}
	out, errOut, code := warren(t, "workers", "--node", url)
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "hello") || !strings.Contains(out, "KV=kv:app") {
		t.Errorf("workers: %d %q %s", code, out, errOut)
	}
	out, _, code = warren(t, "workers", "--node", url, "--json")
	var ws []struct {
		Name    string `json:"name"`
		Version int64  `json:"version"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ws) != nil || len(ws) != 1 || ws[0].Name != "hello" || ws[0].Version != 2 {
		t.Errorf("workers --json: %d %s", code, out)
	}
	if out, errOut, code := warren(t, "undeploy", "--node", url, "hello"); code != 0 || out != "removed hello\n" {
		t.Errorf("undeploy: %d %q %s", code, out, errOut)
	}
	if out, _, code := warren(t, "workers", "--node", url, "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("workers after undeploy: %d %q", code, out)
	}
	// --var values reach the deployed Worker's env.
	vars := filepath.Join(dir, "vars.js")
	if err := os.WriteFile(vars, []byte(`export default { fetch(req, env) { return new Response(env.GREETING + " " + env.WHO); } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := warren(t, "deploy", "--node", url, "--var", "GREETING=hi", "--var", "WHO=Ada Lovelace", "vars", vars); code != 0 {
		t.Fatalf("deploy --var: %d %q %s", code, out, errOut)
	}
	resp, err = http.Get(url + "/w/vars/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hi Ada Lovelace" {
		t.Errorf("GET /w/vars/: %d %s", resp.StatusCode, b)
	}
}

// TestDeployObjectsAndCrons: warren deploy --do and --cron against a node
// that replicates (a mesh of one).
func TestDeployObjectsAndCrons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	n, err := node.Start(context.Background(), node.Config{
		SecretPath: testSecret(t), Name: "solo", Data: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		Executor: "inprocess", Slots: 2, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	url := n.APIURL()
	example, err := filepath.Abs("../../examples/objects-counter.js")
	if err != nil {
		t.Fatal(err)
	}
	// The first deploy waits for the groups to be placed.
	deadline := time.Now().Add(time.Minute)
	for {
		out, errOut, code := warren(t, "deploy", "--node", url, "--do", "COUNTERS=Counter", "objects-counter", example)
		if code == 0 {
			if out != "deployed objects-counter version 1\n"+url+"/w/objects-counter/\n" {
				t.Fatalf("deploy: %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy: exit %d: %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond) // the store is being placed
	}
	for _, want := range []string{"apples: 1\n", "apples: 2\n"} {
		resp, err := http.Get(url + "/w/objects-counter/apples")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("counter: %d %q, want %q", resp.StatusCode, b, want)
		}
	}
	// A cron trigger: the scheduled handler counts its ticks in KV.
	file := writeWorker(t, "tick.js", `export default {
  async scheduled(controller, env) { await env.KV.put("cron", controller.cron); },
  async fetch(req, env) { return new Response(await env.KV.get("cron")); },
}`)
	if out, errOut, code := warren(t, "deploy", "--node", url, "--kv", "KV=ticks", "--cron", "@every 1s", "tick", file); code != 0 {
		t.Fatalf("deploy --cron: exit %d %q %s", code, out, errOut)
	}
	if out, _, _ := warren(t, "workers", "--node", url); !strings.Contains(out, "@every 1s") || !strings.Contains(out, "COUNTERS=do:objects-counter.Counter") {
		t.Errorf("workers: %q", out)
	}
	for start := time.Now(); ; {
		out, _, _ := warren(t, "kv", "get", "--node", url, "ticks", "cron")
		if out == "@every 1s" {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the cron trigger did not run: %q", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Usage: a bad cron is the node's 400.
	if _, errOut, code := warren(t, "deploy", "--node", url, "--cron", "nope", "tick", file); code != 1 || !strings.Contains(errOut, "triggers.crons[0]") {
		t.Errorf("bad cron: exit %d %s", code, errOut)
	}
}

// TestRunScheduled: warren run --scheduled runs the scheduled handler.
func TestRunScheduled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	file := writeWorker(t, "s.js", `export default {
  scheduled(controller) { console.log("tick " + controller.cron + " " + (controller.scheduledTime > 0)); },
}`)
	if out, errOut, code := warren(t, "run", "--in-process", "--scheduled", "--cron", "*/5 * * * *", file); code != 0 || out != "" || !strings.Contains(errOut, "tick */5 * * * * true") {
		t.Errorf("run --scheduled: exit %d %q %q", code, out, errOut)
	}
	if _, errOut, code := warren(t, "run", "--cron", "* * * * *", file); code != 2 || !strings.Contains(errOut, "--scheduled") {
		t.Errorf("--cron alone: exit %d %q", code, errOut)
	}
}

// TestTailCommand: warren tail prints the invocations a node sees.
func TestTailCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url := kvTestNode(t, false)
	file := writeWorker(t, "t.js", `export default { fetch() { console.log("tailed line"); return new Response("x") } }`)
	warren(t, "run", "--node", url, file) // builds the binary before the tail starts
	cmd := warrenCmd(t, "tail", "--node", url, "--node-only")
	var out lockedBuilder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for start := time.Now(); !strings.Contains(out.String(), "tailed line"); {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the tail printed %q", out.String())
		}
		warren(t, "run", "--node", url, file)
		time.Sleep(100 * time.Millisecond)
	}
	if s := out.String(); !strings.Contains(s, " ok ") || !strings.Contains(s, "cli") || !strings.Contains(s, "[log] tailed line") {
		t.Errorf("tail output: %q", s)
	}
}

// lockedBuilder is a strings.Builder a process writes while a test reads.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
