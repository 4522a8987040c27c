package replication

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/internal/kvsm"
	"github.com/warrenmesh/warren/replication/placement"
)

var _ KV = (*Cluster)(nil)

// Placed reports whether this node knows the mesh's placement of the
// groups (the meta group's view): until it does, no read or write can be
// routed, and each waits for it (or its deadline). A fresh mesh has none
// until its meta group elects its first leader, a few seconds.
func (c *Cluster) Placed() bool { return c.currentView() != nil }

// slotKey is what a KV key hashes on: its namespace and name.
func slotKey(ns, key string) string { return ns + "\x00" + key }

// groupOfKey is the data group that owns key of namespace ns.
func (c *Cluster) groupOfKey(ns, key string) placement.GroupID {
	return c.slots[placement.SlotOf(slotKey(ns, key))]
}

// withDeadline bounds ctx by d (kvDeadline for most calls) when it has
// no deadline.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// GetWithMetadata implements KV. A strong read goes to the key's group
// leader, which confirms with a quorum that it still leads before it
// answers; an eventual one answers from this node's replica when it has
// one.
func (c *Cluster) GetWithMetadata(ctx context.Context, ns, key string, cons Consistency) (KVValue, error) {
	if err := kvsm.ValidateNamespace(ns); err != nil {
		return KVValue{}, err
	}
	if err := kvsm.ValidateKey(key); err != nil {
		return KVValue{}, err
	}
	ctx, cancel := withDeadline(ctx, kvDeadline)
	defer cancel()
	gid := c.groupOfKey(ns, key)
	req := &rpcReq{Op: opGet, Group: gid.String(), NS: ns, Key: key, Eventual: cons == Eventual}
	resp, body, err := c.read(ctx, gid, req)
	if err != nil {
		return KVValue{}, c.kvErr(gid, err)
	}
	if resp.Value == nil {
		return KVValue{}, fmt.Errorf("%w: an answer without a value", ErrKVStorage)
	}
	v := *resp.Value
	v.Value = body
	if v.Value == nil {
		v.Value = []byte{}
	}
	return v, nil
}

// read routes a read: eventual ones to this node's replica if it has one.
func (c *Cluster) read(ctx context.Context, gid placement.GroupID, req *rpcReq) (*rpcResp, []byte, error) {
	if req.Eventual && c.replica(gid) != nil {
		resp, body, err := c.local(ctx, req, nil)
		if err == nil {
			return resp, body, nil
		}
	}
	return c.toLeader(ctx, gid, req, nil, false)
}

// Put implements KV.
func (c *Cluster) Put(ctx context.Context, ns, key string, value []byte, opts KVPutOptions) error {
	exp, err := kvsm.ValidatePut(ns, key, value, opts.Metadata, opts.Expiration, opts.ExpirationTTL, c.now())
	if err != nil {
		return err
	}
	id, deadline := newRequestID(time.Now())
	return c.write(ctx, c.groupOfKey(ns, key), kvsm.EncodePutOnce(id, deadline, ns, key, value, opts.Metadata, exp))
}

// Delete implements KV.
func (c *Cluster) Delete(ctx context.Context, ns, key string) error {
	if err := kvsm.ValidateNamespace(ns); err != nil {
		return err
	}
	if err := kvsm.ValidateKey(key); err != nil {
		return err
	}
	id, deadline := newRequestID(time.Now())
	return c.write(ctx, c.groupOfKey(ns, key), kvsm.EncodeDeleteOnce(id, deadline, ns, key))
}

// newRequestID draws the id that every attempt of one write carries: the
// state machine applies a command with a given id at most once, for
// kvsm.DedupWindow seconds from now.
func newRequestID(now time.Time) (id [16]byte, deadline int64) {
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("replication: no randomness for a request id: %v", err))
	}
	return id, now.Unix() + kvsm.DedupWindow
}

