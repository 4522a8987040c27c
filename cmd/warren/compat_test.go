package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCompat: --compat nodejs_compat gives a Worker from disk the
// Node.js modules, by node: and by bare name; without it the run fails
// naming the flag; a malformed flag is a usage error.
func TestRunCompat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lib.js"), []byte(`import { createHash } from "crypto";
export const sum = (s) => createHash("sha1").update(s).digest("hex");`), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "main.js")
	if err := os.WriteFile(main, []byte(`import { Buffer } from "node:buffer";
import { sum } from "./lib.js";
export default { fetch() { return new Response(Buffer.from("hi").toString("hex") + " " + sum("abc") + " " + typeof process); } };`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := warren(t, "run", "--in-process", "--compat", "nodejs_compat", main)
	if want := "6869 a9993e364706816aba3e25717850c26c9cd0d89d object"; code != 0 || out != want {
		t.Errorf("--compat nodejs_compat: exit %d %q %q, want %q", code, out, errOut, want)
	}
	_, errOut, code = warren(t, "run", "--in-process", main)
	if code != 1 || !strings.Contains(errOut, `add "nodejs_compat" to compatibilityFlags (warren run --compat nodejs_compat)`) {
		t.Errorf("without --compat: exit %d %q, want 1 naming the flag", code, errOut)
	}
	_, errOut, code = warren(t, "run", "--in-process", "--compat", "Not A Flag", main)
	if code != 2 || !strings.Contains(errOut, "--compat") || !strings.Contains(errOut, "compatibilityFlags") {
		t.Errorf("bad flag: exit %d %q, want 2", code, errOut)
	}
	// deploy checks the flag before it reaches for a node.
	_, errOut, code = warren(t, "deploy", "--node", "127.0.0.1:1", "--compat", "Not A Flag", "w", main)
	if code != 2 || !strings.Contains(errOut, "--compat") || strings.Contains(errOut, "connection refused") {
		t.Errorf("deploy with a bad flag: exit %d %q, want 2", code, errOut)
	}
	if out, _, _ := warren(t, "deploy", "--help"); !strings.Contains(out, "--compat") {
		t.Errorf("deploy --help does not mention --compat:\n%s", out)
	}
}
