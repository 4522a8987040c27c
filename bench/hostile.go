package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/hostile"
	"github.com/warrenmesh/warren/testnet"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"mesh/hostile-preparation", benchHostilePrep})
	benchmarks = append(benchmarks, benchmark{"mesh/hostile-corpus", benchHostileCorpus})
}

// benchHostileCorpus: the hostile corpus (internal/hostile) six times
// against a 3-node testnet of real processes, two honest clients calling
// every node meanwhile (testnet.RunHostile), each round after an idle
// phase of 4,000 honest calls (about a second), so that the idle and
// attacked figures see the shared host's load at about the same time,
// and the idle p99 rests on enough calls (with 500 a round, a tenth of a
// second, it moved between 1.2 and 2.6 ms over seven runs of one build);
// a kind of case that
// ends quickly runs more rounds (up to 60), until 2,000 honest calls are
// timed under attack. The rows are the honest
// calls' p99 under attack against the idle mesh's, for the whole corpus
// and for each kind of case alone, and the slowest hostile call. Every
// failure of the mesh (a wrong outcome, a leak, an honest call refused, a
// node unhealthy) fails the row. WARREN_BENCH_HOSTILE_KINDS (say
// "memory,escape", "all" for the whole corpus) runs only those rows;
// WARREN_BENCH_HOSTILE_DUMP=FILE writes each row's whole report (every
// call's start and latency) to FILE.<kind>.json.
func benchHostileCorpus() ([]Row, error) {
	dir, err := os.MkdirTemp("", "warren-bench-hostile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := testnetBinary(dir)
	if err != nil {
		return nil, err
	}
	os.Setenv(hostile.CanaryEnv, hostile.CanaryValue) // the nodes inherit it
	defer os.Unsetenv(hostile.CanaryEnv)
	tn := filepath.Join(dir, "testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := testnet.Up(ctx, testnet.Options{Binary: bin, Dir: tn, N: 3, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer testnet.Down(tn)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var rows []Row
	var slowest testnet.HostileResult
	var all int
	kinds := []string{"", hostile.KindCPU, hostile.KindMemory, hostile.KindTime, hostile.KindEscape, hostile.KindEgress, hostile.KindState}
	if only := os.Getenv("WARREN_BENCH_HOSTILE_KINDS"); only != "" {
		// Some rows only, while working on them: "memory,escape"; "all" is the
		// whole corpus's row.
		kinds = nil
		for _, k := range strings.Split(only, ",") {
			if k == "all" {
				k = ""
			}
			kinds = append(kinds, k)
		}
	}
	for _, kind := range kinds {
		o := testnet.HostileOptions{Rounds: 6, IdleCalls: 24000, MinAttackCalls: 2000, Honest: hostileHonest()}
		what := "the whole corpus"
		if kind != "" {
			o.Only = func(c hostile.Case) bool { return c.Kind == kind }
			what = kind + " cases alone"
		}
		rep, err := testnet.RunHostile(ctx, st, o)
		if err != nil {
			return nil, err
		}
		for _, c := range rep.Cases {
			if c.Err != "" {
				return nil, fmt.Errorf("%s: %s", c.Name, c.Err)
			}
			if c.Took > slowest.Took {
				slowest = c
			}
		}
		all += len(rep.Cases)
		if len(rep.HonestFailures) > 0 {
			return nil, fmt.Errorf("%d honest calls failed, the first: %s", len(rep.HonestFailures), rep.HonestFailures[0])
		}
		if len(rep.Unhealthy) > 0 {
			return nil, fmt.Errorf("unhealthy after the corpus: %v", rep.Unhealthy)
		}
		idle, attack := testnet.Quantile(rep.Idle, 0.99), testnet.Quantile(rep.Attack, 0.99)
		d := rep.Demotions
		fmt.Fprintf(os.Stderr, "  %s: since the nodes started, %d calls demoted, %d started low, %d boosts by the floor\n", what, d.Demoted, d.StartedLow, d.Boosted)
		fmt.Fprintf(os.Stderr, "  %s: sandbox workers during the run, over the nodes: %v\n", what, rep.Workers)
		printBlame(what, rep, 2*idle)
		if f := os.Getenv("WARREN_BENCH_HOSTILE_DUMP"); f != "" {
			// The whole report, for a closer look at when the slow calls came.
			b, _ := json.Marshal(rep)
			if err := os.WriteFile(f+"."+cmp.Or(kind, "all")+".json", b, 0o644); err != nil {
				return nil, err
			}
		}
		rows = append(rows, Row{Name: fmt.Sprintf("mesh/hostile-corpus, %s: honest p99 under attack / idle (idle p99 %.2f ms, under attack %.2f ms)", what, ms(idle), ms(attack)),
			Unit: "x", Value: float64(attack) / float64(idle), P50: ms(testnet.Quantile(rep.Attack, 0.5)), P99: ms(attack), N: len(rep.Attack), Target: "<= 2x"})
	}
	return append(rows, Row{Name: "mesh/hostile-corpus: slowest hostile call (" + slowest.Name + ")",
		Unit: "ms", Value: ms(slowest.Took), N: all, Target: "<= 2000 ms"}), nil
}

// hostileHonest is the honest clients' Worker: the default hello, or with
// WARREN_BENCH_HOSTILE_HONEST=medium one that needs about 10 ms of CPU (a
// JSON document of 2,000 records built, written and read back), to see
// what the corpus costs calls that demotion may reach.
func hostileHonest() string {
	if os.Getenv("WARREN_BENCH_HOSTILE_HONEST") != "medium" {
		return ""
	}
	return `export default { fetch() {
  const rows = [];
  for (let i = 0; i < 2000; i++) rows.push({ id: i, name: "row " + i, tags: ["a", "b", String(i % 7)], score: i * 1.5 });
  const back = JSON.parse(JSON.stringify(rows));
  return new Response(back.length === 2000 ? "hi" : "bad");
} }`
}

// printBlame says which hostile cases ran beside the honest calls slower
// than slow (to stderr: where to look, not a row). For each case, of the
// honest calls sent while one of its calls ran, how many were slow, and
// that fraction against the fraction of all honest calls under attack
// that were slow (the lift: a case that slows the calls beside it lifts
// their share). Calls are counted by when they were sent, not by the
// time they overlap a case: a slow call overlaps more of the short cases
// just for being slow.
func printBlame(what string, rep *testnet.HostileReport, slow time.Duration) {
	type count struct{ beside, slow int }
	counts := map[string]*count{}
	var n, fwd, slowFwd int
	for i, d := range rep.Attack {
		at := rep.AttackAt[i]
		if d > slow {
			n++
		}
		if i < len(rep.AttackForwarded) && rep.AttackForwarded[i] {
			fwd++
			if d > slow {
				slowFwd++
			}
		}
		seen := map[string]bool{}
		for _, c := range rep.Cases {
			if seen[c.Name] || at.Before(c.Start) || !at.Before(c.Start.Add(c.Took)) {
				continue
			}
			seen[c.Name] = true
			k := counts[c.Name]
			if k == nil {
				k = &count{}
				counts[c.Name] = k
			}
			k.beside++
			if d > slow {
				k.slow++
			}
		}
	}
	if n == 0 || len(rep.Attack) == 0 {
		return
	}
	base := float64(n) / float64(len(rep.Attack))
	lift := func(k *count) float64 { return float64(k.slow) / float64(k.beside) / base }
	names := slices.Collect(maps.Keys(counts))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(lift(counts[b]), lift(counts[a])) })
	fmt.Fprintf(os.Stderr, "  %s: %d of %d honest calls under attack took over %v (%.1f %%); ran on another node than the one called: %d of the %d idle, %d under attack, %d of the slow; by case, of the calls sent while it ran, slow / sent, and the lift:\n",
		what, n, len(rep.Attack), slow.Round(10*time.Microsecond), 100*base, rep.IdleForwarded, len(rep.Idle), fwd, slowFwd)
	for _, name := range names {
		k := counts[name]
		fmt.Fprintf(os.Stderr, "    %4.1fx %5d / %-6d %s\n", lift(k), k.slow, k.beside, name)
	}
	// By round: the first rounds are each node's first calls of the cases'
	// code (every round sends a case to the next node).
	rounds := make([]count, len(rep.Attacks))
	for i, d := range rep.Attack {
		at := rep.AttackAt[i]
		for r, w := range rep.Attacks {
			if !at.Before(w[0]) && at.Before(w[1]) {
				rounds[r].beside++
				if d > slow {
					rounds[r].slow++
				}
				break
			}
		}
	}
	// By how many hostile calls were in flight when an honest call was sent,
	// and whether one of them had begun within the 30 ms before.
	type bucket struct{ inFlight, fresh int }
	byFlight := map[bucket]*count{}
	for i, d := range rep.Attack {
		at := rep.AttackAt[i]
		var b bucket
		for _, c := range rep.Cases {
			if !at.Before(c.Start) && at.Before(c.Start.Add(c.Took)) {
				b.inFlight++
				if at.Sub(c.Start) < 30*time.Millisecond {
					b.fresh = 1
				}
			}
		}
		k := byFlight[b]
		if k == nil {
			k = &count{}
			byFlight[b] = k
		}
		k.beside++
		if d > slow {
			k.slow++
		}
	}
	keys := slices.Collect(maps.Keys(byFlight))
	slices.SortFunc(keys, func(a, b bucket) int {
		return cmp.Or(cmp.Compare(a.inFlight, b.inFlight), cmp.Compare(a.fresh, b.fresh))
	})
	fmt.Fprintf(os.Stderr, "  %s by hostile calls in flight when sent (+: one began within 30 ms), slow / sent:", what)
	for _, b := range keys {
		k := byFlight[b]
		fmt.Fprintf(os.Stderr, " %d%s %d/%d (%.2f %%)", b.inFlight, map[int]string{0: "", 1: "+"}[b.fresh], k.slow, k.beside, 100*float64(k.slow)/float64(k.beside))
	}
	fmt.Fprintln(os.Stderr)
	fmt.Fprintf(os.Stderr, "  %s by round, slow / sent:", what)
	for r, k := range rounds {
		fmt.Fprintf(os.Stderr, " %d/%d (%v)", k.slow, k.beside, rep.Attacks[r][1].Sub(rep.Attacks[r][0]).Round(10*time.Millisecond))
	}
	fmt.Fprintln(os.Stderr)
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
	return []Row{{Name: "mesh/node RSS 10 s after a burst of 40 hostile preparations",
		Unit: "MB over idle", Value: mb(after - idle), N: 8 * len(sources), Target: "<= 50 MB over idle",
		Note: fmt.Sprintf("idle %.0f MB, peak %.0f MB", mb(idle), mb(peak))}}, nil
}
