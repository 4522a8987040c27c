package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"mesh/hostile-preparation", benchHostilePrep})
}

// benchHostilePrep: a burst of code built to break bundling (deep
// nesting, braceless chains, slow code under the source cap, modules over
// it, eight of each at once) against a real node process; the row is the
// node's RSS 10 s later, against its RSS when idle.
func benchHostilePrep() ([]Row, error) {
	url, pid, stop, err := startNodeProcess()
	if err != nil {
		return nil, err
	}
	defer stop()
	cl := httpClient()
	for range 100 {
		if err := httpRun(cl, url); err != nil {
			return nil, err
		}
	}
	idle := rss(pid)
	if idle == 0 {
		return nil, nil // no /proc here
	}
	handler := func(expr string) string {
		return "export default { fetch() { return new Response(String(" + expr + ")) } }"
	}
	slow := func(mb int) string {
		return handler("1") + "\n" + strings.Repeat("var a = [1,2,3,4,5,6,7,8,9,10].map(x => x * 2 + Math.max(x, 3));\n", mb<<20/64)
	}
	sources := []string{
		handler(strings.Repeat("[", 250000) + strings.Repeat("]", 250000)),
		strings.Repeat("if(1)", 20000) + "1;\n" + handler("1"),
		handler(strings.Repeat("x=>", 100000) + "1"),
		slow(6),
		slow(30),
	}
	var wg sync.WaitGroup
	var peak int64
	var mu sync.Mutex
	errs := make(chan error, 64)
	for i := range 8 {
		for _, src := range sources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, _ := json.Marshal(map[string]any{"code": map[string]any{"mainModule": "main.js",
					"modules": map[string]string{"main.js": fmt.Sprintf("// %d\n%s", i, src)}}})
				resp, err := cl.Post(url+"/v1/run", "application/json", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// A clear answer: a result, a 400 naming the limit, or a 503
				// for this client's share of the body budget (eight 30 MB
				// bodies from one address at once pass it).
				clear := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest ||
					resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(b, []byte(`"code":"busy"`))
				if !clear || bytes.Contains(b, []byte(`"outcome":"internalError"`)) {
					errs <- fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
				}
				mu.Lock()
				peak = max(peak, rss(pid))
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	if err := httpRun(cl, url); err != nil {
		return nil, fmt.Errorf("after the burst: %w", err)
	}
	time.Sleep(10 * time.Second) // the row is defined as RSS 10 s after the burst
	after := rss(pid)
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	return []Row{{Name: fmt.Sprintf("mesh/node RSS 10 s after a burst of 40 hostile preparations (idle %.0f MB, peak %.0f MB)", mb(idle), mb(peak)),
		Unit: "MB over idle", Value: mb(after - idle), N: 8 * len(sources), Target: "<= 50 MB over idle"}}, nil
}
