package node

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
)

// The Model Context Protocol endpoint: POST /mcp, streamable HTTP,
// stateless (each request stands alone, authenticated by its token like
// any API call). Its tools are the API's, with the caller's grants:
// run_code (POST /v1/run), members, and kv_get, kv_put and kv_list.

// mcpRunInput is what run_code takes.
type mcpRunInput struct {
	Source   string                     `json:"source,omitempty" jsonschema:"JavaScript or TypeScript source of a module whose default export has fetch(request, env, ctx) returning a Response; give this or code"`
	Language string                     `json:"language,omitempty" jsonschema:"js (default) or ts: the language of source"`
	Code     json.RawMessage            `json:"code,omitempty" jsonschema:"a whole code object instead of source: {mainModule, modules: {name: source}, env?, limits?, compatibilityFlags?}"`
	Request  *isolate.Request           `json:"request,omitempty" jsonschema:"the HTTP request handed to fetch: {method, url, headers, body}; default GET http://localhost/"`
	Bindings map[string]isolate.Binding `json:"bindings,omitempty" jsonschema:"name to binding: {kv: namespace} or {durableObject: {worker, class}}, as the token grants"`
	Limits   *isolate.Limits            `json:"limits,omitempty" jsonschema:"cpuMs, memoryMb, wallMs, subRequests: at most what the token and the node allow"`
}

// mcpRunOutput is the result contract, as POST /v1/run answers it (a
// map: its JSON, not its Go fields, is the contract).
type mcpRunOutput struct {
	Result map[string]any `json:"result" jsonschema:"the result: outcome, response {status, headers, body}, logs, exceptions, telemetry, error (docs/result.md)"`
}

type mcpKVInput struct {
	Namespace string `json:"namespace" jsonschema:"the KV namespace"`
	Key       string `json:"key,omitempty" jsonschema:"the key (kv_get, kv_put)"`
	Value     string `json:"value,omitempty" jsonschema:"the value to store, as text (kv_put)"`
	Prefix    string `json:"prefix,omitempty" jsonschema:"only keys starting with this (kv_list)"`
	Limit     int    `json:"limit,omitempty" jsonschema:"at most this many keys, up to 1000 (kv_list)"`
}

type mcpKVOutput struct {
	Found bool     `json:"found,omitempty"`
	Value string   `json:"value,omitempty"`
	Keys  []string `json:"keys,omitempty"`
	More  bool     `json:"more,omitempty"`
}

type mcpMembersOutput struct {
	Members []Member `json:"members"`
}

const runCodeDescription = `Run JavaScript or TypeScript once in a fresh, isolated sandbox on the warren mesh, on the nearest node with room, and get the result: the response (status, headers, body), console logs, exceptions (with stacks mapped to your source) and telemetry (node, CPU and wall time). The code is a module whose default export has fetch(request, env, ctx) returning a Response, as a Cloudflare Worker:
  export default { async fetch(request, env) { return new Response("hello") } }
The sandbox has the Web APIs of Workers (fetch, Request, Response, URL, crypto, TextEncoder, ...), no file system, and no network unless the caller's token grants hosts: a fetch elsewhere rejects. Limits: by default 1000 ms of CPU, 30 s wall time and 128 MiB of memory; an overrun ends the call with outcome exceededCpu, exceededWallTime or exceededMemory. Nothing persists between calls except through bindings (KV namespaces, Durable Objects) the token grants. The outcome is "ok" when the handler returned a Response; read result.exceptions otherwise.`

// mcpSchemas caches the tools' schemas, inferred from their Go types once
// rather than for every request's server.
var mcpSchemas = mcp.NewSchemaCache()

// mcpServerKey holds the MCP server handleMCP built for a request: the SDK
// asks for it twice.
type mcpServerKey struct{}

