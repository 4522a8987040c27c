package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
)

// Client talks to a node's HTTP API.
type Client struct {
	// URL is the node's API base URL, e.g. http://127.0.0.1:7070.
	URL  string
	HTTP *http.Client
	// Token, if set, goes with every call (Authorization: Bearer).
	Token string
}

// NewClient returns a client for the node at url (a bare host:port gets http://).
func NewClient(url string) *Client {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	return &Client{URL: strings.TrimRight(url, "/"), HTTP: &http.Client{Timeout: 15 * time.Minute}}
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("node %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxRunBody))
	if err != nil {
		return fmt.Errorf("node %s: reading the answer: %w", c.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("node %s: %s (%s)", c.URL, e.Error, e.Code)
		}
		return fmt.Errorf("node %s: HTTP %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// authorize adds the client's token to req.
func (c *Client) authorize(req *http.Request) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

// Run submits code to the node.
func (c *Client) Run(ctx context.Context, code *isolate.Code, req *isolate.Request, bindings map[string]isolate.Binding) (*isolate.Result, error) {
	return c.RunWith(ctx, code, req, bindings, nil)
}

// RunWith is Run, or with scheduled set a run of the Worker's scheduled
// handler (req is then not sent).
func (c *Client) RunWith(ctx context.Context, code *isolate.Code, req *isolate.Request, bindings map[string]isolate.Binding, scheduled *isolate.ScheduledEvent) (*isolate.Result, error) {
	raw, err := json.Marshal(code)
	if err != nil {
		return nil, err
	}
	if scheduled != nil {
		req = nil
	}
	var res isolate.Result
	if err := c.do(ctx, http.MethodPost, "/v1/run", &RunRequest{Code: raw, Request: req, Bindings: bindings, Scheduled: scheduled}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// RunStreaming is RunWith asking for the answer as lines (NDJSONType): a
// streamed response's body is written to body as the Worker produces it,
// and the result returned has an empty body. A buffered body stays in the
// result. A body that fails midway is an error after the result.
func (c *Client) RunStreaming(ctx context.Context, code *isolate.Code, req *isolate.Request, bindings map[string]isolate.Binding, body io.Writer) (*isolate.Result, error) {
	raw, err := json.Marshal(code)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(&RunRequest{Code: raw, Request: req, Bindings: bindings})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/run", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", NDJSONType)
	c.authorize(hr)
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), NDJSONType) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("node %s: %s (%s)", c.URL, e.Error, e.Code)
		}
		return nil, fmt.Errorf("node %s: HTTP %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(b))
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<40)) // lines of a long stream; each bounded below
	var res *isolate.Result
	for {
		var line RunLine
		if err := dec.Decode(&line); err != nil {
			if res != nil && errors.Is(err, io.EOF) && (res.Response == nil || !res.Response.Streamed) {
				return res, nil
			}
			return res, fmt.Errorf("node %s: reading the answer: %w", c.URL, err)
		}
		switch {
		case line.Result != nil:
			res = line.Result
		case res == nil:
			return nil, fmt.Errorf("node %s: the answer does not start with the result", c.URL)
		case line.Body != nil:
			if _, err := io.WriteString(body, *line.Body); err != nil {
				return res, err
			}
		case line.BodyBase64 != nil:
			chunk, err := base64.StdEncoding.DecodeString(*line.BodyBase64)
			if err != nil {
				return res, fmt.Errorf("node %s: a chunk of the body: %w", c.URL, err)
			}
			if _, err := body.Write(chunk); err != nil {
				return res, err
			}
		case line.Error != "":
			return res, fmt.Errorf("node %s: %s", c.URL, line.Error)
		case line.End:
			return res, nil
		}
	}
}

// Members lists the node's peer table.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/members", nil, &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// The types of the KV and groups routes, for the binary's commands.
type (
	// KVKey is one key of a KV list page.
	KVKey = replication.KVKey
	// GroupInfo is one Raft group of GET /v1/groups.
	GroupInfo = replication.GroupInfo
	// ReplicaInfo is one replica of a group.
	ReplicaInfo = replication.ReplicaInfo
)

// KVValue is a value as GET /v1/kv/{namespace}/{key} answers it.
type KVValue struct {
	Value []byte
	// Metadata is the key's metadata JSON (nil: none).
	Metadata json.RawMessage
	// Expiration is unix seconds (0: none).
	Expiration int64
}

// KVPutOptions are the options of KVPut.
type KVPutOptions struct {
	// Expiration (unix seconds) and ExpirationTTL (seconds from now; it
	// wins) set an expiration; 0 means none.
	Expiration, ExpirationTTL int64
	// Metadata is JSON (nil: none).
	Metadata json.RawMessage
}

// KVListOptions are the options of KVList.
type KVListOptions struct {
	Prefix, Cursor string
	Limit          int
	// Eventual reads from the nearest replica.
	Eventual bool
}

// kvPath is the path of a KV route; the key is escaped whole, its slashes
// included.
func kvPath(ns, key string) string {
	p := "/v1/kv/" + url.PathEscape(ns)
	if key != "" {
		p += "/" + url.PathEscape(key)
	}
	return p
}

// raw makes a request whose body and answer are not JSON: it returns the
// answer of a 200, or the node's error.
func (c *Client) raw(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c.authorize(req)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", c.URL, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct{ Error, Code string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return nil, &APIError{Status: resp.StatusCode, Code: e.Code, Message: fmt.Sprintf("node %s: %s (%s)", c.URL, e.Error, e.Code)}
	}
	return nil, &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("node %s: HTTP %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(b))}
}

// APIError is an error answer of a node's API.
type APIError struct {
	Status  int
	Code    string // the answer's code ("not_found", "invalid", ...)
	Message string
}

func (e *APIError) Error() string { return e.Message }

// KVGet reads a key; a missing key is an *APIError of code "not_found".
func (c *Client) KVGet(ctx context.Context, ns, key string, eventual bool) (*KVValue, error) {
	p := kvPath(ns, key)
	if eventual {
		p += "?consistency=eventual"
	}
	resp, err := c.raw(ctx, http.MethodGet, p, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	v := &KVValue{}
	if v.Value, err = io.ReadAll(io.LimitReader(resp.Body, MaxKVValue+1)); err != nil {
		return nil, fmt.Errorf("node %s: reading the value: %w", c.URL, err)
	}
	if m := resp.Header.Get(HeaderKVMetadata); m != "" {
		v.Metadata = json.RawMessage(m)
	}
	if e := resp.Header.Get(HeaderKVExpiration); e != "" {
		if v.Expiration, err = strconv.ParseInt(e, 10, 64); err != nil {
			return nil, fmt.Errorf("node %s: a bad %s header %q", c.URL, HeaderKVExpiration, e)
		}
	}
	return v, nil
}

// KVPut stores value under key.
func (c *Client) KVPut(ctx context.Context, ns, key string, value io.Reader, opts KVPutOptions) error {
	q := url.Values{}
	if opts.Expiration != 0 {
		q.Set("expiration", strconv.FormatInt(opts.Expiration, 10))
	}
	if opts.ExpirationTTL != 0 {
		q.Set("expiration_ttl", strconv.FormatInt(opts.ExpirationTTL, 10))
	}
	p := kvPath(ns, key)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if len(opts.Metadata) > 0 {
		h.Set(HeaderKVMetadata, string(opts.Metadata))
	}
	resp, err := c.raw(ctx, http.MethodPut, p, value, h)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// KVDelete removes key; a missing key is not an error.
func (c *Client) KVDelete(ctx context.Context, ns, key string) error {
	resp, err := c.raw(ctx, http.MethodDelete, kvPath(ns, key), nil, nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// KVList reads a page of keys.
func (c *Client) KVList(ctx context.Context, ns string, opts KVListOptions) (*KVListPage, error) {
	q := url.Values{}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Eventual {
		q.Set("consistency", "eventual")
	}
	p := kvPath(ns, "")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	resp, err := c.raw(ctx, http.MethodGet, p, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var page KVListPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page); err != nil {
		return nil, fmt.Errorf("node %s: reading the list: %w", c.URL, err)
	}
	return &page, nil
}

// Groups reads the status of the node's Raft groups.
func (c *Client) Groups(ctx context.Context) ([]GroupInfo, error) {
	resp, err := c.raw(ctx, http.MethodGet, "/v1/groups", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Groups []GroupInfo `json:"groups"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("node %s: reading the groups: %w", c.URL, err)
	}
	return out.Groups, nil
}

// Deploy stores code with its bindings as the next version of the Worker
// name, and returns that version.
func (c *Client) Deploy(ctx context.Context, name string, code *isolate.Code, bindings map[string]isolate.Binding) (int64, error) {
	return c.DeployWith(ctx, name, code, bindings, nil)
}

// DeployWith is Deploy with the deployment's triggers (nil: none).
func (c *Client) DeployWith(ctx context.Context, name string, code *isolate.Code, bindings map[string]isolate.Binding, triggers *Triggers) (int64, error) {
	raw, err := json.Marshal(code)
	if err != nil {
		return 0, err
	}
	var out struct {
		Version int64 `json:"version"`
	}
	if err := c.do(ctx, http.MethodPut, "/v1/workers/"+url.PathEscape(name), &deployRequest{Code: raw, Bindings: bindings, Triggers: triggers}, &out); err != nil {
		return 0, err
	}
	return out.Version, nil
}

// Workers lists the deployed Workers.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	var out struct {
		Workers []WorkerInfo `json:"workers"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/workers", nil, &out); err != nil {
		return nil, err
	}
	return out.Workers, nil
}

// Undeploy removes the Worker name; a missing one is an error.
func (c *Client) Undeploy(ctx context.Context, name string) error {
	var out struct{}
	return c.do(ctx, http.MethodDelete, "/v1/workers/"+url.PathEscape(name), nil, &out)
}

// TailOptions select what Tail streams.
type TailOptions struct {
	// NodeOnly streams what this node saw alone; by default the whole
	// mesh's invocations come through it.
	NodeOnly bool
	Worker   string // only this deployed Worker's invocations
	Outcome  string // only this outcome
}

// Tail streams finished invocations (GET /v1/tail) to fn until ctx ends
// or the node closes the stream. It needs an admin token.
func (c *Client) Tail(ctx context.Context, opts TailOptions, fn func(TailEvent)) error {
	q := url.Values{"scope": {"mesh"}}
	if opts.NodeOnly {
		q.Set("scope", "node")
	}
	if opts.Worker != "" {
		q.Set("worker", opts.Worker)
	}
	if opts.Outcome != "" {
		q.Set("outcome", opts.Outcome)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/v1/tail?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	c.authorize(req)
	// The stream lasts: the client's own timeout, if any, must not end it.
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("node %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("node %s: %s (%s)", c.URL, e.Error, e.Code)
		}
		return fmt.Errorf("node %s: HTTP %d", c.URL, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxTailEvent)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e TailEvent
		if err := json.Unmarshal([]byte(data), &e); err == nil {
			fn(e)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("node %s: the tail stream: %w", c.URL, err)
	}
	return fmt.Errorf("node %s closed the tail stream", c.URL)
}
