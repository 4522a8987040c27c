package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"replication/kv large gets", benchKVLargeGets})
}

// largeGets is how many clients read the 25 MiB value at once.
const largeGets = 64

// benchKVLargeGets: three node processes (a testnet); one 25 MiB value,
// then 64 clients at once reading it through one node with
// GET /v1/kv/...: how many were answered (the others 503 busy or
// unavailable), how long they took, and the most anonymous memory that
// node held meanwhile. The node's budget of large values read (256 MiB)
// and its answer budget bound it.
func benchKVLargeGets() ([]Row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, token, down, err := threeNodeProcesses(ctx, "warren-bench-largeget")
	if err != nil {
		return nil, err
	}
	defer down()
	api, pid := st.Nodes[0].API, st.Nodes[0].PID
	cl := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: largeGets}}
	do := func(method string, body []byte) (int, int64, error) {
		req, err := http.NewRequestWithContext(ctx, method, api+"/v1/kv/bench/big", bytes.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := cl.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, n, err
	}
	value := make([]byte, 25<<20-1000) // random: nothing compresses it
	for i := range value {
		value[i] = byte(rand.Uint32())
	}
	if _, err := poll(60*time.Second, func() bool {
		status, _, err := do("PUT", value)
		return err == nil && status == http.StatusOK
	}); err != nil {
		return nil, fmt.Errorf("putting the value: %w", err)
	}

	var peak atomic.Int64 // KiB
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			peak.Store(max(peak.Load(), rssAnonKiB(pid)))
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	var answered, refused, failed atomic.Int64
	var clients sync.WaitGroup
	t0 := time.Now()
	for range largeGets {
		clients.Go(func() {
			status, n, err := do("GET", nil)
			switch {
			case err == nil && status == http.StatusOK && n == int64(len(value)):
				answered.Add(1)
			case err == nil && status == http.StatusServiceUnavailable:
				refused.Add(1)
			default:
				failed.Add(1)
			}
		})
	}
	clients.Wait()
	took := time.Since(t0)
	close(stop)
	sampling.Wait()
	fmt.Fprintf(os.Stderr, "  %d gets of 25 MiB at once: %d answered, %d refused (503), %d failed, in %v; the node's anonymous memory at most %d MB\n",
		largeGets, answered.Load(), refused.Load(), failed.Load(), took.Round(time.Millisecond), peak.Load()>>10)
	if failed.Load() > 0 {
		return nil, fmt.Errorf("%d of %d gets failed otherwise than 503", failed.Load(), largeGets)
	}
	const what = "64 clients at once GET a 25 MiB value through one node of 3 node processes"
	return []Row{
		{Name: "replication/kv large gets: most anonymous memory of the node (" + what + ")", Unit: "MB", Value: float64(peak.Load()) / 1024, N: largeGets, Target: "report"},
		{Name: "replication/kv large gets: of those, answered", Unit: "gets", Value: float64(answered.Load()), N: largeGets, Target: "report"},
		{Name: "replication/kv large gets: time until every get was answered or refused", Unit: "s", Value: took.Seconds(), N: largeGets, Target: "report"},
	}, nil
}
