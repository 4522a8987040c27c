package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/warrenmesh/warren/replication"
)

// The KV routes (docs/http-api.md): a key's value as raw bytes, its
// metadata and expiration in headers.
const (
	// HeaderKVMetadata carries a key's metadata, as compact JSON: in the
	// answer to a GET of the key, and in a PUT.
	HeaderKVMetadata = "X-Warren-KV-Metadata"
	// HeaderKVExpiration carries a key's expiration in unix seconds, in the
	// answer to a GET of a key that has one.
	HeaderKVExpiration = "X-Warren-KV-Expiration"
)

const (
	// MaxKVValue is the largest value (25 MiB), as Workers KV allows.
	MaxKVValue = 25 << 20
	// kvAPITimeout bounds one KV or groups call of the API.
	kvAPITimeout = 10 * time.Second
)

// errNoKV is the API's answer on a node without a KV store.
var errNoKV = &apiError{status: http.StatusServiceUnavailable, code: "no_kv", msg: "this node has no KV store"}

// kvStore is the node's store, or errNoKV.
func (n *Node) kvStore() (replication.KV, error) {
	if n.kv == nil {
		return nil, errNoKV
	}
	return n.kv, nil
}

// kvAPIError is the API's answer to an error of the store: a broken rule
// is 400 (413, 414 for sizes) "invalid", a missing key 404 "not_found", a
// group that cannot answer (or a deadline) 503 "unavailable", a write
// refused for want of disk 507 "full", anything else 500 "storage".
func kvAPIError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	switch replication.KVErrorCode(err) {
	case "invalid":
		var ie *replication.KVInvalidError
		if errors.As(err, &ie) {
			status := ie.Status
			if status < 400 || status > 499 {
				status = http.StatusBadRequest
			}
			return &apiError{status: status, code: "invalid", msg: ie.Field + ": " + ie.Reason}
		}
		return &apiError{status: http.StatusBadRequest, code: "invalid", msg: err.Error()}
	case "not_found":
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: "no such key"}
	case "unavailable", "closed":
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: err.Error()}
	case "full":
		return &apiError{status: http.StatusInsufficientStorage, code: "full", msg: err.Error()}
	}
	if errors.Is(err, context.Canceled) {
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: err.Error()}
	}
	return &apiError{status: http.StatusInternalServerError, code: "storage", msg: err.Error()}
}

// badKV is a 400 "invalid" naming a parameter.
func badKV(field, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "invalid", msg: field + ": " + fmt.Sprintf(format, args...)}
}

// kvTarget reads the namespace (checked) and the key of a KV route, and
// the read consistency of its query.
func kvTarget(r *http.Request) (ns, key string, c replication.Consistency, err error) {
	ns = r.PathValue("namespace")
	if err := replication.ValidateKVNamespace(ns); err != nil {
		return "", "", 0, kvAPIError(err)
	}
	if c, err = replication.ParseConsistency(r.URL.Query().Get("consistency")); err != nil {
		return "", "", 0, kvAPIError(err)
	}
	return ns, r.PathValue("key"), c, nil
}

