package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// Revocation (docs/security.md, "Revocation").
//
// A token with an ID (policy.Token.ID, set by MintRevocableTokenFile for
// `warren token create`) is revoked by writing its ID to the reserved KV namespace
// warren.revoked, replicated like any key: POST /v1/tokens/revoke, `warren
// token revoke`. Each entry expires with the token it revokes (and the
// clock skew), so the list holds only tokens that would still be valid.
//
// Every node checks every call's token against the list: the API's calls
// and the forward frames of its peers. It checks against a copy in memory,
// a map lookup: a call never waits for the store while the copy is younger
// than revokedFresh, a call that finds it older starts a read in the
// background, and only a call that finds it older than revokedStale (a node
// that was idle) waits for one, at most revokedWait. A node that read the
// list once and then could not for revokedMaxStale (cut off from the
// store) refuses tokens with IDs (503) rather than honour one that may have
// been revoked meanwhile. A node that never could read it (a mesh whose
// KV groups are still being placed, a node started while cut off) honours
// them: it knows of no revocation. A node that does not know the groups'
// placement yet (a fresh mesh's first seconds, until its meta group has a
// leader) does not try: calls do not wait for a read that cannot end.
// Tokens without an ID (those the CLI and nodes mint for themselves) are
// never looked up, and a node whose callers use none never reads the list.

const (
	// revokedNS holds the revocations, by token ID.
	revokedNS = ReservedKVPrefix + "revoked"
	// revokedFresh is how long a copy of the list serves without a read;
	// revokedStale how old it may be before a call waits for a read. A
	// revocation takes effect on every node within about revokedStale
	// (plus a replica's lag).
	revokedFresh = 500 * time.Millisecond
	revokedStale = 2 * time.Second
	// revokedMaxStale is how long a node honours tokens with IDs while it
	// cannot read the list.
	revokedMaxStale = 30 * time.Second
	// revokedReadTimeout bounds one read of the list; revokedWait how long
	// a call waits for one.
	revokedReadTimeout = 2 * time.Second
	revokedWait        = 500 * time.Millisecond
)

// maxRevocations bounds the revocations POST /v1/tokens/revoke makes (a
// variable for the tests); a node reads a list of up to revocationsSlack
// more, which revocations made at once on several nodes may add.
var maxRevocations = 100_000

const revocationsSlack = 1000

// Revocation is one entry of the list.
type Revocation struct {
	// ID is the revoked token's ID; Name its name, if known.
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Expiry is when the token expires (unix seconds; 0 unknown): the entry
	// goes then.
	Expiry int64 `json:"exp,omitempty"`
	// RevokedAt is when it was revoked (unix seconds), RevokedBy the name
	// of the revoker's token.
	RevokedAt int64  `json:"revokedAt"`
	RevokedBy string `json:"revokedBy"`
	// Workers, in the answer to a revocation, are the Workers the token
	// deployed: suspended with it, and its entry kept past its expiry
	// (Pinned) so that they stay so. Not stored.
	Workers []string `json:"workers,omitempty"`
	// Pinned: the entry stays on the list after the token's expiry,
	// since Workers it deployed depend on it.
	Pinned bool `json:"pinned,omitempty"`
}

// isRevoked says whether id is on this node's copy of the list; it never
// waits for a read. It serves the calls of deployed Workers, which present
// no token: their calls start a read of the list in the background only
// once the copy is older than revokedStale, not revokedFresh as calls with
// tokens do, so that a node serving public Workers alone reads the whole
// list every 2 s rather than twice a second.
func (n *Node) isRevoked(id string) bool {
	if n.kv == nil {
		return false
	}
	n.revoked.mu.Lock()
	defer n.revoked.mu.Unlock()
	n.refreshRevocations(revokedStale)
	_, ok := n.revoked.ids[id]
	return ok
}

// refreshRevocations starts a read of the list if the copy is older than
// age and none is under way, and returns the read under way (nil if
// none). The caller holds n.revoked.mu.
func (n *Node) refreshRevocations(age time.Duration) chan struct{} {
	rv := &n.revoked
	// A store that failed is asked again at the pace of a fresh copy, not
	// on every call.
	if time.Since(rv.read) >= age && rv.busy == nil && time.Since(rv.tried) >= revokedFresh {
		rv.busy = make(chan struct{})
		go n.readRevocations(rv.busy)
	}
	return rv.busy
}

// revocations is a node's copy of the list.
type revocations struct {
	mu    sync.Mutex
	ids   map[string]struct{}
	read  time.Time     // when ids was read; zero: never
	tried time.Time     // when the last read ended, well or not
	busy  chan struct{} // closed when the read under way ends; nil: none
	err   error         // the last read's error
	// recent are the IDs this node revoked lately, and when: a read
	// under way may have listed before their entries were written (or
	// from a lagging replica), so each read's copy keeps them for
	// revokedMaxStale.
	recent map[string]time.Time
	// room serializes this node's revocations, from counting the list
	// to writing the entry: revocations sent at once each counted the
	// list before any wrote, and overran its bound.
	room sync.Mutex
}

