package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
)

// gates is a Host whose fetch of http://gate.test/NAME waits until the
// test opens gate NAME, and records each fetch: a Worker that fetches a
// gate after writing a chunk proves, when the test reads that chunk before
// opening the gate, that the chunk left before the body was done.
type gates struct {
	mu      sync.Mutex
	open    map[string]chan struct{}
	fetched []string
}

func newGates() *gates { return &gates{open: map[string]chan struct{}{}} }

func (g *gates) gate(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch, ok := g.open[name]
	if !ok {
		ch = make(chan struct{})
		g.open[name] = ch
	}
	return ch
}

func (g *gates) release(name string) { close(g.gate(name)) }

func (g *gates) saw(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.fetched {
		if f == name {
			return true
		}
	}
	return false
}

func (g *gates) host(string) isolate.Host { return &gateHost{g} }

type gateHost struct{ g *gates }

func (h *gateHost) Fetch(ctx context.Context, r *isolate.Request) (*isolate.Response, error) {
	name := strings.TrimPrefix(r.URL, "http://gate.test/")
	h.g.mu.Lock()
	h.g.fetched = append(h.g.fetched, name)
	h.g.mu.Unlock()
	select {
	case <-h.g.gate(name):
		return &isolate.Response{Status: 200, Headers: map[string]string{}, Body: []byte("open")}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *gateHost) KV(string) (isolate.KVNamespace, error) { return nil, ErrNoKV }

func (h *gateHost) DurableObjects(isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	return nil, ErrNoKV
}

// streamer writes three lines, each followed by a wait on its gate; with
// ?fail it errors its stream after the second, with ?forever it never ends
// and reports its cancellation through a gate (work after the client went
// away goes on as ctx.waitUntil work, as on Cloudflare).
const streamer = `export default { fetch(req, env, ctx) {
  const u = new URL(req.url);
  const run = u.searchParams.get("run");
  const enc = new TextEncoder();
  if (u.searchParams.has("forever")) {
    let i = 0;
    return new Response(new ReadableStream({
      async pull(c) { c.enqueue(enc.encode("tick " + (i++) + "\n")); await new Promise(r => setTimeout(r, 5)); },
      cancel() { ctx.waitUntil(fetch("http://gate.test/" + run + "-canceled")); },
    }));
  }
  const { readable, writable } = new TransformStream();
  const w = writable.getWriter();
  (async () => {
    for (let i = 1; i <= 3; i++) {
      await w.write(enc.encode("chunk " + i + "\n"));
      await fetch("http://gate.test/" + run + "-" + i);
      if (i === 2 && u.searchParams.has("fail")) { await w.abort(new Error("the model went away")); return; }
    }
    await w.close();
  })();
  return new Response(readable, {status: 203, headers: {"content-type": "text/plain", "x-stream": "yes"}});
} }`

// readLine reads one line within 10 s.
func readLine(t *testing.T, r *bufio.Reader) (string, error) {
	t.Helper()
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- line{s, err}
	}()
	select {
	case l := <-ch:
		return l.s, l.err
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10 s: the body is not streamed")
		return "", nil
	}
}

// TestStreamedResponses: a Worker's stream reaches the client chunk by
// chunk, from this node and from a peer the call was forwarded to, through
// /w/ and through /v1/run as lines; a client that goes away cancels the
// Worker's stream; a body that fails midway is not presented as whole.
func TestStreamedResponses(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	g := newGates()
	c := newCluster(t, 29, "a", "b")
	c.host = g.host
	c.tune = func(cfg *Config) { cfg.KV = kv }
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 2, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })
	if status, _, body := call(t, a, "PUT", "/v1/workers/streamer", strings.NewReader(deployBody(streamer, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}

	get := func(ctx context.Context, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", a.APIURL()+path, nil)
		resp, err := authlessClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	whole := func(run string, forwarded bool) {
		t.Helper()
		resp := get(context.Background(), "/w/streamer/?run="+run)
		defer resp.Body.Close()
		if resp.StatusCode != 203 || resp.Header.Get("x-stream") != "yes" || resp.ContentLength != -1 {
			t.Fatalf("%s: %d %v (length %d)", run, resp.StatusCode, resp.Header, resp.ContentLength)
		}
		r := bufio.NewReader(resp.Body)
		for i := 1; i <= 3; i++ {
			line, err := readLine(t, r)
			if err != nil || line != fmt.Sprintf("chunk %d\n", i) {
				t.Fatalf("%s: line %d: %q %v", run, i, line, err)
			}
			g.release(fmt.Sprintf("%s-%d", run, i)) // the Worker may write the next one
		}
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Errorf("%s: after the last chunk: %q %v", run, rest, err)
		}
	}
	t.Run("here", func(t *testing.T) { whole("here", false) })
	t.Run("forwarded", func(t *testing.T) {
		occupy(t, a, 20000) // a's only slot: the call runs on b
		whole("fwd", true)
	})

	t.Run("client goes away", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		resp := get(ctx, "/w/streamer/?forever&run=gone")
		r := bufio.NewReader(resp.Body)
		if line, err := readLine(t, r); err != nil || !strings.HasPrefix(line, "tick ") {
			t.Fatalf("%q %v", line, err)
		}
		cancel()
		resp.Body.Close()
		waitFor(t, 10*time.Second, "the Worker's stream canceled", func() bool { return g.saw("gone-canceled") })
	})

	t.Run("fails midway", func(t *testing.T) {
		resp := get(context.Background(), "/w/streamer/?fail&run=fail")
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for i := 1; i <= 2; i++ {
			if line, err := readLine(t, r); err != nil || line != fmt.Sprintf("chunk %d\n", i) {
				t.Fatalf("line %d: %q %v", i, line, err)
			}
			g.release(fmt.Sprintf("fail-%d", i))
		}
		if _, err := io.ReadAll(r); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("a failed body read to its end cleanly (err %v)", err)
		}
	})

	t.Run("run as lines", func(t *testing.T) {
		body, _ := json.Marshal(&RunRequest{Code: code(streamer), Request: &isolate.Request{Method: "GET", URL: "http://x/?run=lines"}})
		req, _ := http.NewRequest("POST", a.APIURL()+"/v1/run", strings.NewReader(string(body)))
		req.Header.Set("Accept", NDJSONType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != NDJSONType {
			t.Fatalf("%d %s", resp.StatusCode, ct)
		}
		r := bufio.NewReader(resp.Body)
		var lines []RunLine
		for i := 0; i < 5; i++ {
			s, err := readLine(t, r)
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			var l RunLine
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("line %d %q: %v", i, s, err)
			}
			lines = append(lines, l)
			if i >= 1 && i <= 3 {
				g.release(fmt.Sprintf("lines-%d", i))
			}
		}
		res := lines[0].Result
		if res == nil || res.Outcome != isolate.OutcomeOK || res.Response == nil || !res.Response.Streamed || res.Response.Status != 203 {
			t.Fatalf("first line: %+v", lines[0])
		}
		for i := 1; i <= 3; i++ {
			if l := lines[i]; l.Body == nil || *l.Body != fmt.Sprintf("chunk %d\n", i) {
				t.Errorf("line %d: %+v", i, l)
			}
		}
		if !lines[4].End {
			t.Errorf("last line: %+v", lines[4])
		}
	})
}
