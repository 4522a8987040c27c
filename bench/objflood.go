package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/testnet"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"objects/storage flood", benchObjectFlood})
}

// floodWorker's objects write 1 MiB batches (8 values of 127 KiB, near
// the limits of ctx.storage) of one repeated letter, which compresses
// about 20 to 1, for up to 2 s a call, and answer how many they wrote.
const floodWorker = `export class Sink {
  constructor(ctx) { this.ctx = ctx }
  async fetch() {
    const v = "x".repeat(127 * 1024)
    let n = 0
    const t0 = Date.now()
    while (Date.now() - t0 < 2000 && n < 40) {
      const batch = {}
      for (let i = 0; i < 8; i++) batch["k" + ((n * 8 + i) % 64)] = v + n
      await this.ctx.storage.put(batch)
      n++
    }
    return new Response(String(n))
  }
}
export default {
  fetch(req, env) {
    return env.SINK.getByName(new URL(req.url).pathname.split("/").pop() || "a").fetch(req)
  }
}`

// Timing of the flood.
const (
	floodObjects = 6
	floodFor     = 30 * time.Second
	floodAfter   = 15 * time.Second
)

// benchObjectFlood: three node processes (a testnet), six Durable Objects
// writing as fast as they can for 30 s through all three; the rows are
// the most anonymous memory any node held meanwhile, the most one held
// 15 s after, and the rate written.
func benchObjectFlood() ([]Row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, token, down, err := threeNodeProcesses(ctx, "warren-bench-flood")
	if err != nil {
		return nil, err
	}
	defer down()
	apis := make([]string, len(st.Nodes))
	pids := make([]int, len(st.Nodes))
	for i, n := range st.Nodes {
		apis[i], pids[i] = n.API, n.PID
	}
	cl := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	deploy, _ := json.Marshal(map[string]any{
		"code":     map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": floodWorker}},
		"bindings": map[string]any{"SINK": map[string]any{"durableObject": map[string]string{"worker": "flood", "class": "Sink"}}},
	})
	req, _ := http.NewRequestWithContext(ctx, "PUT", apis[0]+"/v1/workers/flood", strings.NewReader(string(deploy)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("deploying: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("deploying: %d %s", resp.StatusCode, b)
	}
	call := func(api, obj string) (int, error) {
		resp, err := cl.Get(api + "/w/flood/" + obj)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if _, err := poll(60*time.Second, func() bool {
		for _, api := range apis {
			if _, err := call(api, "warm"); err != nil {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, fmt.Errorf("the deployed Worker does not answer on every node: %w", err)
	}

	var peak atomic.Int64 // the most RssAnon of a node, in KiB
	sample := func() int64 {
		most := int64(0)
		for _, pid := range pids {
			most = max(most, rssAnonKiB(pid))
		}
		return most
	}
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if m := sample(); m > peak.Load() {
				peak.Store(m)
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	})
	var batches, failures atomic.Int64
	var lastErr atomic.Value
	ticks := func() (t int64) {
		for _, pid := range pids {
			t += treeTicks(pid)
		}
		return t
	}
	ticks0 := ticks()
	end := time.Now().Add(floodFor)
	var clients sync.WaitGroup
	for o := range floodObjects {
		clients.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				n, err := call(apis[(o+i)%len(apis)], fmt.Sprintf("o%d", o))
				if err != nil {
					failures.Add(1)
					lastErr.Store(err)
					continue
				}
				batches.Add(int64(n))
			}
		})
	}
	clients.Wait()
	took := floodFor + time.Since(end)
	cpu := float64(ticks()-ticks0) / 100 // USER_HZ
	time.Sleep(floodAfter)
	close(stopSampling)
	sampling.Wait()
	after := sample()
	if batches.Load() == 0 {
		return nil, fmt.Errorf("no batch written (%d failed calls, last: %v)", failures.Load(), lastErr.Load())
	}
	mibps := float64(batches.Load()) * 8 * 127 / 1024 / took.Seconds()
	written := float64(batches.Load()) * 8 * 127 / 1024
	fmt.Fprintf(os.Stderr, "  %d batches of 1 MiB in %v (%.1f MiB/s), %d failed calls; peak %d MB, %d MB %v after; %.1f s of CPU in the nodes and their workers\n",
		batches.Load(), took.Round(time.Millisecond), mibps, failures.Load(), peak.Load()>>10, after>>10, floodAfter, cpu)
	const what = "3 node processes, 6 Durable Objects writing 1 MiB batches of repeated text for 30 s"
	return []Row{
		{Name: "objects/storage flood: most anonymous memory of a node (" + what + ")", Unit: "MB", Value: float64(peak.Load()) / 1024, N: int(batches.Load()), Target: "report"},
		{Name: "objects/storage flood: most anonymous memory of a node 15 s after the flood", Unit: "MB", Value: float64(after) / 1024, N: 3, Target: "report"},
		{Name: "objects/storage flood: written", Unit: "MiB/s", Value: mibps, N: int(batches.Load()), Target: "report"},
		{Name: "objects/storage flood: CPU of the nodes and their sandbox workers per MiB written", Unit: "ms", Value: 1000 * cpu / max(written, 1), N: int(batches.Load()), Target: "report"},
	}, nil
}

// threeNodeProcesses starts a testnet of three node processes in a new
// directory named after prefix, and mints an admin token for it; down
// stops them and removes the directory.
func threeNodeProcesses(ctx context.Context, prefix string) (st *testnet.State, token string, down func(), err error) {
	bin, err := warrenBinary()
	if err != nil {
		return nil, "", nil, err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, "", nil, err
	}
	down = func() {
		testnet.Down(dir)
		os.RemoveAll(dir)
	}
	if st, err = testnet.Up(ctx, testnet.Options{Binary: bin, Dir: dir, N: 3, Timeout: 60 * time.Second}); err != nil {
		down()
		return nil, "", nil, err
	}
	if token, err = st.Token(time.Hour); err != nil {
		down()
		return nil, "", nil, err
	}
	return st, token, down, nil
}

// rssAnonKiB is the anonymous resident memory of process pid (0 if it
// cannot be read).
func rssAnonKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}
