package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
}