// mcpServer is the MCP server of one request, with its caller's grants:
// the one handleMCP built, or a new one.
func (n *Node) mcpServer(r *http.Request) *mcp.Server {
	if s, ok := r.Context().Value(mcpServerKey{}).(*mcp.Server); ok {
		return s
	}
	return n.newMCPServer(r)
}

// newMCPServer builds the MCP server of one request.
func (n *Node) newMCPServer(r *http.Request) *mcp.Server {
	c := callerOf(r)
	client := mcpClient{addr: clientOf(r), share: shareOf(r, c.tok)}
	s := mcp.NewServer(&mcp.Implementation{Name: "warren", Title: "warren mesh " + n.id.Name, Version: "1"}, &mcp.ServerOptions{SchemaCache: mcpSchemas})
	var results atomic.Int64 // the bytes of run_code's results this request carries
	mcp.AddTool(s, &mcp.Tool{Name: "run_code", Description: runCodeDescription},
		func(ctx context.Context, _ *mcp.CallToolRequest, in mcpRunInput) (*mcp.CallToolResult, mcpRunOutput, error) {
			res, err := n.mcpRun(ctx, in, c, client)
			if err != nil {
				return nil, mcpRunOutput{}, err
			}
			b, err := json.Marshal(res)
			if err != nil {
				return nil, mcpRunOutput{}, err
			}
			if held := results.Add(int64(len(b))); held > maxMCPResults {
				results.Add(-int64(len(b)))
				return nil, mcpRunOutput{}, fmt.Errorf("the call ran (outcome %s), but its result is %d bytes, and an MCP request carries at most %d bytes of results (%d before it here): POST /v1/run answers a large result whole",
					res.Outcome, len(b), maxMCPResults, held-int64(len(b)))
			}
			var out mcpRunOutput
			if err := json.Unmarshal(b, &out.Result); err != nil {
				return nil, mcpRunOutput{}, err
			}
			return nil, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "members", Description: "The nodes of the warren mesh as this node sees them: name, state (alive, suspect, dead, ...), API address, free slots, measured round-trip time."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, mcpMembersOutput, error) {
			return nil, mcpMembersOutput{Members: n.Members()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "kv_get", Description: "Read a key of the mesh's replicated KV store (linearizable: it sees every write acknowledged before). found is false for a missing key."},
		func(ctx context.Context, req *mcp.CallToolRequest, in mcpKVInput) (*mcp.CallToolResult, mcpKVOutput, error) {
			kv, err := n.mcpKV(r, in.Namespace, false)
			if err != nil {
				return nil, mcpKVOutput{}, err
			}
			v, err := kv.GetWithMetadata(ctx, in.Namespace, in.Key, replication.Strong)
			if errors.Is(err, replication.ErrKVNotFound) {
				return nil, mcpKVOutput{}, nil
			}
			if err != nil {
				return nil, mcpKVOutput{}, kvAPIError(err)
			}
			if len(v.Value) > maxMCPValue {
				return nil, mcpKVOutput{}, fmt.Errorf("the value of %s is %d bytes; kv_get answers at most %d: read it with GET /v1/kv/%s/{key} or warren kv get",
					quote(in.Key), len(v.Value), maxMCPValue, in.Namespace)
			}
			return nil, mcpKVOutput{Found: true, Value: string(v.Value)}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "kv_put", Description: "Write a key of the mesh's replicated KV store; it is durable on a majority of its replicas when this returns. Workers bound to the namespace read it as env.NAME.get(key)."},
		func(ctx context.Context, req *mcp.CallToolRequest, in mcpKVInput) (*mcp.CallToolResult, mcpKVOutput, error) {
			kv, err := n.mcpKV(r, in.Namespace, true)
			if err != nil {
				return nil, mcpKVOutput{}, err
			}
			if err := n.paceKVWrite(ctx, r, len(in.Key)+len(in.Value)); err != nil {
				return nil, mcpKVOutput{}, err
			}
			if err := kv.Put(ctx, in.Namespace, in.Key, []byte(in.Value), replication.KVPutOptions{}); err != nil {
				return nil, mcpKVOutput{}, kvAPIError(err)
			}
			return nil, mcpKVOutput{}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "kv_list", Description: "List keys of a namespace of the mesh's KV store, in order, optionally under a prefix (at most limit, 1000 by default); more is true when there are more."},
		func(ctx context.Context, req *mcp.CallToolRequest, in mcpKVInput) (*mcp.CallToolResult, mcpKVOutput, error) {
			kv, err := n.mcpKV(r, in.Namespace, false)
			if err != nil {
				return nil, mcpKVOutput{}, err
			}
			page, err := kv.List(ctx, in.Namespace, replication.KVListOptions{Prefix: in.Prefix, Limit: in.Limit}, replication.Strong)
			if err != nil {
				return nil, mcpKVOutput{}, kvAPIError(err)
			}
			out := mcpKVOutput{Keys: []string{}, More: !page.ListComplete}
			for _, k := range page.Keys {
				out.Keys = append(out.Keys, k.Name)
			}
			return nil, out, nil
		})
	return s
}

// mcpClient names the client of an MCP request: by address (clientOf)
// and for its share of slots (shareOf).
type mcpClient struct{ addr, share string }

// mcpRun runs run_code's input as POST /v1/run would.
func (n *Node) mcpRun(ctx context.Context, in mcpRunInput, c caller, client mcpClient) (*isolate.Result, error) {
	code := in.Code
	switch {
	case len(code) > 0 && in.Source != "":
		return nil, errors.New("give source or code, not both")
	case len(code) == 0 && in.Source == "":
		return nil, errors.New("give source (a module's code) or code (a code object)")
	case len(code) == 0:
		name := "main.js"
		switch strings.ToLower(in.Language) {
		case "", "js", "javascript":
		case "ts", "typescript":
			name = "main.ts"
		default:
			return nil, fmt.Errorf("language %q: js or ts", in.Language)
		}
		obj := map[string]any{"mainModule": name, "modules": map[string]string{name: in.Source}}
		if in.Limits != nil {
			obj["limits"] = in.Limits
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		code = b
	}
	body, err := json.Marshal(&RunRequest{Code: code, Request: in.Request, Bindings: in.Bindings})
	if err != nil {
		return nil, err
	}
	req, inv, err := parseRun(bytes.NewReader(body), n.codes)
	if err != nil {
		return nil, err
	}
	req.Client, req.addr, req.Token = client.share, client.addr, c.raw
	res := n.route(ctx, inv, req, c.tok)
	n.ended("mcp", c.tok.Name, c.tok.ID, "", req, res)
	return res, nil
}

// mcpKV is the KV store, if the caller may use ns so.
func (n *Node) mcpKV(r *http.Request, ns string, write bool) (replication.KV, error) {
	if err := checkKV(r, ns, write); err != nil {
		return nil, err
	}
	return n.kvStore()
}

// maxMCPBody caps a POST /mcp body; maxMCPBatch the messages of a batch
// (each may run code: a batch is at most as many calls as this).
const (
	maxMCPBody  = 4 << 20
	maxMCPBatch = 16
)

// maxMCPValue bounds the value kv_get answers. The SDK encodes a tool's
// answer several times over (its structured output, that as text, the
// whole as JSON-RPC), escaping each time: a value of 2 MiB of zero bytes
// made a 27 MB answer and 540 MB of allocations in 1.7 s of CPU, and one
// of 25 MiB (the store's largest) ran past 30 s, 16 of them to a batch.
const maxMCPValue = 64 << 10

// maxMCPValues bounds the JSON values of a POST /mcp body (counted as its
// commas, braces and brackets outside strings): the SDK decodes a message
// into maps and slices of any before it reads its arguments, at up to a
// hundred times their bytes.
const maxMCPValues = 100_000

// maxMCPResults bounds the JSON of the run_code results one POST /mcp
// carries, all of a batch's together. The SDK copies a tool's output many
// times as it builds its answer (decoded to a map, encoded, decoded again
// to check it against the schema, encoded, and sent twice, as
// structuredContent and as text): a result of a 30 MiB body made the
// node's heap peak at 460 MB (120 MB as POST /v1/run's), and a batch of 16
// of them at 8 GB, before the answer budget refused the gigabyte answer.
// A result past the bound is a tool error, its call having run.
const maxMCPResults = 16 << 20

// handleMCP is POST /mcp: the body is read as POST /v1/run's is (under
// maxMCPBody and the slow-body clock, drawing on the node's body budget
// until the call ends), a batch of more than maxMCPBatch messages is
// refused, and then the SDK's handler serves it, its errors answered as
// the API's JSON errors.
func (n *Node) handleMCP(w http.ResponseWriter, r *http.Request) {
	b, release, err := n.readLimitedBody(w, r, maxMCPBody, func() error {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("the MCP request exceeds %d bytes", maxMCPBody)}
	})
	defer release()
	if err != nil {
		writeError(w, err)
		return
	}
	// The SDK decodes a request whole, into maps and slices of any, to
	// check its arguments: 4 MiB of empty arrays took 345 MB of heap.
	if err := (&shapeReader{what: "the MCP request", total: maxMCPValues}).scan(b); err != nil {
		writeError(w, err)
		return
	}
	if k := mcpBatchLen(b); k > maxMCPBatch {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request",
			msg: fmt.Sprintf("a JSON-RPC batch of %d messages: at most %d", k, maxMCPBatch)})
		return
	}
	if mcpListens(b) {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request",
			msg: "mcp: subscriptions/listen is not served: this server is stateless and its tools, prompts and resources never change"})
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	r = r.WithContext(context.WithValue(r.Context(), mcpServerKey{}, n.newMCPServer(r)))
	jw := &mcpErrorWriter{ResponseWriter: w, n: n, r: r}
	defer jw.release()
	n.mcp.ServeHTTP(jw, r)
	jw.finish()
}

