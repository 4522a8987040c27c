package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/node"
)

// TestPrintTailHostile: what a Worker logs or throws (and so what its
// callers send it) reaches the tail's terminal as text: no escape
// sequence, carriage return or bidirectional override gets through to
// move the cursor, retitle the window or hide a line; a multi-line message
// stays indented under its invocation.
func TestPrintTailHostile(t *testing.T) {
	hostile := "a\x1b]0;pwned\x07b\x1b[2J\rc\u202egnp.exe\u0085d\x7f"
	// The event as a node sends it (cmd sees the isolate's types only
	// through node's).
	raw, err := json.Marshal(map[string]any{
		"time": "1970-01-01T00:00:00Z", "node": "n1", "entry": "worker", "worker": "w", "hops": []string{"n1"},
		"outcome": "exception", "error": "err " + hostile,
		"logs":       []map[string]string{{"level": "log" + hostile, "message": "line one\nline two " + hostile}},
		"exceptions": []map[string]string{{"name": "Error" + hostile, "message": hostile}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var e node.TailEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Logs) != 1 || len(e.Exceptions) != 1 || e.Outcome != "exception" {
		t.Fatalf("the event decoded as %+v", e)
	}
	var out bytes.Buffer
	printTail(&out, e)
	s := out.String()
	for i, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Fatalf("the tail printed %U at byte %d: %q", r, i, s)
		}
	}
	for _, want := range []string{`a\x1b]0;pwned\x07b\x1b[2J\x0dc\u202egnp.exe\u0085d\x7f`, "] line one\n      line two "} {
		if !strings.Contains(s, want) {
			t.Errorf("the tail printed %q, want it to contain %q", s, want)
		}
	}
}
