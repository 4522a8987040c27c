package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/node"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"mesh/stream", benchStream})
}

// streamGap is how long streamWorker waits between its two chunks.
const streamGap = 20 * time.Millisecond

// streamWorker writes one chunk at once and another streamGap later.
var streamRun = func() []byte {
	code, _ := json.Marshal(&isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM, Source: `
export default { fetch() {
  const enc = new TextEncoder();
  return new Response(new ReadableStream({
    async start(c) {
      c.enqueue(enc.encode("first"));
      await new Promise(r => setTimeout(r, ` + fmt.Sprint(streamGap.Milliseconds()) + `));
      c.enqueue(enc.encode("second"));
      c.close();
    },
  }));
} }`}}})
	b, _ := json.Marshal(map[string]any{"code": json.RawMessage(code)})
	return b
}()

// benchStream: a streamed response through POST /v1/run as lines, on a
// real `warren node` process (sandboxed). The first chunk's time is from
// sending the request (so it bounds the delay from the Worker's write);
// the second chunk's delay is what it takes to reach the client after the
// Worker writes it: its arrival after the first, less the Worker's wait
// (timer lateness counts against it).
func benchStream() ([]Row, error) {
	url, _, stop, err := startNodeProcess()
	if err != nil {
		return nil, err
	}
	defer stop()
	cl := httpClient()
	var first, next []time.Duration
	for i := 0; i < 220; i++ {
		a, b, err := streamOnce(cl, url)
		if err != nil {
			return nil, err
		}
		if i >= 20 { // warm
			first, next = append(first, a), append(next, b-a-streamGap)
		}
	}
	p50, p99 := latencies(first)
	q50, q99 := latencies(next)
	return []Row{
		{Name: "mesh/stream first chunk through POST /v1/run as lines, request sent to chunk received (the Worker writes it at once; sandbox)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(first), Target: "report"},
		{Name: "mesh/stream a chunk written mid-stream, Worker's write to client received (sandbox)", Unit: "ms", Value: q50, P50: q50, P99: q99, N: len(next), Target: "<= 1 ms"},
	}, nil
}

// streamOnce runs streamWorker and returns when each chunk arrived.
func streamOnce(cl *http.Client, url string) (first, second time.Duration, err error) {
	req, _ := http.NewRequest("POST", url+"/v1/run", bytes.NewReader(streamRun))
	req.Header.Set("Accept", node.NDJSONType)
	start := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var at []time.Duration
	for len(at) < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, 0, fmt.Errorf("reading the lines: %w (%q)", err, line)
		}
		if strings.HasPrefix(line, `{"body":`) {
			at = append(at, time.Since(start))
		}
	}
	return at[0], at[1], nil
}
