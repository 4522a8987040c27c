package lincheck

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func TestRecorderKeepsAndDrops(t *testing.T) {
	r := NewRecorder()
	end := func(client int, op Op, res Result, out Outcome) {
		r.End(r.Begin(client, op), res, out)
	}
	end(0, Op{Kind: Put, Key: "k", Value: "a"}, Result{Value: "ignored", Found: true}, OK)
	end(0, Op{Kind: Put, Key: "k", Value: "failed"}, Result{}, Failed)
	end(1, Op{Kind: Get, Key: "k"}, Result{Value: "a", Found: true}, OK)
	end(1, Op{Kind: Get, Key: "k"}, Result{Value: "x", Found: true}, Failed)
	end(1, Op{Kind: Get, Key: "k"}, Result{Value: "y", Found: true}, Unknown)
	end(2, Op{Kind: Delete, Key: "k"}, Result{}, Unknown)
	end(2, Op{Kind: Delete, Key: "k"}, Result{}, Failed)
	r.Begin(3, Op{Kind: Put, Key: "k", Value: "pending"})
	r.Begin(3, Op{Kind: Get, Key: "k"})

	ops := r.Operations()
	var got []string
	for _, op := range ops {
		got = append(got, Model.DescribeOperation(op.Input, op.Output))
	}
	want := []string{`put("k", "a")`, `get("k") -> "a"`, `delete("k") -> ?`, `put("k", "pending") -> ?`}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	for i, op := range ops {
		if i > 0 && op.Call <= ops[i-1].Call {
			t.Errorf("op %d called at %d, not after op %d at %d", i, op.Call, i-1, ops[i-1].Call)
		}
		if unknown := op.Output.(output).unknown; unknown != (op.Return == math.MaxInt64) {
			t.Errorf("op %d: unknown %v but returns at %d", i, unknown, op.Return)
		}
		if op.Return <= op.Call {
			t.Errorf("op %d returns at %d, not after its call at %d", i, op.Return, op.Call)
		}
	}
	// A completed op returns before the next one is called.
	if ops[0].Return >= ops[1].Call {
		t.Errorf("put returned at %d, not before the get was called at %d", ops[0].Return, ops[1].Call)
	}
	if err := r.Check(t.TempDir(), 0); err != nil {
		t.Fatal(err)
	}
}

func TestRecorderEndTwicePanics(t *testing.T) {
	r := NewRecorder()
	c := r.Begin(0, Op{Kind: Get, Key: "k"})
	r.End(c, Result{}, OK)
	defer func() {
		if recover() == nil {
			t.Error("a second End did not panic")
		}
	}()
	r.End(c, Result{}, OK)
}

// TestRecorderConcurrent records from many goroutines (run with -race);
// ops of one client must not overlap and must be in its program order.
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	const clients, n = 8, 100
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for range n {
				r.End(r.Begin(c, Op{Kind: Delete, Key: "k"}), Result{}, OK)
			}
		})
	}
	wg.Wait()
	ops := r.Operations()
	if len(ops) != clients*n {
		t.Fatalf("%d operations, want %d", len(ops), clients*n)
	}
	last := make(map[int]int64)
	for _, op := range ops {
		if op.Call <= last[op.ClientId] {
			t.Fatalf("client %d called at %d, before its previous op returned at %d", op.ClientId, op.Call, last[op.ClientId])
		}
		last[op.ClientId] = op.Return
	}
}

func TestCheckNamesTheFailingKeyAndWritesTheVisualization(t *testing.T) {
	dir := t.TempDir()
	history := []porcupine.Operation{
		put(0, "a", "1", 0, 1), get(1, "a", "1", 2, 3),
		put(0, "b", "1", 0, 1), put(0, "b", "2", 2, 3), get(1, "b", "1", 4, 5), // stale
		put(0, "c", "1", 0, 1), get(1, "c", "never", 2, 3),
	}
	err := Check(history, dir, 0)
	var nl *NotLinearizableError
	if !errors.As(err, &nl) {
		t.Fatalf("Check = %v, want a *NotLinearizableError", err)
	}
	if nl.Key != "b" || nl.KeyOps != 3 || nl.Ops != len(history) {
		t.Errorf("key %q (%d ops) of %d, want \"b\" (3 ops) of %d", nl.Key, nl.KeyOps, nl.Ops, len(history))
	}
	if !strings.HasPrefix(nl.Visualization, dir) || !strings.Contains(err.Error(), nl.Visualization) {
		t.Errorf("visualization %q not under %s or not in %q", nl.Visualization, dir, err)
	}
	html, rerr := os.ReadFile(nl.Visualization)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !strings.Contains(string(html), `get(\"b\")`) { // JSON-escaped
		t.Errorf("visualization (%d bytes) does not describe the get of b", len(html))
	}
}

func TestCheckTimeout(t *testing.T) {
	// Many concurrent writes of unknown outcome, then a read of a value
	// never written: illegal, but the checker must try every subset of
	// the writes to know it.
	var history []porcupine.Operation
	for i := range 200 {
		history = append(history, put(i, "k", fmt.Sprint(i), int64(i), never))
	}
	history = append(history, get(200, "k", "never", 1000, 1001))
	start := time.Now()
	err := Check(history, t.TempDir(), 50*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Check = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Check took %v with a timeout of 50ms", d)
	}
}
