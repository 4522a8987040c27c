package contract

import (
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// TestWorstResultFitsAFrame: the largest result the bounds allow still
// fits the frame a worker answers in.
func TestWorstResultFitsAFrame(t *testing.T) {
	var logs LogBook
	msg := strings.Repeat("\x01", MaxLogMessageBytes) // escaped six-fold in JSON
	for range 100 {
		logs.Add(1, "log", msg)
	}
	tiny := ""
	for range MaxLogs {
		logs.Add(1, "log", tiny)
	}
	var excs ExceptionBook
	big := strings.Repeat("\x01", 10*MaxExceptionFieldBytes)
	for range 100 {
		excs.Add(Exception{Timestamp: 1, Name: big, Message: big, Stack: big})
	}
	last := Exception{Name: big, Message: big, Stack: big}
	res := &Result{
		Outcome: OutcomeOK, Error: big,
		Response:   &Response{Status: 200, Headers: map[string]string{"x": strings.Repeat("h", MaxResponseBytes/2)}, Body: []byte(strings.Repeat("b", MaxResponseBytes/2))},
		Logs:       logs.List(1),
		Exceptions: excs.Result(&last, 1),
	}
	BoundResult(res)
	if n := len(EncodeResult(res)); n > sandbox.MaxFrameSize {
		t.Fatalf("the worst result encodes to %d bytes, more than a frame (%d)", n, sandbox.MaxFrameSize)
	} else {
		t.Logf("worst result: %.1f MiB", float64(n)/(1<<20))
	}
}