// errRevoked is a revoked token's refusal.
var errRevoked = errors.New("token revoked")

// errNotPlaced is a read of the list before this node knows where the
// store's groups are.
var errNotPlaced = errors.New("the KV store has no placement of its groups yet")

// errTooManyRevocations is a list longer than maxRevocations.
var errTooManyRevocations = errors.New("the list is longer than a node reads")

// checkRevoked refuses a token that is revoked, or that has an ID while
// this node cannot read the list. A token without an ID passes at once.
func (n *Node) checkRevoked(ctx context.Context, tok *policy.Token) error {
	if tok == nil || tok.ID == "" || n.kv == nil {
		return nil
	}
	rv := &n.revoked
	rv.mu.Lock()
	age := time.Since(rv.read)
	busy := n.refreshRevocations(revokedFresh)
	// A call waits for a read only when the store answered the last one:
	// while it fails, calls go on with the copy (up to revokedMaxStale)
	// instead of each waiting for a timeout.
	wait := age >= revokedStale && busy != nil && rv.err == nil
	rv.mu.Unlock()
	if wait {
		t := time.NewTimer(revokedWait)
		select {
		case <-busy:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("checking the revocation list: %w", ctx.Err())
		}
		t.Stop()
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if _, ok := rv.ids[tok.ID]; ok {
		return fmt.Errorf("%w: %s (id %s)", errRevoked, quote(tok.Name), tok.ID)
	}
	if !rv.read.IsZero() && time.Since(rv.read) >= revokedMaxStale {
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable",
			msg: fmt.Sprintf("this node cannot read the token revocation list (%v); it refuses tokens that could be revoked until it can", rv.err)}
	}
	return nil
}

// readRevocations reads the whole list into n.revoked and closes done.
func (n *Node) readRevocations(done chan struct{}) {
	// The node's own read, one at a time: it does not wait behind the
	// lists of clients, who could otherwise keep it from ever ending, and
	// the node refusing every token with an ID.
	ids, err := n.listRevocations(replication.OwnList(context.Background()), nil)
	rv := &n.revoked
	rv.mu.Lock()
	if err == nil {
		set := make(map[string]struct{}, len(ids))
		for _, r := range ids {
			set[r.ID] = struct{}{}
		}
		for id, at := range rv.recent {
			if time.Since(at) >= revokedMaxStale {
				delete(rv.recent, id)
			} else {
				set[id] = struct{}{}
			}
		}
		rv.ids, rv.read = set, time.Now()
	} else if rv.err == nil && !errors.Is(err, errNotPlaced) {
		n.log.Warn("reading the token revocation list", "err", err)
	}
	rv.err, rv.tried = err, time.Now()
	rv.busy = nil
	rv.mu.Unlock()
	close(done)
}

// listRevocations reads the list (eventual: the nearest replica), from the
// keys' metadata; each is passed to each, if set, else collected.
func (n *Node) listRevocations(ctx context.Context, each func(Revocation)) ([]Revocation, error) {
	kv, err := n.kvStore()
	if err != nil {
		return nil, err
	}
	// Without the groups' placement a read would wait for it until its
	// timeout, and every call meanwhile for revokedWait (a fresh mesh's
	// first seconds: each call took half a second). It fails at once
	// instead, and the calls go on, as with any store that cannot answer.
	if p, ok := kv.(interface{ Placed() bool }); ok && !p.Placed() {
		return nil, errNotPlaced
	}
	ctx, cancel := context.WithTimeout(ctx, revokedReadTimeout)
	defer cancel()
	var out []Revocation
	cursor := ""
	for count := 0; ; {
		page, err := kv.List(ctx, revokedNS, replication.KVListOptions{Cursor: cursor}, replication.Eventual)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", revokedNS, err)
		}
		for _, k := range page.Keys {
			r := Revocation{ID: k.Name}
			_ = json.Unmarshal(k.Metadata, &r) // the ID is the key, whatever the metadata says
			r.ID = k.Name
			if each != nil {
				each(r)
			} else {
				out = append(out, r)
			}
			count++
		}
		if count > maxRevocations+revocationsSlack {
			return nil, fmt.Errorf("listing %s: more than %d entries: %w", revokedNS, maxRevocations+revocationsSlack, errTooManyRevocations)
		}
		if page.ListComplete || page.Cursor == "" {
			return out, nil
		}
		cursor = page.Cursor
	}
}

// revokeRequest is the body of POST /v1/tokens/revoke: the token itself,
// or its ID (and expiry, if known).
type revokeRequest struct {
	Token  string `json:"token,omitempty"`
	ID     string `json:"id,omitempty"`
	Expiry int64  `json:"exp,omitempty"`
}

