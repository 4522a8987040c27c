package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/warrenmesh/warren/internal/stagetime"
	"github.com/warrenmesh/warren/isolate"
)

// apiError is an error answered as JSON {"error", "code"} with a status.
type apiError struct {
	status    int
	code, msg string
}

func (e *apiError) Error() string { return e.msg }

// writeJSON answers v as JSON with status. A large answer (a run's
// result, a list) is sent with sendWithin: a client that stops reading it
// is given up.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b := answerBufs.Get().(*bytes.Buffer)
	defer putAnswerBuf(b)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		return
	}
	writeJSONBytes(w, status, b.Bytes())
}

// writeHeldJSON is writeJSON for an answer that may be large (a KV list,
// the deployments, the revocation list): held in the answer budget while
// it is sent (holdAnswer), or refused 503 busy past it.
func (n *Node) writeHeldJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b := answerBufs.Get().(*bytes.Buffer)
	defer putAnswerBuf(b)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, fmt.Errorf("encoding the answer: %w", err))
		return
	}
	release, ok := n.holdAnswer(w, r, b.Len())
	if !ok {
		return
	}
	defer release()
	writeJSONBytes(w, status, b.Bytes())
}

// writeJSONBytes answers body, JSON already encoded, with status: into
// the server's buffer up to smallAnswer (sent as the request ends, under
// boundConn's deadline), else with sendWithin.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = sendAnswer(w, body)
}

// sendAnswer writes p, a piece of an answer whose head is out: into the
// server's buffer up to smallAnswer, else with sendWithin (which ends a
// stalled answer by itself).
func sendAnswer(w http.ResponseWriter, p []byte) (int, error) {
	if len(p) <= smallAnswer {
		return w.Write(p)
	}
	sendWithin(w, p)
	return len(p), nil
}

// smallAnswer is the size of net/http's write buffer: a larger write goes
// to the connection at once, and may wait there for the client.
const smallAnswer = 4 << 10

// answerBufs holds writeJSON's buffers: every call answers through one,
// and the ResponseWriter has copied the bytes (or sent them) by the time
// Write returns.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putAnswerBuf gives b back, unless a large answer grew it.
func putAnswerBuf(b *bytes.Buffer) {
	if b.Cap() <= answerChunk {
		b.Reset()
		answerBufs.Put(b)
	}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.msg, "code": ae.code})
}

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/run", n.handleRun)
	mux.HandleFunc("GET /v1/members", n.handleMembers)
	mux.HandleFunc("GET /healthz", n.handleHealth)
	mux.HandleFunc("GET /metrics", n.handleMetrics)
	mux.HandleFunc("GET /v1/kv/{namespace}", n.handleKVList)
	mux.HandleFunc("GET /v1/kv/{namespace}/{key...}", n.handleKVGet)
	mux.HandleFunc("PUT /v1/kv/{namespace}/{key...}", n.handleKVPut)
	mux.HandleFunc("DELETE /v1/kv/{namespace}/{key...}", n.handleKVDelete)
	mux.HandleFunc("GET /v1/groups", n.handleGroups)
	mux.HandleFunc("GET /v1/decommission", n.handleDecommission)
	mux.HandleFunc("POST /v1/decommission", n.handleDecommission)
	mux.HandleFunc("DELETE /v1/decommission", n.handleDecommission)
	mux.HandleFunc("GET /v1/workers", n.handleWorkers)
	mux.HandleFunc("GET /v1/workers/{name}", n.handleWorker)
	mux.HandleFunc("PUT /v1/workers/{name}", n.handleDeploy)
	mux.HandleFunc("DELETE /v1/workers/{name}", n.handleUndeploy)
	mux.HandleFunc("GET /v1/objects/{worker}/{class}", n.handleObject)
	// A deployed Worker's public face, any method; no token (authenticate).
	mux.HandleFunc("/w/{name}", n.handleServe)
	mux.HandleFunc("/w/{name}/{path...}", n.handleServe)
	mux.HandleFunc("GET /v1/tail", n.handleTail)
	n.mcp = mcp.NewStreamableHTTPHandler(n.mcpServer, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, MaxRequestBodyBytes: maxMCPBody})
	mux.HandleFunc("POST /mcp", n.handleMCP)
	mux.HandleFunc("GET /v1/overview", n.handleOverview)
	mux.HandleFunc("POST /v1/tokens/revoke", n.handleRevoke)
	mux.HandleFunc("GET /v1/tokens/revoked", n.handleRevoked)
	// The dashboard's page and assets; no token (authenticate).
	mux.HandleFunc("GET /{$}", n.handleDashboard)
	mux.HandleFunc("GET /ui/{file}", n.handleDashboardAsset)
	// The catch-all shadows ServeMux's own 405 for a known path asked
	// with another method, so it answers that itself.
	mux.HandleFunc(catchAll, func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
				msg: fmt.Sprintf("%s %s: method not allowed; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
			return
		}
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

// catchAll is the pattern of the API's 404 and 405 handler.
const catchAll = "/"

// probedMethods are the methods allowedMethods tries.
var probedMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions,
}