// mcpBatchLen is the number of messages in b if it is a JSON array, else 0
// (a single message, or something the SDK refuses itself).
func mcpBatchLen(b []byte) int {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return 0
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return 0
	}
	k := 0
	for dec.More() {
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0
		}
		if k++; k > maxMCPBatch {
			return k // enough to refuse it: the rest is not read
		}
	}
	return k
}

// mcpListens reports whether b, a message or a batch, holds a
// subscriptions/listen request. The SDK answers one with a stream that it
// keeps open until the client goes away (holding the handler, its MCP
// server and its share of the body budget), and a stateless server with
// fixed tools has nothing to send on it. Only a body that could spell the
// method (with escapes, or as is) is decoded. Every key of a message that
// is "method" in any case counts, and each of several: the SDK's decoder
// matches the key exactly and this package's encoding/json in any case,
// so a message with "method" and "Method" read as two different methods
// (a second opinion is only safe if it errs the same way or wider).
func mcpListens(b []byte) bool {
	if !bytes.Contains(b, []byte("listen")) && !bytes.Contains(b, []byte(`\`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return false // the SDK refuses it
	}
	if tok == json.Delim('[') {
		for dec.More() {
			if t, err := dec.Token(); err != nil || t != json.Delim('{') {
				return false
			}
			if objectListens(dec) {
				return true
			}
		}
		return false
	}
	return tok == json.Delim('{') && objectListens(dec)
}

// objectListens reads the rest of an object whose '{' dec has read, and
// reports whether a key that is "method" in any case holds
// "subscriptions/listen".
func objectListens(dec *json.Decoder) bool {
	listens := false
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return listens
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return listens
		}
		if key, _ := k.(string); strings.EqualFold(key, "method") {
			var m string
			if json.Unmarshal(v, &m) == nil && m == "subscriptions/listen" {
				listens = true
			}
		}
	}
	dec.Token() // the '}'
	return listens
}

// mcpErrorWriter turns the SDK's plain-text errors (http.Error) into the
// API's JSON errors, and sends the rest as the API's other answers are
// sent: a large piece (run_code's result holds a Worker's whole body,
// twice; a batch, 16 of them) drawn from the answer budget before the head
// goes out, and written under answerStall; a later large piece draws on
// the budget while it is written.
type mcpErrorWriter struct {
	http.ResponseWriter
	n       *Node
	r       *http.Request
	status  int // of an error held back; 0: none
	msg     bytes.Buffer
	head    int    // the status of an answer whose head is held back
	sent    bool   // the head is written
	refused bool   // the budget refused the answer: answered 503
	held    func() // gives back the budget the answer drew, once drawn
}

// maxMCPErrorText bounds the text of an error held back.
const maxMCPErrorText = 4 << 10

// errMCPRefused ends the SDK's write of an answer the budget refused.
var errMCPRefused = errors.New("mcp: no room for the answer")

func (e *mcpErrorWriter) WriteHeader(status int) {
	if status >= 400 && strings.HasPrefix(e.Header().Get("Content-Type"), "text/plain") {
		e.status = status
		return
	}
	if !e.sent && e.head == 0 {
		e.head = status
	}
}

// sendHead writes the head held back.
func (e *mcpErrorWriter) sendHead() {
	if !e.sent {
		e.sent = true
		e.ResponseWriter.WriteHeader(cmp.Or(e.head, http.StatusOK))
	}
}

func (e *mcpErrorWriter) Write(p []byte) (int, error) {
	if e.status != 0 {
		if room := maxMCPErrorText - e.msg.Len(); room > 0 {
			e.msg.Write(p[:min(len(p), room)])
		}
		return len(p), nil
	}
	if e.refused {
		return 0, errMCPRefused
	}
	if !e.sent {
		release, ok := e.n.holdAnswer(e.ResponseWriter, e.r, len(p))
		if !ok {
			e.refused, e.sent = true, true
			return 0, errMCPRefused
		}
		e.held = release
	} else if len(p) > answerChunk && e.r.Method != http.MethodHead {
		// A later piece (the SDK writes an answer whole today) draws on
		// the budget while it is written; refused, the answer is cut.
		client := clientOf(e.r)
		if err := e.n.answers.take(client, int64(len(p))); err != nil {
			e.refused = true
			return 0, fmt.Errorf("%w: %w", errMCPRefused, err)
		}
		defer e.n.answers.give(client, int64(len(p)))
	}
	e.sendHead()
	return sendAnswer(e.ResponseWriter, p)
}

func (e *mcpErrorWriter) Flush() {
	if f, ok := e.ResponseWriter.(http.Flusher); ok && e.status == 0 && !e.refused {
		e.sendHead()
		f.Flush()
	}
}

func (e *mcpErrorWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// release gives back the answer budget the answer drew.
func (e *mcpErrorWriter) release() {
	if e.held != nil {
		e.held()
	}
}

// finish answers an error held back.
func (e *mcpErrorWriter) finish() {
	if e.status == 0 {
		if e.head != 0 {
			e.sendHead()
		}
		return
	}
	code := map[int]string{
		http.StatusBadRequest: "bad_request", http.StatusForbidden: "denied", http.StatusNotFound: "not_found",
		http.StatusMethodNotAllowed: "method_not_allowed", http.StatusRequestEntityTooLarge: "too_large",
		http.StatusUnsupportedMediaType: "unsupported_media_type",
	}[e.status]
	if code == "" {
		code = "internal"
		if e.status < 500 {
			code = "bad_request"
		}
	}
	e.Header().Del("X-Content-Type-Options")
	writeError(e.ResponseWriter, &apiError{status: e.status, code: code, msg: "mcp: " + strings.TrimSpace(e.msg.String())})
}