// maxRevokeBody caps the body of POST /v1/tokens/revoke;
// maxRevocationExpiry bounds its exp (the end of 9999, unix seconds).
const (
	maxRevokeBody       = 16 << 10
	maxRevocationExpiry = 253402300799
)

// parseRevoke reads and checks a POST /v1/tokens/revoke body: the
// revocation it asks for, or a 400 saying what is wrong. A token is
// verified with key, at any time (an expired one may be revoked too).
func parseRevoke(body io.Reader, key []byte) (Revocation, error) {
	bad := func(format string, args ...any) error {
		return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req revokeRequest
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Revocation{}, &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("the revoke request exceeds %d bytes", maxRevokeBody)}
		}
		return Revocation{}, bad("decoding the revoke request: %v", err)
	}
	if err := readToEnd(dec); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Revocation{}, &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("the revoke request exceeds %d bytes", maxRevokeBody)}
		}
		return Revocation{}, bad("%v after the revoke request", err)
	}
	switch {
	case req.Token != "" && (req.ID != "" || req.Expiry != 0):
		return Revocation{}, bad("give the token or its id (and exp), not both")
	case req.Token != "":
		tok, err := policy.VerifyToken(key, req.Token)
		if err != nil {
			return Revocation{}, bad("token: %v", err)
		}
		if tok.ID == "" {
			return Revocation{}, bad("the token has no id: it cannot be revoked before it expires at %s (rotate the mesh secret to revoke every token)",
				time.Unix(tok.Expiry, 0).UTC().Format(time.RFC3339))
		}
		exp := tok.Expiry
		if exp > maxRevocationExpiry {
			// Its signer may have given it any exp: past 9999 it is
			// revoked for good, as by id without exp. Kept until then,
			// with the clock skew added, an exp near 2^63 overflowed (the
			// entry went after 2 minutes) and one past 2^53 was more than
			// the store keeps (the revocation failed).
			exp = 0
		}
		return Revocation{ID: tok.ID, Name: shortName(tok.Name), Expiry: exp}, nil
	case req.ID != "":
		if err := policy.ValidateTokenID(req.ID); err != nil {
			return Revocation{}, bad("id: %v", err)
		}
		if req.Expiry < 0 || req.Expiry > maxRevocationExpiry {
			return Revocation{}, bad("exp: %d is not a time from 1970 to 9999 in unix seconds (0: never)", req.Expiry)
		}
		return Revocation{ID: req.ID, Expiry: req.Expiry}, nil
	}
	return Revocation{}, bad("give the token to revoke, or its id")
}

// shortName cuts a token's name for a revocation entry, which travels as
// a key's metadata (at most 1 KiB): at most maxRevocationName bytes, on a
// character boundary.
func shortName(s string) string {
	if len(s) <= maxRevocationName {
		return s
	}
	cut := maxRevocationName
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// maxRevocationName bounds each name in a revocation entry.
const maxRevocationName = 64

// handleRevoke revokes a token (admin): its ID goes to the list, to expire
// with the token. A token without an ID cannot be revoked (400).
func (n *Node) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "revoking a token"); err != nil {
		writeError(w, err)
		return
	}
	clock := n.newBodyClock(w, r)
	rev, err := parseRevoke(http.MaxBytesReader(w, clock, maxRevokeBody), n.tokenKey)
	if err != nil {
		if clock.late {
			err = clock.slowError()
		}
		writeError(w, err)
		return
	}
	clock.end()
	rev.RevokedAt, rev.RevokedBy = time.Now().Unix(), shortName(callerOf(r).tok.Name)
	kv, err := n.kvStore()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvAPITimeout)
	defer cancel()
	n.revoked.room.Lock()
	if err := n.revocationRoom(ctx, rev.ID); err != nil {
		n.revoked.room.Unlock()
		writeError(w, err)
		return
	}
	// The revocation takes effect first; then the Workers the token
	// deployed, suspended with it, pin its entry past the token's expiry
	// for as long as they are not deployed again. A deploy by the token
	// reads the entry after writing its deployment (pinRevoked): so either
	// the listing here sees the deployment, or the deploy sees the entry,
	// and the entry is pinned whichever came first.
	err = n.putRevocation(ctx, kv, rev)
	n.revoked.room.Unlock()
	if err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	// This node honours it at once; the others within revokedStale.
	n.revoked.mu.Lock()
	if n.revoked.ids == nil {
		n.revoked.ids = map[string]struct{}{}
	}
	n.revoked.ids[rev.ID] = struct{}{}
	if n.revoked.recent == nil {
		n.revoked.recent = map[string]time.Time{}
	}
	n.revoked.recent[rev.ID] = time.Now()
	n.revoked.mu.Unlock()
	workers, err := n.deployedBy(ctx, kv, rev.ID)
	if err != nil {
		// Not knowing, keep the entry past its expiry, to be safe.
		n.log.Warn("listing the deployments after a revocation; its entry is kept past the token's expiry", "id", rev.ID, "err", err)
	}
	if err != nil || len(workers) > 0 {
		rev.Pinned = true
		if err := n.putRevocation(ctx, kv, rev); err != nil {
			writeError(w, fmt.Errorf("the token is revoked, but keeping its entry past its expiry for the Workers it deployed failed (revoke it again): %w", kvAPIError(err)))
			return
		}
	}
	n.log.Info("token revoked", "id", rev.ID, "name", rev.Name, "by", rev.RevokedBy, "workersSuspended", workers)
	rev.Workers = workers
	writeJSON(w, http.StatusOK, rev)
}

