package isolate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// streamWorker answers a stream: three small chunks on timers, then one
// of 3 MiB (crossing to the host in 1 MiB pieces); ?fail errors it after
// the first chunk; ?forever never ends it and logs its cancellation.
const streamWorker = `export default { fetch(req, env, ctx) {
  const u = new URL(req.url);
  const enc = new TextEncoder();
  let i = 0;
  return new Response(new ReadableStream({
    async pull(c) {
      await new Promise(r => setTimeout(r, 2));
      if (u.searchParams.has("forever")) { c.enqueue(enc.encode("tick\n")); return; }
      i++;
      if (i === 2 && u.searchParams.has("fail")) { c.error(new TypeError("the source broke")); return; }
      if (i <= 3) c.enqueue(enc.encode("part " + i + "\n"));
      else if (i === 4) c.enqueue(new Uint8Array(3 << 20).fill(120));
      else c.close();
    },
    cancel(reason) { console.log("canceled: " + reason); },
  }), {status: 201, headers: {"x-kind": "stream"}});
} }`

// runStreamed runs streamWorker on req with a body pipe, reading the pipe
// with read; it returns the head (as OnResponse saw it) and the final
// result.
func runStreamed(t *testing.T, rt *Runtime, url string, limits *Limits, read func(*BodyPipe)) (head, final *Result) {
	t.Helper()
	c := js("main.js", streamWorker)
	c.Limits = limits
	pipe := NewBodyPipe()
	heads := make(chan *Result, 1)
	done := make(chan *Result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		done <- rt.Run(ctx, &Invocation{Code: c, Request: &Request{Method: "GET", URL: url}, StreamTo: pipe,
			OnResponse: func(r *Result) { heads <- r }})
	}()
	read(pipe)
	final = <-done
	select {
	case head = <-heads:
	default:
	}
	return head, final
}

func readAll(t *testing.T, pipe *BodyPipe) ([]byte, error) {
	t.Helper()
	var got []byte
	for {
		c, err := pipe.Next(context.Background())
		if err != nil {
			if errors.Is(err, io.EOF) {
				return got, nil
			}
			return got, err
		}
		got = append(got, c...)
	}
}

// TestStreamedResponse: a response body that is a stream leaves the
// isolate chunk by chunk, on both executors, and ends cleanly, with an
// error, when the reader goes away, or at a limit.
func TestStreamedResponse(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			// CPU room: the in-process executor counts a call's busy wall time,
			// and under -race beside other packages' tests the 3 MiB part once
			// took the whole call past the default second.
			roomy := &Limits{CPUMs: 10_000}
			t.Run("whole", func(t *testing.T) {
				var body []byte
				var chunks int
				head, final := runStreamed(t, rt, "http://x/", roomy, func(p *BodyPipe) {
					for {
						c, err := p.Next(context.Background())
						if errors.Is(err, io.EOF) {
							return
						}
						if err != nil {
							t.Errorf("body: %v", err)
							return
						}
						chunks++
						body = append(body, c...)
					}
				})
				if head == nil || head.Response == nil || !head.Response.Streamed || head.Response.Status != 201 || head.Response.Headers["x-kind"] != "stream" || len(head.Response.Body) != 0 {
					t.Fatalf("head: %+v", head)
				}
				if final.Outcome != OutcomeOK || final.Error != "" {
					t.Fatalf("final: %s %s %+v", final.Outcome, final.Error, final.Exceptions)
				}
				want := "part 1\npart 2\npart 3\n" + strings.Repeat("x", 3<<20)
				if string(body) != want {
					t.Errorf("body: %d bytes, want %d", len(body), len(want))
				}
				if chunks < 6 { // three parts and the big one in three pieces
					t.Errorf("%d chunks", chunks)
				}
			})
			t.Run("fails midway", func(t *testing.T) {
				var got []byte
				var err error
				_, final := runStreamed(t, rt, "http://x/?fail", roomy, func(p *BodyPipe) { got, err = readAll(t, p) })
				if string(got) != "part 1\n" || err == nil || !strings.Contains(err.Error(), "the source broke") {
					t.Errorf("body %q, end %v", got, err)
				}
				if final.Outcome != OutcomeException || len(final.Exceptions) != 1 || final.Exceptions[0].Name != "TypeError" {
					t.Errorf("final: %s %+v", final.Outcome, final.Exceptions)
				}
			})
			t.Run("reader goes away", func(t *testing.T) {
				_, final := runStreamed(t, rt, "http://x/?forever", nil, func(p *BodyPipe) {
					if c, err := p.Next(context.Background()); err != nil || string(c) != "tick\n" {
						t.Errorf("first chunk %q %v", c, err)
					}
					p.Abort(errors.New("client gone"))
				})
				if final.Outcome != OutcomeOK || !strings.Contains(final.Error, "client went away") {
					t.Errorf("final: %s %q", final.Outcome, final.Error)
				}
				var logs []string
				for _, l := range final.Logs {
					logs = append(logs, l.Message)
				}
				if !strings.Contains(strings.Join(logs, "|"), "canceled: ") {
					t.Errorf("the stream's cancel did not run: %q", logs)
				}
			})
			t.Run("endless at the wall limit", func(t *testing.T) {
				var err error
				_, final := runStreamed(t, rt, "http://x/?forever", &Limits{WallMs: 300}, func(p *BodyPipe) { _, err = readAll(t, p) })
				if err == nil {
					t.Error("an endless body ended cleanly")
				}
				if final.Outcome != OutcomeExceededWallTime {
					t.Errorf("final: %s %s", final.Outcome, final.Error)
				}
			})
			t.Run("buffered without a pipe", func(t *testing.T) {
				c := js("main.js", streamWorker)
				c.Limits = roomy // as "whole": the 3 MiB part under -race and load
				res := run(t, rt, c, &Request{Method: "GET", URL: "http://x/"})
				if res.Outcome != OutcomeOK || res.Response == nil {
					t.Fatalf("%s %s %+v", res.Outcome, res.Error, res.Exceptions)
				}
				if res.Response.Streamed || !bytes.HasPrefix(res.Response.Body, []byte("part 1\npart 2\npart 3\nxxx")) {
					t.Errorf("streamed %v, body %.40q", res.Response.Streamed, res.Response.Body)
				}
			})
		})
	}
}
