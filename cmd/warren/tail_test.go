package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/node"
)

// TestPrintTailHostile: what a Worker logs or throws (and so what its
// callers send it) reaches the tail's terminal as text: no escape
// sequence, carriage return or bidirectional override gets through to
// move the cursor, retitle the window or hide a line; a multi-line message
// stays indented under its invocation.
func TestPrintTailHostile(t *testing.T) {
	hostile := "a\x1b]0;pwned\x07b\x1b[2J\rc\u202egnp.exe\u0085d\x7f"
	var out bytes.Buffer
	printTail(&out, node.TailEvent{
		Time: time.Unix(0, 0), Node: "n1", Entry: "worker", Worker: "w", Hops: []string{"n1"}, Outcome: isolate.OutcomeException,
		Error:      "err " + hostile,
		Logs:       []isolate.Log{{Level: "log" + hostile, Message: "line one\nline two " + hostile}},
		Exceptions: []isolate.Exception{{Name: "Error" + hostile, Message: hostile}},
	})
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