// putRevocation stores rev on the list: until the token would expire,
// with the clock skew (the store keeps a key at least a minute), or for
// good when it is pinned or has no expiry.
func (n *Node) putRevocation(ctx context.Context, kv replication.KV, rev Revocation) error {
	rev.Workers = nil
	b, err := json.Marshal(rev)
	if err != nil {
		return err
	}
	opts := replication.KVPutOptions{Metadata: b}
	if rev.Expiry > 0 && !rev.Pinned {
		opts.Expiration = max(rev.Expiry+int64(policy.ClockSkew/time.Second), time.Now().Unix()+120)
	}
	return kv.Put(ctx, revokedNS, rev.ID, b, opts)
}

// pinRevoked pins the revocation of the token id, if there is one, past
// the token's expiry (a deploy by the token that raced its revocation:
// the Worker is suspended, and must stay so after the token expires). It
// reports whether the token is revoked.
func (n *Node) pinRevoked(ctx context.Context, kv replication.KV, id string) (bool, error) {
	v, err := kv.GetWithMetadata(ctx, revokedNS, id, replication.Strong)
	if errors.Is(err, replication.ErrKVNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var rev Revocation
	if err := json.Unmarshal(v.Metadata, &rev); err != nil || rev.ID != id {
		rev = Revocation{ID: id}
	}
	if v.Expiration != 0 || !rev.Pinned {
		rev.Pinned = true
		if err := n.putRevocation(ctx, kv, rev); err != nil {
			return true, err
		}
	}
	return true, nil
}

// revocationRoom refuses a new revocation when the list already holds
// maxRevocations: one more and no node could read it (and each would
// refuse every token with an ID once its copy grew too old). Revoking an
// ID on the list again is always allowed; a list that cannot be read now
// does not hold a revocation up.
func (n *Node) revocationRoom(ctx context.Context, id string) error {
	count, listed := 0, false
	_, err := n.listRevocations(ctx, func(r Revocation) {
		count++
		listed = listed || r.ID == id
	})
	if listed || err == nil && count < maxRevocations {
		return nil
	}
	if err == nil || errors.Is(err, errTooManyRevocations) {
		return &apiError{status: http.StatusInsufficientStorage, code: "full",
			msg: fmt.Sprintf("the revocation list holds %d tokens, the most it may; entries leave it as their tokens expire (revoke with exp, or rotate the mesh secret)", maxRevocations)}
	}
	n.log.Warn("counting the token revocation list before a revocation", "err", err)
	return nil
}

// handleRevoked lists the revocations (admin).
func (n *Node) handleRevoked(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "listing revoked tokens"); err != nil {
		writeError(w, err)
		return
	}
	list, err := n.listRevocations(r.Context(), nil)
	if err != nil {
		writeError(w, kvAPIError(err))
		return
	}
	if list == nil {
		list = []Revocation{}
	}
	n.writeHeldJSON(w, r, http.StatusOK, map[string]any{"revoked": list})
}

// RevokeToken revokes token (POST /v1/tokens/revoke; admin).
func (c *Client) RevokeToken(ctx context.Context, token string) (*Revocation, error) {
	var r Revocation
	return &r, c.do(ctx, http.MethodPost, "/v1/tokens/revoke", revokeRequest{Token: token}, &r)
}

// RevokeTokenID revokes the token whose ID is id, kept on the list until
// expiry (unix seconds; 0: for ever).
func (c *Client) RevokeTokenID(ctx context.Context, id string, expiry int64) (*Revocation, error) {
	var r Revocation
	return &r, c.do(ctx, http.MethodPost, "/v1/tokens/revoke", revokeRequest{ID: id, Expiry: expiry}, &r)
}

// RevokedTokens lists the revocations (GET /v1/tokens/revoked; admin).
func (c *Client) RevokedTokens(ctx context.Context) ([]Revocation, error) {
	var out struct {
		Revoked []Revocation `json:"revoked"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/tokens/revoked", nil, &out)
	return out.Revoked, err
}