// Timing of a write's attempts. An attempt that gets no answer within
// attemptTimeout is given up and the write sent again (to the leader as
// then known): with its request id, a repeat of an applied write is
// skipped, so retrying cannot apply it twice. Retries stop at
// maxWriteTime, well inside the id's window (kvsm.DedupWindow), so that no
// attempt can still arrive once the id is forgotten.
const (
	attemptTimeout = 3 * time.Second
	maxWriteTime   = kvsm.DedupWindow * time.Second / 3
)

func (c *Cluster) write(ctx context.Context, gid placement.GroupID, cmd []byte) error {
	ctx, cancel := withDeadline(ctx, c.forward.writeDeadline(len(cmd)))
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, maxWriteTime)
	defer cancel2()
	done, err := c.forward.admit(ctx, c.m.Name(), len(cmd))
	if err != nil {
		return err
	}
	_, _, err = c.toLeader(ctx, gid, &rpcReq{Op: opApply, Group: gid.String()}, cmd, true)
	done(err == nil || errors.Is(err, errOutcomeUnknown))
	if err != nil {
		return c.kvErr(gid, err)
	}
	return nil
}

// isFinal reports an answer that asking again, or another replica, cannot
// change: a broken rule, a missing key, a failed store, a full disk.
func isFinal(err error) bool {
	return errors.Is(err, ErrKVInvalid) || errors.Is(err, ErrKVNotFound) || errors.Is(err, ErrKVStorage) || errors.Is(err, ErrKVFull)
}

// kvErr is the error a KV caller sees.
func (c *Cluster) kvErr(gid placement.GroupID, err error) error {
	if isFinal(err) {
		return err
	}
	// An unknown outcome stays visible through the wrap.
	return fmt.Errorf("%w: group %v: %w", ErrKVUnavailable, gid, err)
}

// List implements KV: each data group lists its part of the namespace,
// and the pages merge. Each group's part is read as cons asks; the page is
// not one snapshot of every group at once.
func (c *Cluster) List(ctx context.Context, ns string, opts KVListOptions, cons Consistency) (KVListResult, error) {
	if err := kvsm.ValidateNamespace(ns); err != nil {
		return KVListResult{}, err
	}
	limit := opts.Limit
	if limit == 0 {
		limit = kvsm.MaxListLimit
	}
	if limit < 0 || limit > kvsm.MaxListLimit {
		return KVListResult{}, &KVInvalidError{Field: "limit", Reason: fmt.Sprintf("%d is not in 1..%d", opts.Limit, kvsm.MaxListLimit), Status: 400}
	}
	if opts.Cursor != "" {
		if _, err := kvsm.CursorKey(opts.Cursor, opts.Prefix); err != nil {
			return KVListResult{}, err
		}
	}
	if len(opts.Prefix) > kvsm.MaxKeyLen {
		// No key starts with it. Sent to every group's leader, a prefix
		// past an RPC header's 1 MiB was refused by each peer, and the
		// list retried until its deadline.
		return KVListResult{Keys: []KVKey{}, ListComplete: true}, nil
	}
	ctx, cancel := withDeadline(ctx, kvDeadline)
	defer cancel()
	// A list gathers up to a page from every group (32 × 1000 keys of up
	// to 1.5 KiB with metadata: tens of MB at worst) before it merges
	// them: only a few run at once on a node. The node's own (OwnList)
	// do not wait behind its clients'.
	if ctx.Value(ownListKey{}) == nil {
		select {
		case c.lists <- struct{}{}:
			defer func() { <-c.lists }()
		case <-ctx.Done():
			return KVListResult{}, fmt.Errorf("%w: waiting for a turn to list: %w", ErrKVUnavailable, ctx.Err())
		}
	}
	groups := c.slots.Groups()
	pages := make([]KVListResult, len(groups))
	errs := make([]error, len(groups))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, gid := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			o := opts
			o.Limit = limit
			resp, _, err := c.read(ctx, gid, &rpcReq{Op: opList, Group: gid.String(), NS: ns, List: &o, Eventual: cons == Eventual})
			if err == nil && resp.List == nil {
				err = fmt.Errorf("%w: an answer without a list", ErrKVStorage)
			}
			if err != nil {
				errs[i] = c.kvErr(gid, err)
				return
			}
			pages[i] = *resp.List
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return KVListResult{}, err
		}
	}
	return mergePages(pages, opts.Prefix, limit)
}

