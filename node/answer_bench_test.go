package node

import (
	"net/http/httptest"
	"testing"

	"github.com/warrenmesh/warren/isolate"
)

func helloResult() *isolate.Result {
	return &isolate.Result{
		Outcome:    isolate.OutcomeOK,
		Response:   &isolate.Response{Status: 200, Headers: map[string]string{"content-type": "text/plain;charset=UTF-8"}, Body: []byte("hi")},
		Logs:       []isolate.Log{},
		Exceptions: []isolate.Exception{},
		Telemetry:  isolate.Telemetry{Node: "vm-bc73", Hops: []string{"vm-bc73"}, StartupMs: 0.023, CPUTime: 0.172, WallTime: 0.344, Executor: "sandbox"},
	}
}

func BenchmarkWriteJSONResult(b *testing.B) {
	res := helloResult()
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		writeJSON(w, 200, res)
	}
}
