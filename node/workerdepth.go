package node

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/warrenmesh/warren/isolate"
)

// WorkerDepthHeader is the header of every fetch a Worker's invocation
// makes through egress: how many Worker invocations the request has come
// through, one more than the invocation's own depth (0 for a client's
// call). /w/ answers a request deeper than maxWorkerDepth at once (508
// worker_loop), and runs any other under the depth it names, so that a
// Worker that fetches its own URL, or Workers that fetch each other, stop
// after maxWorkerDepth nested calls instead of each holding a slot and a
// connection until the limits of the first unwind (Cloudflare's CF-EW-Via
// and its error 1019). The node sets it over the guest's own value; a
// client may send any value: it can only make its own call fail.
const WorkerDepthHeader = "Warren-Worker-Depth"

// maxWorkerDepth bounds how deep calls from Workers to Workers through
// their URLs nest: a request that has come through more Workers than this
// is refused.
const maxWorkerDepth = 16

// depthKey carries the depth an invocation runs at.
type depthKey struct{}

// depthOf is the depth ctx runs at: how many Worker invocations led to
// the one it runs (0 for a client's call).
func depthOf(ctx context.Context) int {
	d, _ := ctx.Value(depthKey{}).(int)
	return d
}

// withDepth is ctx at depth d, or ctx itself when it runs that deep or
// deeper already.
func withDepth(ctx context.Context, d int) context.Context {
	if d <= depthOf(ctx) {
		return ctx
	}
	return context.WithValue(ctx, depthKey{}, d)
}

// parseDepth is the depth a WorkerDepthHeader value names: the greatest of
// its comma-separated numbers (a repeated header is joined), 0 when none
// is one. A number too long to be a depth is past every bound.
func parseDepth(v string) int {
	d := 0
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" || strings.Trim(s, "0123456789") != "" {
			continue
		}
		n := maxWorkerDepth + 1
		if len(s) <= 4 {
			n, _ = strconv.Atoi(s)
		}
		d = max(d, n)
	}
	return d
}

// headerDepth is the depth the WorkerDepthHeader values of h name.
func headerDepth(h http.Header) int {
	d := 0
	for _, v := range h.Values(WorkerDepthHeader) {
		d = max(d, parseDepth(v))
	}
	return d
}

// withCallers is ctx under what req's headers say of the calls that led
// to it, in one pass over them: the depth of Worker invocations its
// WorkerDepthHeader names, and the chain of objects its ObjectChainHeader
// names (when ctx runs under none).
func withCallers(ctx context.Context, req *isolate.Request) context.Context {
	if req == nil {
		return ctx
	}
	for k, v := range req.Headers {
		switch {
		case strings.EqualFold(k, WorkerDepthHeader):
			ctx = withDepth(ctx, parseDepth(v))
		case strings.EqualFold(k, ObjectChainHeader) && len(chainOf(ctx)) == 0:
			if c := parseChainHeader(v); c != nil {
				ctx = context.WithValue(ctx, chainKey{}, c)
			}
		}
	}
	return ctx
}

// errWorkerLoop is the answer of /w/ and /v1/run to a request past
// maxWorkerDepth.
var errWorkerLoop = &apiError{status: http.StatusLoopDetected, code: "worker_loop",
	msg: "the request has come through more than " + strconv.Itoa(maxWorkerDepth) + " Workers' fetches (" + WorkerDepthHeader + "): Workers that call each other through their URLs or /v1/run nest at most " + strconv.Itoa(maxWorkerDepth) + " deep"}