// ownListKey marks a context of OwnList.
type ownListKey struct{}

// OwnList marks ctx's lists as the node's own, which skip the turns of
// lists (maxLists): clients' lists that keep every turn taken, from the
// API or from Workers' bindings, cannot hold them up past their deadline.
// Only for a list the node makes one at a time (the token revocation
// list, which every node must read every few seconds or refuse tokens).
func OwnList(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownListKey{}, true)
}

// mergePages merges the groups' pages of one list into one page. A group
// whose page is not complete may hold keys past its last one: the merged
// page stops at the smallest such key.
func mergePages(pages []KVListResult, prefix string, limit int) (KVListResult, error) {
	var bound string
	bounded := false
	var keys []KVKey
	for _, p := range pages {
		keys = append(keys, p.Keys...)
		if !p.ListComplete {
			last, err := kvsm.CursorKey(p.Cursor, prefix)
			if err != nil {
				return KVListResult{}, fmt.Errorf("%w: a group's cursor: %w", ErrKVStorage, err)
			}
			if !bounded || last < bound {
				bound, bounded = last, true
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	if bounded {
		n := sort.Search(len(keys), func(i int) bool { return keys[i].Name > bound })
		keys = keys[:n]
	}
	res := KVListResult{Keys: keys, ListComplete: !bounded}
	if len(keys) > limit {
		res.Keys, res.ListComplete = keys[:limit], false
		res.Cursor = kvsm.CursorAfter(prefix, keys[limit-1].Name)
	} else if bounded {
		res.Cursor = kvsm.CursorAfter(prefix, bound)
	}
	if res.Keys == nil {
		res.Keys = []KVKey{}
	}
	return res, nil
}

// leaderHint is where to send a request for gid first: the leader this
// node's replica knows, else the last leader learned, else a replica from
// the view (the attempt-th), else "".
func (c *Cluster) leaderHint(gid placement.GroupID, attempt int) string {
	if r := c.replica(gid); r != nil {
		if name, _ := r.g.Leader(); name != "" {
			return name
		}
	}
	c.mu.Lock()
	h := c.hints[gid]
	var rs []viewReplica
	if c.view != nil {
		rs = c.view.Groups[gid]
	}
	c.mu.Unlock()
	if h != "" && attempt == 0 {
		return h
	}
	if len(rs) > 0 {
		return rs[attempt%len(rs)].Name
	}
	return h
}

func (c *Cluster) setHint(gid placement.GroupID, name string) {
	c.mu.Lock()
	c.hints[gid] = name
	c.mu.Unlock()
}

// toLeader sends req to gid's leader, following redirects and retrying
// until ctx ends. A write (write set) carries a request id (Put, Delete),
// so it is retried after any failure, also one that may have reached a
// leader: the state machine skips a repeat of an applied id. Without the
// id, a retry could apply the write twice, the second time after other
// clients' writes that followed the first (porcupine found exactly that).
// When ctx ends after an attempt that may have reached a leader, the
// outcome is unknown, and the error says so.
func (c *Cluster) toLeader(ctx context.Context, gid placement.GroupID, req *rpcReq, body []byte, write bool) (*rpcResp, []byte, error) {
	var lastErr error
	unknown := false
	backoff := 2 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if c.isClosed() {
			// Nothing here will answer: no replica, no pipe, no mesh.
			if unknown {
				return nil, nil, fmt.Errorf("%w (an earlier attempt's; last: %w)", errOutcomeUnknown, errClusterClosed)
			}
			return nil, nil, errClusterClosed
		}
		target := c.leaderHint(gid, attempt)
		if target != "" {
			actx, acancel := ctx, context.CancelFunc(func() {})
			if write {
				actx, acancel = context.WithTimeout(ctx, c.forward.attemptTimeout(len(body)))
			}
			resp, rbody, sent, err := c.attempt(actx, target, req, body)
			acancel()
			if err == nil {
				c.setHint(gid, target)
				return resp, rbody, nil
			}
			lastErr = err
			var re *rpcError
			isRPC := errors.As(err, &re)
			switch {
			case isFinal(err):
				return nil, nil, err
			case isRPC && re.Code == codeNotLeader:
				if re.Leader != "" && re.Leader != target {
					c.setHint(gid, re.Leader)
					continue
				}
				c.setHint(gid, "")
			case isRPC && re.Code == codeBusy:
				// The leader waited for room as long as the attempt
				// allowed: asking again at once would send the body
				// again to wait again.
				if unknown {
					return nil, nil, fmt.Errorf("%w (an earlier attempt's; last: %w)", errOutcomeUnknown, err)
				}
				return nil, nil, err
			case isRPC && re.Code == codeUnknown:
				unknown = true
			case isRPC:
				c.setHint(gid, "")
			default: // the network: the request may have reached the leader
				unknown = unknown || (write && sent)
				c.setHint(gid, "")
			}

		} else if lastErr == nil {
			lastErr = fmt.Errorf("no replica of group %v is known yet", gid)
		}
		if !sleepCtx(ctx, backoff) {
			if unknown {
				return nil, nil, fmt.Errorf("%w (%w; last: %w)", errOutcomeUnknown, ctx.Err(), lastErr)
			}
			return nil, nil, fmt.Errorf("%w: %w (last: %w)", ErrKVUnavailable, ctx.Err(), lastErr)
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// sleepCtx waits d, or until ctx ends: false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attempt sends req to target, or serves it here when target is this
// node.
func (c *Cluster) attempt(ctx context.Context, target string, req *rpcReq, body []byte) (*rpcResp, []byte, bool, error) {
	if target == c.m.Name() {
		resp, rbody, err := c.local(ctx, req, body)
		return resp, rbody, true, err
	}
	return c.call(ctx, target, req, body)
}

// to sends req to one node (maybe this one), without retries.
func (c *Cluster) to(ctx context.Context, target string, req *rpcReq, body []byte) (*rpcResp, []byte, error) {
	resp, rbody, _, err := c.attempt(ctx, target, req, body)
	return resp, rbody, err
}

// local serves req on this node, with call's errors.
func (c *Cluster) local(ctx context.Context, req *rpcReq, body []byte) (*rpcResp, []byte, error) {
	resp, rbody := c.handle(ctx, c.m.Local(), req, body)
	if err := resp.err(c.m.Name()); err != nil {
		return resp, nil, err
	}
	return resp, rbody, nil
}

// handle serves one request on this node.
func (c *Cluster) handle(ctx context.Context, from mesh.Peer, req *rpcReq, body []byte) (*rpcResp, []byte) {
	if req.Op == opView {
		v := c.currentView()
		if r := c.replica(placement.Meta); r != nil {
			v = r.meta.current()
		}
		if v == nil {
			return &rpcResp{Code: codeUnavail, Error: "this node knows no view yet"}, nil
		}
		return &rpcResp{View: v}, nil
	}
	gid, ok := parseGroupID(req.Group)
	if !ok {
		return &rpcResp{Code: codeBadRequest, Error: fmt.Sprintf("no group %q", req.Group)}, nil
	}
	if req.Op == opCreate {
		if err := c.create(gid, req.Servers); err != nil {
			return c.errResp(err), nil
		}
		return &rpcResp{}, nil
	}
	if req.Op == opFailed {
		return c.handleFailed(from, gid), nil
	}
	r := c.replica(gid)
	if r == nil {
		if c.isStopped(gid) {
			return &rpcResp{Code: codeStopped, Error: fmt.Sprintf("%s's replica of group %v stopped and waits to be replaced", c.m.Name(), gid), Leader: c.hintOnly(gid)}, nil
		}
		return &rpcResp{Code: codeNoGroup, Error: fmt.Sprintf("%s runs no replica of group %v", c.m.Name(), gid), Leader: c.hintOnly(gid)}, nil
	}
	switch req.Op {
	case opStatus:
		return &rpcResp{Status: r.status()}, nil
	case opChange:
		if req.Change == nil {
			return &rpcResp{Code: codeBadRequest, Error: "change without a change"}, nil
		}
		cfg, err := c.changeLocal(r, req.Change)
		if err != nil {
			return c.errResp(err), nil
		}
		return &rpcResp{Config: cfg}, nil
	}
	if r.kv == nil {
		return &rpcResp{Code: codeBadRequest, Error: fmt.Sprintf("group %v holds no KV data", gid)}, nil
	}
	switch req.Op {
	case opApply:
		if !r.g.IsLeader() {
			return c.errResp(c.notLeader(r)), nil
		}
		if err := c.disk.admit(body); err != nil {
			return c.errResp(fmt.Errorf("node %s: %w", c.m.Name(), err)), nil
		}
		if err := kvsm.CheckDeadline(body, time.Now()); err != nil {
			c.log.Warn("refused a write: its request id's deadline is off this node's clock", "group", gid, "err", err)
			return c.errResp(fmt.Errorf("%w: node %s: %w", ErrKVUnavailable, c.m.Name(), err)), nil
		}
		done, err := c.lead.admit(ctx, c.m.Name(), len(body))
		if err != nil {
			return c.errResp(err), nil
		}
		v, err := r.g.Apply(ctx, body)
		done(err == nil || ctx.Err() != nil)
		if err != nil {
			if errors.Is(err, ErrNotLeader) {
				return c.errResp(c.notLeader(r)), nil
			}
			if errors.Is(err, raft.ErrEnqueueTimeout) {
				return c.errResp(fmt.Errorf("%w: %w", ErrKVUnavailable, err)), nil
			}
			return &rpcResp{Code: codeUnknown, Error: err.Error()}, nil
		}
		res, ok := v.(kvsm.Result)
		if !ok {
			return &rpcResp{Code: codeStorage, Error: fmt.Sprintf("unexpected result %T", v)}, nil
		}
		// res.Duplicate: an earlier attempt of this write applied it.
		// That is this attempt's success too.
		if res.Err != nil {
			if isInvalid(res.Err) {
				return c.errResp(res.Err), nil
			}
			// The entry is committed but this replica could not apply
			// it; another will, or this one after a restart.
			return &rpcResp{Code: codeUnknown, Error: res.Err.Error()}, nil
		}
		return &rpcResp{}, nil
	case opGet, opList:
		if !req.Eventual {
			if err := c.linearizable(ctx, r); err != nil {
				return c.errResp(err), nil
			}
		}
		now := c.now()
		if req.Op == opGet {
			// A large value takes its size from the node's budget before
			// it is copied, and holds it while anything refers to it.
			var taken int64
			var v kvsm.Value
			err := c.readStore(func() (err error) {
				v, err = r.kv.GetAdmitted(req.NS, req.Key, now, func(size int) error {
					var err error
					taken, err = c.values.take(ctx, size)
					return err
				})
				return err
			})
			if err != nil {
				c.values.give(taken)
			} else {
				c.values.hold(v.Value, taken)
			}
			if errors.Is(err, kvsm.ErrExpiredByClock) && !req.Eventual {
				if serr := c.settleExpiry(ctx, r, now); serr != nil {
					err = serr
				}
			}
			if err != nil {
				return c.errResp(err), nil
			}
			val := v.Value
			v.Value = nil
			return &rpcResp{Value: &v}, val
		}
		if req.List == nil {
			return &rpcResp{Code: codeBadRequest, Error: "list without options"}, nil
		}
		var l kvsm.ListResult
		err := c.readStore(func() (err error) {
			l, err = r.kv.List(req.NS, *req.List, now)
			return err
		})
		if err == nil && l.ExpiredByClock && !req.Eventual {
			err = c.settleExpiry(ctx, r, now)
		}
		if err != nil {
			return c.errResp(err), nil
		}
		return &rpcResp{List: &l}, nil
	}
	return &rpcResp{Code: codeBadRequest, Error: fmt.Sprintf("unknown op %q", req.Op)}, nil
}

func isInvalid(err error) bool { return errors.Is(err, kvsm.ErrInvalid) }

// settleExpiry records now in r's group (an expire command, which also
// removes what expired by it) before a strong read answers that a key
// expired by this leader's clock alone: once the group's floor passed the
// key's expiration, no later leader shows it again, however far behind its
// clock is. Reads that find one in flight wait for it and then check the
// floor; the command is proposed only while the floor is behind now.
func (c *Cluster) settleExpiry(ctx context.Context, r *replica, now time.Time) error {
	select {
	case r.settling <- struct{}{}:
		defer func() { <-r.settling }()
	case <-ctx.Done():
		return fmt.Errorf("%w: group %v: waiting to record the expiry of a key: %w", ErrKVUnavailable, r.id, ctx.Err())
	}
	if r.kv.Floor() >= now.Unix() {
		return nil
	}
	v, err := r.g.Apply(ctx, kvsm.EncodeExpire(now, kvsm.MaxExpireLimit))
	if err == nil {
		if res, ok := v.(kvsm.Result); ok && res.Err != nil {
			err = res.Err
		}
	}
	if err != nil {
		return fmt.Errorf("%w: group %v: recording the expiry of a key: %w", ErrKVUnavailable, r.id, err)
	}
	return nil
}

// hintOnly is the leader this node knows for a group it does not run.
func (c *Cluster) hintOnly(gid placement.GroupID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hints[gid]
}

// linearizable returns once a read of r's state machine sees every write
// acknowledged before it was called: r leads its group, has applied a
// barrier in its current term (so every entry of earlier terms is
// applied), and a quorum confirms it still leads (so no other leader has
// acknowledged a write it lacks).
func (c *Cluster) linearizable(ctx context.Context, r *replica) error {
	if _, err := c.barrier(ctx, r); err != nil {
		return err
	}
	rf := r.g.r
	// raft may never answer a VerifyLeader whose round a fault cut short
	// (seen: a strong read stuck 23 minutes under TestLinearizableUnderFaults),
	// so the read waits for it only as long as ctx allows; the goroutine
	// ends when raft answers, as in Group.await (at the latest when the
	// group shuts down: third_party/raft patch 0007).
	verified := make(chan error, 1)
	go func() { verified <- rf.VerifyLeader().Error() }()
	var err error
	select {
	case err = <-verified:
	case <-ctx.Done():
		return fmt.Errorf("replication: group %q: confirming leadership: %w", r.g.id, ctx.Err())
	}
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return c.notLeader(r)
		}
		return r.g.mapErr(err)
	}
	return nil
}

// barrier makes sure that r leads its group and has applied a barrier in
// its current term (so every entry of earlier terms is applied), and
// returns that term. A leader runs one barrier per term.
func (c *Cluster) barrier(ctx context.Context, r *replica) (uint64, error) {
	rf := r.g.r
	if rf.State() != raft.Leader {
		return 0, c.notLeader(r)
	}
	term := rf.CurrentTerm()
	if r.readyTerm.Load() != term {
		timeout := time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		r.g.wake() // a barrier is an entry
		if err := rf.Barrier(timeout).Error(); err != nil {
			// A barrier writes nothing a read depends on: a leader that lost
			// its office meanwhile is one the read must go past, like any
			// other that is not the leader.
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return 0, c.notLeader(r)
			}
			return 0, r.g.mapErr(err)
		}
		if rf.CurrentTerm() != term {
			return 0, fmt.Errorf("%w: the term changed", ErrKVUnavailable)
		}
		r.readyTerm.Store(term)
	}
	return term, nil
}

// status is the replica's view of its group.
func (r *replica) status() *replicaStatus {
	st := r.g.Status()
	// Applied is raft's: the state machine's own index counts commands
	// only, and would show a lag after every configuration entry.
	s := &replicaStatus{State: st.State, Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, Applied: st.AppliedIndex, Leader: st.Leader}
	if f := r.g.r.GetConfiguration(); f.Error() == nil {
		s.Config = configOf(f.Configuration())
	}
	return s
}

// groupsTTL is how long an answer of Groups is reused: each one asks every
// replica of every group (about a hundred requests on three nodes), and
// callers of GET /v1/groups must not be able to multiply that.
const groupsTTL = time.Second

// Groups implements the Groups interface: every group of the view, with
// the status its replicas report, and placement's verdict on it. Callers
// within groupsTTL of an answer share it; concurrent callers share one
// gathering.
func (c *Cluster) Groups(ctx context.Context) ([]GroupInfo, error) {
	c.gmu.Lock()
	if c.gcache != nil && time.Since(c.gcacheAt) < groupsTTL {
		out := c.gcache
		c.gmu.Unlock()
		return out, nil
	}
	wait := c.gwait
	if wait == nil {
		wait = make(chan struct{})
		c.gwait = wait
		c.gmu.Unlock()
		out, err := c.gatherGroups(ctx)
		c.gmu.Lock()
		if err == nil {
			c.gcache, c.gcacheAt = out, time.Now()
		}
		c.gerr, c.gwait = err, nil
		c.gmu.Unlock()
		close(wait)
		return out, err
	}
	c.gmu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.gmu.Lock()
	defer c.gmu.Unlock()
	if c.gerr != nil {
		return nil, c.gerr
	}
	return c.gcache, nil
}

// gatherGroups asks every replica of every group for its status.
func (c *Cluster) gatherGroups(ctx context.Context) ([]GroupInfo, error) {
	v := c.currentView()
	if v == nil {
		return nil, fmt.Errorf("%w: this node knows no view of the groups yet", ErrKVUnavailable)
	}
	ctx, cancel := withDeadline(ctx, kvDeadline)
	defer cancel()
	nodes, _ := nodesOf(c.m.Members())
	st := placement.State{Slots: c.slots, Nodes: nodes, Now: time.Now()}
	var ids []placement.GroupID
	for gid, rs := range v.Groups {
		ids = append(ids, gid)
		g := placement.Group{ID: gid}
		for _, r := range rs {
			g.Replicas = append(g.Replicas, placement.Replica{Node: placement.NodeID(r.Name), Voter: r.Voter, CaughtUp: true})
		}
		st.Groups = append(st.Groups, g)
	}
	slices.Sort(ids)
	_, statuses := placement.Plan(st, placement.Config{Grace: c.cfg.Grace})
	verdict := map[placement.GroupID]placement.GroupStatus{}
	for _, s := range statuses {
		verdict[s.Group] = s
	}
	// Ask every replica of every group at once.
	sts := make([][]*replicaStatus, len(ids))
	var wg sync.WaitGroup
	for i, gid := range ids {
		rs := v.Groups[gid]
		sts[i] = make([]*replicaStatus, len(rs))
		for j, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				resp, _, err := c.to(rctx, r.Name, &rpcReq{Op: opStatus, Group: gid.String()}, nil)
				var re *rpcError
				switch {
				case err == nil:
					sts[i][j] = resp.Status
				case errors.As(err, &re) && re.Code == codeStopped:
					sts[i][j] = &replicaStatus{State: stateStopped}
				}
			}()
		}
	}
	wg.Wait()
	out := make([]GroupInfo, len(ids))
	for i, gid := range ids {
		out[i] = groupInfo(gid, v.Groups[gid], sts[i], verdict[gid])
	}
	return out, nil
}

