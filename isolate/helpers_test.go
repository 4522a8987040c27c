package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// js builds a code object from name/source pairs; the first is the main module.
func js(pairs ...string) *Code {
	c := &Code{MainModule: pairs[0], Modules: map[string]*Module{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		c.Modules[pairs[i]] = &Module{Kind: ModuleESM, Source: pairs[i+1]}
	}
	return c
}

// testRuntime starts a runtime of the given kind for one test.
func testRuntime(t testing.TB, kind ExecutorKind) *Runtime {
	t.Helper()
	// Preparation gets 30 s, not the default 1 s: bundling nodejs_compat
	// code under -race, beside make test's other packages, once took over
	// a second (prepare_test.go tests the bound itself).
	rt, err := New(Options{Executor: kind, Workers: 2, Host: newMemHost(), Node: "test", PrepareTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("New(%s): %v", kind, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func run(t testing.TB, rt *Runtime, c *Code, req *Request) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return rt.Run(ctx, &Invocation{Code: c, Request: req, Bindings: map[string]Binding{"KV": {KV: "test"}}})
}

// memHost is an in-memory Host for tests: KV namespaces in maps, no egress.
type memHost struct {
	mu sync.Mutex
	ns map[string]*memKV
	// fetches counts the requests to https://count.test/.
	fetches atomic.Int64
	// slow counts the requests to https://slow.test/ in flight, and the
	// most at once.
	slow, slowMost atomic.Int64
}

func newMemHost() *memHost { return &memHost{ns: map[string]*memKV{}} }

func (h *memHost) Fetch(ctx context.Context, r *Request) (*Response, error) {
	if strings.HasPrefix(r.URL, "https://echo.test/") {
		return &Response{Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: []byte("echo:" + r.Method + ":" + string(r.Body))}, nil
	}
	if strings.HasPrefix(r.URL, "https://cookies.test/") {
		// Two Set-Cookie headers, as egress gives them.
		return &Response{Status: 200, Headers: map[string]string{"set-cookie": strings.Join(twoCookies, ", ")}, SetCookie: twoCookies, Body: []byte("cookies")}, nil
	}
	if rest, ok := strings.CutPrefix(r.URL, "https://count.test/"); ok {
		// Answers its request count; the path picks the status and
		// headers: 404..., nocache..., cookie..., fresh... (max-age=60).
		n := h.fetches.Add(1)
		resp := &Response{Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: []byte("n=" + strconv.FormatInt(n, 10))}
		switch {
		case strings.HasPrefix(rest, "404"):
			resp.Status = 404
		case strings.HasPrefix(rest, "nocache"):
			resp.Headers["cache-control"] = "no-store"
		case strings.HasPrefix(rest, "cookie"):
			resp.Headers["set-cookie"] = "a=b"
		case strings.HasPrefix(rest, "fresh"):
			resp.Headers["cache-control"] = "max-age=60"
		}
		return resp, nil
	}
	if strings.HasPrefix(r.URL, "https://hang.test/") {
		<-ctx.Done() // a host that never answers on its own
		return nil, ctx.Err()
	}
	if rest, ok := strings.CutPrefix(r.URL, "https://slow.test/"); ok {
		// Answers after the number of milliseconds in the path.
		d, err := time.ParseDuration(rest + "ms")
		if err != nil {
			return nil, err
		}
		now := h.slow.Add(1)
		defer h.slow.Add(-1)
		for most := h.slowMost.Load(); now > most && !h.slowMost.CompareAndSwap(most, now); most = h.slowMost.Load() {
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
			return &Response{Status: 200, Headers: map[string]string{}, Body: []byte("slow " + rest)}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, ErrNoEgress
}

func (h *memHost) KV(name string) (KVNamespace, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ns[name] == nil {
		h.ns[name] = &memKV{m: map[string]KVEntry{}}
	}
	return h.ns[name], nil
}

func (h *memHost) DurableObjects(DurableObjectBinding) (DurableObjectNamespace, error) {
	return nil, errors.New("no Durable Objects here")
}

type memKV struct {
	mu sync.Mutex
	m  map[string]KVEntry
}

// memFail is the error of a key "fail:CODE": a *KVError with that code,
// or a plain error for "fail:storage".
func memFail(key string) error {
	code, ok := strings.CutPrefix(key, "fail:")
	switch {
	case !ok:
		return nil
	case code == KVCodeStorage:
		return errors.New("the test store failed")
	}
	return &KVError{Code: code, Err: errors.New("refused by the test store")}
}

// Get answers the key "echo-consistency" with the consistency it was asked
// for, and fails for "fail:CODE" (memFail).
func (k *memKV) Get(_ context.Context, key string, o KVGetOptions) (*KVEntry, error) {
	if err := memFail(key); err != nil {
		return nil, err
	}
	if key == "echo-consistency" {
		return &KVEntry{Value: []byte(o.Consistency)}, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[key]
	if !ok {
		return nil, nil
	}
	return &e, nil
}

func (k *memKV) Put(_ context.Context, key string, v []byte, o KVPutOptions) error {
	if err := memFail(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = KVEntry{Value: v, Metadata: o.Metadata, Expiration: o.Expiration}
	return nil
}

func (k *memKV) Delete(_ context.Context, key string) error {
	if err := memFail(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

// List answers the prefix "echo-consistency" with one key named by the
// consistency it was asked for.
func (k *memKV) List(_ context.Context, o KVListOptions) (*KVList, error) {
	if o.Prefix == "echo-consistency" {
		return &KVList{Keys: []KVKey{{Name: o.Consistency}}, ListComplete: true}, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var keys []string
	for name := range k.m {
		if strings.HasPrefix(name, o.Prefix) {
			keys = append(keys, name)
		}
	}
	sort.Strings(keys)
	out := &KVList{ListComplete: true, Keys: []KVKey{}}
	for _, name := range keys {
		out.Keys = append(out.Keys, KVKey{Name: name, Metadata: k.m[name].Metadata})
	}
	return out, nil
}

func mustJSONString(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