// allowedMethods lists the methods that some route other than the
// catch-all serves on r's path, as ServeMux would in a 405's Allow header.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probedMethods {
		if m == r.Method {
			continue
		}
		if _, pattern := mux.Handler(&http.Request{Method: m, Host: r.Host, URL: r.URL}); pattern != "" && pattern != catchAll {
			allow = append(allow, m)
		}
	}
	return allow
}

// handleRun is POST /v1/run: decode, route, answer the result. The body
// streams through the JSON decoder under a size cap and a minimum rate,
// and draws on the node's body budget, and on its client's share of it,
// until the call ends.
func (n *Node) handleRun(w http.ResponseWriter, r *http.Request) {
	tIn := stagetime.Now()
	depth := headerDepth(r.Header)
	if depth > maxWorkerDepth {
		// A Worker that runs code through /v1/run that does the same:
		// refused before the body is read, as /w/ refuses it.
		writeError(w, errWorkerLoop)
		return
	}
	if r.ContentLength > MaxRunBody {
		// Refused before the client is asked for it: read, it would hold
		// the client's share of the body budget for minutes.
		writeError(w, errRunTooLarge())
		return
	}
	client := clientOf(r)
	clock := n.newBodyClock(w, r)
	body := &budgetReader{r: http.MaxBytesReader(w, clock, MaxRunBody), b: n.bodies, client: client}
	defer body.Close()
	req, inv, err := parseRun(body, n.codes)
	if err != nil {
		switch {
		case body.refused != nil:
			err = n.budgetError(body.refused, client)
		case clock.late:
			err = clock.slowError()
		}
		writeError(w, err)
		return
	}
	clock.end()
	stagetime.Since("1-decode", tIn)
	setCF(req, inv, requestCF(r))
	c := callerOf(r)
	req.Client, req.addr = shareOf(r, c.tok), client
	req.Token = c.raw
	req.Depth = depth
	lines := acceptsNDJSON(r)
	if lines {
		req.pipe = isolate.NewBodyPipe()
		inv.StreamTo = req.pipe
	}
	tRoute := stagetime.Now()
	res := n.route(r.Context(), inv, req, c.tok)
	stagetime.Since("2-route", tRoute)
	if stagetime.On {
		tAnswer := stagetime.Now()
		defer func() { stagetime.Since("8-answer", tAnswer); stagetime.Since("9-handler", tIn) }()
	}
	n.ended("run", c.tok.Name, c.tok.ID, "", req, res)
	if lines {
		n.sendRunLines(w, r, res, req.pipe)
		return
	}
	n.writeResult(w, r, res)
}

// writeResult answers POST /v1/run with res: encoded without reflection
// (Result.AppendJSON), and a large answer held in the node's answer
// budget while the client reads it.
func (n *Node) writeResult(w http.ResponseWriter, r *http.Request, res *isolate.Result) {
	b := answerBufs.Get().(*bytes.Buffer)
	defer putAnswerBuf(b)
	out, release, ok := n.heldResult(w, r, b, res, false)
	if !ok {
		return
	}
	defer release()
	writeJSONBytes(w, http.StatusOK, out)
}

// heldResult encodes res into b's room, as the answer of POST /v1/run or,
// when line, as the first RunLine of one answered as lines, and holds it
// in the answer budget (holdAnswer). If not ok, the client has its answer
// already (an encoding error, or 503 busy).
func (n *Node) heldResult(w http.ResponseWriter, r *http.Request, b *bytes.Buffer, res *isolate.Result, line bool) (out []byte, release func(), ok bool) {
	out = b.AvailableBuffer()
	if line {
		out = append(out, `{"result":`...)
	}
	out, err := res.AppendJSON(out)
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "internal", msg: "encoding the result: " + err.Error()})
		return nil, nil, false
	}
	if line {
		out = append(out, '}')
	}
	out = append(out, '\n')
	release, ok = n.holdAnswer(w, r, len(out))
	return out, release, ok
}