// groupInfo sums up one group from its replicas' answers (nil: none).
func groupInfo(gid placement.GroupID, rs []viewReplica, sts []*replicaStatus, verdict placement.GroupStatus) GroupInfo {
	g := GroupInfo{ID: gid.String(), Wanted: verdict.Wanted, Degraded: verdict.Degraded, Unavailable: verdict.Unavailable}
	var leader *replicaStatus
	for _, s := range sts {
		if s != nil && s.State == stateLeader && (leader == nil || s.Term > leader.Term) {
			leader = s
		}
	}
	for j, r := range rs {
		ri := ReplicaInfo{Node: r.Name, Voter: r.Voter}
		switch {
		case sts[j] == nil:
			ri.Unreachable = true
		case sts[j].State == stateStopped:
			ri.Stopped = true
		default:
			ri.Applied = sts[j].Applied
			if sts[j] == leader {
				ri.Leader = true
				g.Leader = r.Name
			}
		}
		g.Replicas = append(g.Replicas, ri)
	}
	if leader != nil {
		g.Term, g.CommitIndex = leader.Term, leader.CommitIndex
	} else {
		for _, s := range sts {
			if s != nil {
				g.Term, g.CommitIndex = max(g.Term, s.Term), max(g.CommitIndex, s.CommitIndex)
			}
		}
		g.Error = "no leader answered"
	}
	for j := range g.Replicas {
		if !g.Replicas[j].Unreachable && !g.Replicas[j].Stopped && g.CommitIndex > g.Replicas[j].Applied {
			g.Replicas[j].Lag = g.CommitIndex - g.Replicas[j].Applied
		}
	}
	return g
}

