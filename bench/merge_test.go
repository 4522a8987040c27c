package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMergeRows: a run replaces its rows and drops its stale ones, keeps
// every other group's, and a run of some of the hostile corpus's kinds
// (WARREN_BENCH_HOSTILE_KINDS) replaces those kinds' rows, whose names
// carry the run's figures, and keeps the other kinds'. Before, such a run
// dropped every other kind's row from the file.
func TestMergeRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	write := func(rows ...Row) {
		b, _ := json.Marshal(rows)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (names []string) {
		b, _ := os.ReadFile(path)
		var rows []Row
		_ = json.Unmarshal(b, &rows)
		for _, r := range rows {
			names = append(names, r.Name)
		}
		return names
	}
	write(Row{Name: "isolate/a (sandbox)"}, Row{Name: "isolate/a (inprocess)"}, Row{Name: "isolate/gone"},
		Row{Name: "mesh/hostile-corpus, cpu cases alone: honest p99 (idle p99 1.0 ms)"},
		Row{Name: "mesh/hostile-corpus, state cases alone: honest p99 (idle p99 2.0 ms)"},
		Row{Name: "mesh/hostile-corpus: slowest hostile call (x)"})
	if err := mergeRows(path, []Row{{Name: "isolate/a (sandbox)"}, {Name: "isolate/a (inprocess)"}}, "isolate/", false); err != nil {
		t.Fatal(err)
	}
	want := []string{"isolate/a (sandbox)", "isolate/a (inprocess)",
		"mesh/hostile-corpus, cpu cases alone: honest p99 (idle p99 1.0 ms)",
		"mesh/hostile-corpus, state cases alone: honest p99 (idle p99 2.0 ms)",
		"mesh/hostile-corpus: slowest hostile call (x)"}
	if got := read(); !slices.Equal(got, want) {
		t.Fatalf("after isolate/: %q, want %q", got, want)
	}
	// Some kinds (a partial run: none is stale).
	if err := mergeRows(path, []Row{{Name: "mesh/hostile-corpus, state cases alone: honest p99 (idle p99 3.0 ms)"},
		{Name: "mesh/hostile-corpus: slowest hostile call (y)"}}, "mesh/hostile-corpus", true); err != nil {
		t.Fatal(err)
	}
	want = []string{"isolate/a (sandbox)", "isolate/a (inprocess)",
		"mesh/hostile-corpus, cpu cases alone: honest p99 (idle p99 1.0 ms)",
		"mesh/hostile-corpus, state cases alone: honest p99 (idle p99 3.0 ms)",
		"mesh/hostile-corpus: slowest hostile call (y)"}
	if got := read(); !slices.Equal(got, want) {
		t.Fatalf("after some kinds: %q, want %q", got, want)
	}
}