// NDJSONType asks POST /v1/run for its answer as lines of JSON, so that a
// streamed response's body comes as the Worker produces it.
const NDJSONType = "application/x-ndjson"

func acceptsNDJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		// One media range at a time: splitting a large header into a
		// slice first cost a megabyte for 128 KiB of commas.
		for t := range strings.SplitSeq(v, ",") {
			if mt, _, _ := strings.Cut(strings.TrimSpace(t), ";"); strings.EqualFold(mt, NDJSONType) {
				return true
			}
		}
	}
	return false
}

// RunLine is one line of POST /v1/run's answer as application/x-ndjson
// (see docs/http-api.md): the result first, then, for a streamed response
// (result.response.streamed), each chunk of its body as it comes (Body, or
// BodyBase64 for bytes that are not UTF-8 text), then End, or Error if the
// body failed midway.
type RunLine struct {
	Result     *isolate.Result `json:"result,omitempty"`
	Body       *string         `json:"body,omitempty"`
	BodyBase64 *string         `json:"bodyBase64,omitempty"`
	End        bool            `json:"end,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// sendRunLines answers a POST /v1/run that asked for lines. The result's
// line is sent as writeResult sends its answer (held in the answer budget,
// each write under answerStall): it holds a whole response body.
func (n *Node) sendRunLines(w http.ResponseWriter, r *http.Request, res *isolate.Result, pipe *isolate.BodyPipe) {
	b := answerBufs.Get().(*bytes.Buffer)
	defer putAnswerBuf(b)
	out, release, ok := n.heldResult(w, r, b, res, true)
	if !ok {
		pipe.Abort(errors.New("no answer for the body"))
		return
	}
	w.Header().Set("Content-Type", NDJSONType)
	w.WriteHeader(http.StatusOK)
	sendWithin(w, out)
	release()
	if res.Response == nil || !res.Response.Streamed {
		pipe.Abort(errors.New("no streamed body"))
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	_ = rc.Flush()
	for {
		chunk, err := pipe.Next(r.Context())
		var line RunLine
		switch {
		case err == nil:
			if utf8.Valid(chunk) {
				s := string(chunk)
				line.Body = &s
			} else {
				b := base64.StdEncoding.EncodeToString(chunk)
				line.BodyBase64 = &b
			}
		case errors.Is(err, io.EOF):
			line.End = true
		case r.Context().Err() != nil:
			pipe.Abort(err)
			return
		default:
			line.Error = err.Error()
		}
		_ = rc.SetWriteDeadline(time.Now().Add(bodyStall))
		err = enc.Encode(line)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			pipe.Abort(err)
			return
		}
		if line.End || line.Error != "" {
			return
		}
	}
}

// parseRun reads and validates a POST /v1/run body. Every error is an
// *apiError with a 4xx status.
func parseRun(body io.Reader, codes *codeCache) (*RunRequest, *isolate.Invocation, error) {
	dec := json.NewDecoder(newShapeReader(body))
	dec.DisallowUnknownFields()
	var req RunRequest
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		var ae *apiError
		switch {
		case errors.As(err, &mbe):
			return nil, nil, errRunTooLarge()
		case errors.As(err, &ae): // the shape's
			return nil, nil, ae
		}
		return nil, nil, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "decoding the run request: " + err.Error()}
	}
	if err := readToEnd(dec); err != nil {
		var mbe *http.MaxBytesError
		var ae *apiError
		switch {
		case errors.As(err, &mbe):
			return nil, nil, errRunTooLarge()
		case errors.As(err, &ae):
			return nil, nil, ae
		}
		return nil, nil, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: err.Error() + " after the run request"}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"hops", len(req.Hops) > 0}, {"waitMs", req.WaitMs != 0}, {"codeRef", req.CodeRef != ""},
		{"client", req.Client != ""}, {"token", req.Token != ""}, {"cf", req.CF != nil}, {"depth", req.Depth != 0},
	} {
		if f.set {
			return nil, nil, &apiError{status: http.StatusBadRequest, code: "bad_request",
				msg: f.name + " is set by nodes, not clients (hops, waitMs, codeRef, client, token, cf and depth; a token goes in the Authorization header)"}
		}
	}
	inv, err := req.decode(codes)
	if err != nil {
		return nil, nil, err
	}
	return &req, inv, nil
}

// errRunTooLarge is the 413 of a run body over MaxRunBody.
func errRunTooLarge() error {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("request body exceeds %d bytes", MaxRunBody)}
}

// readToEnd reads what follows dec's value to the end of the body: nil
// if only white space does, else an error naming the trailing data, or
// the read's. A body must be read to its end while its clock runs (dec.More
// stops at a read that times out, and says nothing is left): net/http
// reads what a handler leaves of a body before the answer's head, with
// no deadline, so a body that stalled after its JSON held the handler for
// ever.
func readToEnd(dec *json.Decoder) error {
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return errors.New("trailing data")
	default:
		return fmt.Errorf("reading the body: %w", err)
	}
}

// Member is one entry of GET /v1/members.
type Member struct {
	Name  string `json:"name"`
	ID    string `json:"id"`
	State string `json:"state"`
	// Retiring: the node is being decommissioned (its replicas move off).
	Retiring  bool              `json:"retiring,omitempty"`
	Addr      string            `json:"addr"`
	API       string            `json:"api,omitempty"`
	RTTMs     *float64          `json:"rttMs"` // null: unknown
	RTTSource string            `json:"rttSource,omitempty"`
	Slots     int               `json:"slots"`
	Free      int               `json:"free"`
	Load      float64           `json:"load"`
	Tags      map[string]string `json:"tags,omitempty"`
	Local     bool              `json:"local,omitempty"`
	Updated   time.Time         `json:"updated"`
}

// Members lists the peer table as the API shows it.
func (n *Node) Members() []Member {
	var out []Member
	for _, p := range n.mesh.Members() {
		m := Member{Name: p.Name, ID: p.ID, State: p.State, Retiring: p.Retiring, Addr: p.Addr, API: p.API, RTTSource: p.RTTSource,
			Slots: p.Slots, Free: p.Free, Load: p.Load, Tags: p.Tags, Local: p.Local, Updated: p.Updated}
		if p.Local {
			m.Free = n.cfg.Slots - len(n.slots)
			zero := 0.0
			m.RTTMs = &zero
		} else if p.RTTSource != "" {
			v := float64(p.RTT.Microseconds()) / 1000
			m.RTTMs = &v
		}
		out = append(out, m)
	}
	return out
}

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"node": n.id.Name, "members": n.Members()})
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	alive := 0
	for _, p := range n.mesh.Members() {
		if p.State == "alive" {
			alive++
		}
	}
	status := "ok"
	if n.draining.Load() {
		status = "draining"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": status, "node": n.id.Name, "slots": n.cfg.Slots, "free": n.cfg.Slots - len(n.slots),
		"alive": alive, "isolation": n.rt.Stats(), "mesh": n.mesh.Addr().String(),
		// Invocations running here, started here since the node started,
		// and forwarded from here and running on peers.
		"running": n.running.Load(), "ran": n.ran.Load(), "runningOnPeers": n.remote.Load(),
		"queued": n.queued.Load(),
	})
}

// answerStall is how long one write of an answer may wait for its client
// to read (a variable the tests shorten).
var answerStall = durationVar(bodyStall)

// answerChunk is how much of an answer one write under one deadline sends.
const answerChunk = 64 << 10

// sendWithin writes an answer's body a chunk at a time, each under a
// deadline answerStall away, flushes it under the same bound, and clears
// the deadline for the connection's next request: a client that stops
// reading is given up (the write fails, the connection closes) instead of
// holding the handler, and the answer in memory, for as long as it likes;
// one that reads slowly but steadily gets all of it.
func sendWithin(w http.ResponseWriter, body []byte) {
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	for len(body) > 0 {
		k := min(len(body), answerChunk)
		_ = rc.SetWriteDeadline(time.Now().Add(answerStall.get()))
		if _, err := w.Write(body[:k]); err != nil {
			return
		}
		body = body[k:]
	}
	_ = rc.SetWriteDeadline(time.Now().Add(answerStall.get()))
	_ = rc.Flush()
}
