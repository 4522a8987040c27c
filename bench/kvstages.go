package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// kvStages, when WARREN_BENCH_KV_STAGES is set, gathers hashicorp/raft's
// own timers (go-metrics, an in-memory sink) over the 16 clients' phase and
// prints their means next to the clients' own put latency: where a write's
// time goes (docs/performance.md, "Where a write's time goes"). The
// returned func prints them and stops gathering.
func kvStages() (stop func(put time.Duration)) {
	if os.Getenv("WARREN_BENCH_KV_STAGES") == "" {
		return func(time.Duration) {}
	}
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("kv")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics, cfg.EnableServiceLabel, cfg.EnableHostnameLabel = false, false, false, false
	if _, err := metrics.NewGlobal(cfg, sink); err != nil {
		fmt.Fprintln(os.Stderr, "kv stages:", err)
		return func(time.Duration) {}
	}
	return func(put time.Duration) {
		metrics.NewGlobal(metrics.DefaultConfig("kv"), &metrics.BlackholeSink{})
		fmt.Fprintf(os.Stderr, "  stages (means): a client's put %.3f ms\n", float64(put)/float64(time.Millisecond))
		want := map[string]string{
			"kv.raft.commitTime":                           "raft's commit (dispatched to committed)",
			"kv.raft.rpc.appendEntries":                    "a follower's AppendEntries",
			"kv.raft.rpc.appendEntries.storeLogs":          "  its store and sync",
			"kv.raft.leader.dispatchLog":                   "the leader's own append (unsynced)",
			"kv.raft.fsm.applyBatch":                       "a state-machine batch",
			"kv.raft.fsm.applyBatchNum":                    "  entries in it (a count, not ms)",
			"kv.raft.net.rpcRespond;rpcType=AppendEntries": "an AppendEntries waiting for its answer",
		}
		for _, iv := range sink.Data() {
			names := make([]string, 0, len(iv.Samples))
			for k := range iv.Samples {
				if _, ok := want[k]; ok {
					names = append(names, k)
				}
			}
			slices.Sort(names)
			for _, k := range names {
				s := iv.Samples[k]
				fmt.Fprintf(os.Stderr, "    %-45s %8.3f (n=%d)  %s\n", strings.TrimPrefix(k, "kv."), s.Sum/float64(max(s.Count, 1)), s.Count, want[k])
			}
		}
	}
}