// handleKVGet is GET /v1/kv/{namespace}/{key...}: the value as the body,
// its metadata and expiration in headers.
func (n *Node) handleKVGet(w http.ResponseWriter, r *http.Request) {
	if err := checkKV(r, r.PathValue("namespace"), false); err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	ns, key, c, err := kvTarget(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	v, err := kv.GetWithMetadata(ctx, ns, key, c)
	if errors.Is(err, replication.ErrKVNotFound) {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no key %s in namespace %s", quote(key), ns)})
		return
	}
	if err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	release, ok := n.holdAnswer(w, r, len(v.Value))
	if !ok {
		return
	}
	defer release()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(v.Value)))
	if len(v.Metadata) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, v.Metadata) == nil {
			h.Set(HeaderKVMetadata, b.String())
		}
	}
	if v.Expiration != 0 {
		h.Set(HeaderKVExpiration, strconv.FormatInt(v.Expiration, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		sendWithin(w, v.Value)
	}
}

// handleKVPut is PUT /v1/kv/{namespace}/{key...}: the body is the value,
// ?expiration= and ?expiration_ttl= set its expiration, the
// X-Warren-KV-Metadata header its metadata. The body is read as a run's
// is: under a size cap, a minimum rate and the node's body budget.
func (n *Node) handleKVPut(w http.ResponseWriter, r *http.Request) {
	if err := checkKV(r, r.PathValue("namespace"), true); err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	ns, key, _, err := kvTarget(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	if q.Has("consistency") {
		writeError(w, badKV("consistency", "applies to reads, not to a put"))
		return
	}
	var opts replication.KVPutOptions
	for _, p := range []struct {
		name string
		to   *int64
	}{{"expiration", &opts.Expiration}, {"expiration_ttl", &opts.ExpirationTTL}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				writeError(w, badKV(p.name, "%s is not an integer number of seconds", quote(s)))
				return
			}
			*p.to = v
		}
	}
	if m := r.Header.Get(HeaderKVMetadata); m != "" {
		if !json.Valid([]byte(m)) {
			writeError(w, badKV("metadata", "the %s header is not JSON", HeaderKVMetadata))
			return
		}
		var b bytes.Buffer
		_ = json.Compact(&b, []byte(m))
		opts.Metadata = b.Bytes()
	}
	value, release, err := n.readLimitedBody(w, r, MaxKVValue, tooLargeValue)
	defer release()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := putContext(r.Context(), value, kvAPITimeout)
	defer cancel()
	if err := n.paceKVWrite(ctx, r, len(key)+len(value)); err != nil {
		writeError(w, err)
		return
	}
	if err := kv.Put(ctx, ns, key, value, opts); err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func tooLargeValue() error {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "invalid", msg: fmt.Sprintf("value: length exceeds limit of %d", MaxKVValue)}
}

// handleKVDelete is DELETE /v1/kv/{namespace}/{key...}; a missing key is
// not an error.
func (n *Node) handleKVDelete(w http.ResponseWriter, r *http.Request) {
	if err := checkKV(r, r.PathValue("namespace"), true); err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	ns, key, _, err := kvTarget(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if r.URL.Query().Has("consistency") {
		writeError(w, badKV("consistency", "applies to reads, not to a delete"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	if err := kv.Delete(ctx, ns, key); err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// KVListPage is the answer of GET /v1/kv/{namespace}: a page of keys, as
// Workers KV's list answers it.
type KVListPage struct {
	Keys         []replication.KVKey `json:"keys"`
	ListComplete bool                `json:"list_complete"`
	Cursor       string              `json:"cursor,omitempty"`
}

// handleKVList is GET /v1/kv/{namespace}?prefix=&cursor=&limit=.
func (n *Node) handleKVList(w http.ResponseWriter, r *http.Request) {
	if err := checkKV(r, r.PathValue("namespace"), false); err != nil {
		writeError(w, err)
		return
	}
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	ns, _, c, err := kvTarget(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := replication.KVListOptions{Prefix: q.Get("prefix"), Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		if opts.Limit, err = strconv.Atoi(s); err != nil || opts.Limit < 1 {
			writeError(w, badKV("limit", "%s is not a number of keys from 1 to 1000", quote(s)))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	res, err := kv.List(ctx, ns, opts, c)
	if err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	page := KVListPage{Keys: res.Keys, ListComplete: res.ListComplete, Cursor: res.Cursor}
	if page.Keys == nil {
		page.Keys = []replication.KVKey{}
	}
	n.writeHeldJSON(w, r, http.StatusOK, page)
}

// handleGroups is GET /v1/groups: the status of the store's Raft groups.
func (n *Node) handleGroups(w http.ResponseWriter, r *http.Request) {
	if n.groups == nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "no_kv", msg: "this node has no replicated KV store, so no Raft groups"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	gs, err := n.groups.Groups(ctx)
	if err != nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "reading the groups' status: " + err.Error()})
		return
	}
	if gs == nil {
		gs = []replication.GroupInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": n.id.Name, "groups": gs})
}

// paceKVWrite waits for n bytes' turn in the KV write pace of r's token,
// if it is not an administrator's: its writes through the API and MCP are
// paced as its Workers' are (grantedHost).
func (n *Node) paceKVWrite(ctx context.Context, r *http.Request, size int) error {
	c := callerOf(r)
	if c.tok == nil || c.tok.Grants.Admin {
		return nil
	}
	if err := n.kvPace.wait(ctx, "kv "+tenantOf(c.tok, cacheScope(&c.tok.Grants)), size); err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "KV writes of this token are paced: " + err.Error()}
	}
	return nil
}
