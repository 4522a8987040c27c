package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// clock is a settable clock for a LocalKV.
type clock struct{ sec atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.sec.Store(time.Now().Unix())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(c.sec.Load(), 0) }
func (c *clock) advance(d time.Duration) { c.sec.Add(int64(d / time.Second)) }

// openTestKV opens a LocalKV in dir (a new temporary one if ""), closed at
// the test's end, after which no goroutine of it may be left. The expirer
// runs only when tick is sent to.
func openTestKV(t *testing.T, dir string, cfg localConfig) *LocalKV {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if cfg.tick == nil {
		cfg.tick = make(chan time.Time) // never: the expirer runs once, at open
	}
	l, err := openLocalKV(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// noLeaks checks that the test leaves no goroutine of its own behind
// (earlier tests' nodes may still be winding down: they are not its).
func noLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
	})
}

func TestLocalKVSemantics(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	l := openTestKV(t, "", localConfig{})

	if _, err := l.Get(ctx, "ns", "missing"); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if err := l.Put(ctx, "ns", "a", []byte("one"), KVPutOptions{Metadata: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	if v, err := l.Get(ctx, "ns", "a"); err != nil || string(v) != "one" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	before := time.Now().Unix()
	if err := l.Put(ctx, "ns", "b", []byte{}, KVPutOptions{ExpirationTTL: 3600}); err != nil {
		t.Fatal(err)
	}
	v, err := l.GetWithMetadata(ctx, "ns", "b", Strong)
	if err != nil || v.Value == nil || len(v.Value) != 0 || v.Metadata != nil || v.Expiration < before+3600 || v.Expiration > time.Now().Unix()+3600 {
		t.Fatalf("GetWithMetadata(b) = %+v, %v", v, err)
	}
	if v, err := l.GetWithMetadata(ctx, "ns", "a", Strong); err != nil || string(v.Metadata) != `{"n":1}` || v.Expiration != 0 {
		t.Fatalf("GetWithMetadata(a) = %+v, %v", v, err)
	}
	// Namespaces are separate.
	if _, err := l.Get(ctx, "other", "a"); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("Get from another namespace: %v", err)
	}
	if err := l.Delete(ctx, "ns", "a"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "ns", "a"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, err := l.Get(ctx, "ns", "a"); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}

	// Broken rules are ErrKVInvalid with Cloudflare's status, and change
	// nothing.
	applied := l.s.Applied()
	long := strings.Repeat("k", 600)
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"long key", l.Put(ctx, "ns", long, []byte("x"), KVPutOptions{}), http.StatusRequestURITooLong},
		{"empty key", l.Put(ctx, "ns", "", []byte("x"), KVPutOptions{}), http.StatusBadRequest},
		{"short ttl", l.Put(ctx, "ns", "k", []byte("x"), KVPutOptions{ExpirationTTL: 59}), http.StatusBadRequest},
		{"past expiration", l.Put(ctx, "ns", "k", []byte("x"), KVPutOptions{Expiration: 1}), http.StatusBadRequest},
		{"bad metadata", l.Put(ctx, "ns", "k", []byte("x"), KVPutOptions{Metadata: []byte("{")}), http.StatusBadRequest},
		{"bad namespace", l.Put(ctx, "n/s", "k", []byte("x"), KVPutOptions{}), http.StatusBadRequest},
		{"delete long key", l.Delete(ctx, "ns", long), http.StatusRequestURITooLong},
		{"get long key", func() error { _, err := l.Get(ctx, "ns", long); return err }(), http.StatusRequestURITooLong},
		{"list limit", func() error { _, err := l.List(ctx, "ns", KVListOptions{Limit: 1001}, Strong); return err }(), http.StatusBadRequest},
		{"list cursor", func() error { _, err := l.List(ctx, "ns", KVListOptions{Cursor: "nope"}, Strong); return err }(), http.StatusBadRequest},
	} {
		var ie *KVInvalidError
		if !errors.Is(c.err, ErrKVInvalid) || !errors.As(c.err, &ie) || ie.Status != c.status {
			t.Errorf("%s: %v, want ErrKVInvalid with status %d", c.name, c.err, c.status)
		}
	}
	if got := l.s.Applied(); got != applied {
		t.Errorf("rejected calls applied commands: index %d -> %d", applied, got)
	}
	if _, err := l.Get(ctx, "ns", "k"); !errors.Is(err, ErrKVNotFound) {
		t.Errorf("a rejected put stored something: %v", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Put(canceled, "ns", "k", []byte("x"), KVPutOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v", err)
	}
}

func TestLocalKVList(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	l := openTestKV(t, "", localConfig{})
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("user:%02d", i)
		want = append(want, k)
		if err := l.Put(ctx, "ns", k, []byte("v"), KVPutOptions{Metadata: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"admin", "user", "v"} {
		if err := l.Put(ctx, "ns", k, []byte("v"), KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	opts := KVListOptions{Prefix: "user:", Limit: 10}
	for pages := 1; ; pages++ {
		res, err := l.List(ctx, "ns", opts, Strong)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range res.Keys {
			var i int
			if _, err := fmt.Sscanf(k.Name, "user:%d", &i); err != nil || string(k.Metadata) != fmt.Sprint(i) {
				t.Errorf("%s: metadata %s", k.Name, k.Metadata)
			}
			got = append(got, k.Name)
		}
		if res.ListComplete {
			if pages != 3 || res.Cursor != "" {
				t.Errorf("complete after %d pages, cursor %q", pages, res.Cursor)
			}
			break
		}
		if len(res.Keys) != 10 || res.Cursor == "" || pages > 3 {
			t.Fatalf("page %d: %d keys, cursor %q", pages, len(res.Keys), res.Cursor)
		}
		opts.Cursor = res.Cursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	res, err := l.List(ctx, "ns", KVListOptions{}, Strong)
	if err != nil || len(res.Keys) != 28 || !res.ListComplete || res.Keys[0].Name != "admin" || res.Keys[27].Name != "v" {
		t.Errorf("List() = %d keys %v, %v", len(res.Keys), res.ListComplete, err)
	}
	if res, err := l.List(ctx, "empty", KVListOptions{}, Strong); err != nil || res.Keys == nil || len(res.Keys) != 0 || !res.ListComplete {
		t.Errorf("List of an empty namespace = %+v, %v", res, err)
	}
}

// TestLocalKVReopen: what was written is there after Close and OpenLocalKV,
// and writing goes on from the applied index.
func TestLocalKVReopen(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenLocalKV(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Put(ctx, "visits", "count", []byte(fmt.Sprint(i+1)), KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// One process at a time: badger locks the directory.
	if other, err := OpenLocalKV(dir); err == nil {
		other.Close()
		t.Fatal("a second OpenLocalKV of an open store succeeded")
	} else if !strings.Contains(err.Error(), dir) {
		t.Errorf("second open: %v, want the directory named", err)
	}
	applied := l.s.Applied()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Get(ctx, "visits", "count"); !errors.Is(err, ErrKVClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := l.Put(ctx, "visits", "count", nil, KVPutOptions{}); !errors.Is(err, ErrKVClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if _, err := l.Expire(time.Now()); !errors.Is(err, ErrKVClosed) {
		t.Errorf("Expire after Close: %v", err)
	}

	l = openTestKV(t, dir, localConfig{})
	if got := l.s.Applied(); got < applied {
		t.Fatalf("applied index %d after reopening, was %d", got, applied)
	}
	if v, err := l.Get(ctx, "visits", "count"); err != nil || string(v) != "3" {
		t.Fatalf("after reopening: %q, %v", v, err)
	}
	if err := l.Put(ctx, "visits", "count", []byte("4"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, err := l.Get(ctx, "visits", "count"); err != nil || string(v) != "4" {
		t.Fatalf("a put after reopening: %q, %v", v, err)
	}
}

// TestLocalKVExpire: reads hide a key once its expiration passes; Expire
// and the expirer remove it.
func TestLocalKVExpire(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	clk := newClock()
	tick := make(chan time.Time)
	passes := make(chan int, 1)
	l := openTestKV(t, "", localConfig{now: clk.now, tick: tick, afterExpire: func(n int, err error) {
		if err != nil {
			t.Errorf("expirer: %v", err)
		}
		passes <- n
	}})
	if n := <-passes; n != 0 {
		t.Fatalf("the pass at open removed %d keys", n)
	}
	count := func() int {
		res, err := l.List(ctx, "ns", KVListOptions{}, Strong)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Keys)
	}
	// More than one expire command's worth, to see the expirer go on while
	// there are more.
	const n = 300
	for i := range n {
		if err := l.Put(ctx, "ns", fmt.Sprintf("k%03d", i), []byte("v"), KVPutOptions{ExpirationTTL: 60}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Put(ctx, "ns", "later", []byte("v"), KVPutOptions{ExpirationTTL: 120}); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "ns", "never", []byte("v"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	clk.advance(59 * time.Second)
	if got := count(); got != n+2 {
		t.Fatalf("%d keys before the expiration", got)
	}
	clk.advance(time.Second)
	if _, err := l.Get(ctx, "ns", "k000"); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("Get at the expiration: %v", err)
	}
	if got := count(); got != 2 {
		t.Fatalf("%d keys listed at the expiration, want 2", got)
	}
	tick <- clk.now()
	if got := <-passes; got != n {
		t.Fatalf("the expirer removed %d keys, want %d", got, n)
	}
	// Expire with a later clock removes the next; the expirer finds none.
	if got, err := l.Expire(clk.now().Add(time.Minute)); err != nil || got != 1 {
		t.Fatalf("Expire = %d, %v; want 1", got, err)
	}
	tick <- clk.now()
	if got := <-passes; got != 0 {
		t.Fatalf("the expirer removed %d more", got)
	}
	if v, err := l.Get(ctx, "ns", "never"); err != nil || string(v) != "v" {
		t.Fatalf("a key without expiration: %q, %v", v, err)
	}
}

// TestLocalKVConcurrent: concurrent writers each get their own index; no
// write is lost.
func TestLocalKVConcurrent(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	l := openTestKV(t, "", localConfig{})
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := l.Put(ctx, "ns", k, []byte(k), KVPutOptions{}); err != nil {
					t.Error(err)
				}
				if v, err := l.Get(ctx, "ns", k); err != nil || string(v) != k {
					t.Errorf("Get(%s) = %q, %v", k, v, err)
				}
			}
		})
	}
	wg.Wait()
	res, err := l.List(ctx, "ns", KVListOptions{}, Strong)
	if err != nil || len(res.Keys) != writers*each {
		t.Fatalf("List: %d keys, %v", len(res.Keys), err)
	}
}

// TestLocalKVCollectsValueLog: large values overwritten again and again
// leave their old copies in badger's value log; the store collects them
// (quick rounds after large puts), and the live values still read.
func TestLocalKVCollectsValueLog(t *testing.T) {
	noLeaks(t)
	l := openTestKV(t, "", localConfig{
		vlog:             vlogTiming{every: time.Hour, quickEvery: 100 * time.Millisecond, quick: 100},
		valueLogFileSize: 1 << 20,
	})
	ctx := context.Background()
	value := func(key string, i int) []byte {
		return bytes.Repeat([]byte{byte('a' + i%26)}, localValueThreshold+len(key))
	}
	var last int
	for i := range 40 {
		last = i
		for _, key := range []string{"one", "two"} {
			if err := l.Put(ctx, "ns", key, value(key, i), KVPutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// badger numbers its value log files in order: the newest one's
	// number says how many the puts filled (collection may already have
	// deleted some).
	files := vlogFiles(t, l)
	newest := 0
	for _, f := range files {
		if n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".vlog")); err == nil {
			newest = max(newest, n)
		}
	}
	t.Logf("value log after 80 puts of %d KiB: %d files, the newest numbered %d", localValueThreshold>>10, len(files), newest)
	if newest < 10 {
		t.Fatalf("the newest value log file is number %d: the puts did not go to the value log", newest)
	}
	// Two live values, in at most the two newest files, and the file
	// being written.
	waitFor(t, 30*time.Second, "the value log collected", func() bool {
		return len(vlogFiles(t, l)) <= 3
	})
	for _, key := range []string{"one", "two"} {
		got, err := l.Get(ctx, "ns", key)
		if err != nil || !bytes.Equal(got, value(key, last)) {
			t.Fatalf("%s after collection: %d bytes, %v", key, len(got), err)
		}
	}
}

// vlogFiles lists l's value log files.
func vlogFiles(t *testing.T, l *LocalKV) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(l.db.Opts().Dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}