// Held lists, sorted, the groups whose members include this node in the
// meta leader's view (this node's own may lag: a node whose view is older
// than its replicas would look empty). A node being decommissioned may
// stop once it holds none: a replica placement removed may still run here
// for a while (until its group's leader confirms the removal, dropAfter),
// but its group no longer counts it.
func (c *Cluster) Held(ctx context.Context) ([]string, error) {
	var resp *rpcResp
	var err error
	// Until ctx ends: the meta group may be between leaders (its leader
	// may be the node retiring), or a connection stale (this node just
	// restarted).
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		if resp, err = c.metaView(ctx); err == nil {
			break
		}
		if !sleepCtx(ctx, backoff) {
			return nil, fmt.Errorf("%w: asking the meta leader for the view: %v", ErrKVUnavailable, err)
		}
	}
	me := c.m.Name()
	out := []string{}
	for gid := range resp.View.Groups {
		if resp.View.has(gid, me) {
			out = append(out, gid.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

// metaView asks the meta leader for its view, once.
func (c *Cluster) metaView(ctx context.Context) (*rpcResp, error) {
	leader := ""
	if st := c.leaderStatus(ctx, placement.Meta); st != nil {
		leader = st.Leader
	} else {
		// This node's own replica may not know the leader: one removed
		// from the meta group (a retiring node's, say) hears from it no
		// more. Ask the members.
		leader = c.askLeader(ctx, placement.Meta)
	}
	if leader == "" {
		return nil, errors.New("no leader of the meta group answers")
	}
	var resp *rpcResp
	var err error
	if leader == c.m.Name() {
		resp, _, err = c.local(ctx, &rpcReq{Op: opView}, nil)
	} else {
		resp, _, err = c.to(ctx, leader, &rpcReq{Op: opView}, nil)
	}
	if err != nil {
		return nil, err
	}
	if resp.View == nil {
		return nil, errors.New("the meta leader answered no view")
	}
	return resp, nil
}
