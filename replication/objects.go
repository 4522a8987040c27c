package replication

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/internal/kvsm"
	"github.com/warrenmesh/warren/replication/placement"
)

// Durable Object storage on the data groups.
//
// An object, named by its object key, belongs to the data group of the
// slot that placement.SlotOf gives for objectSlotKey(objectKey); its
// owner is that group's leader. The owner opens it (OpenObject) in its
// current term, after a barrier, and the term is the handle's epoch: every
// batch it commits carries the epoch, and the state machine applies a
// batch only in a log entry of that term. An owner that lost its office,
// even one that got it back since, can still run code but never commit:
// its batches fail with ErrStaleOwner and change nothing.

var (
	// ErrNotOwner: this node does not lead the object's group (the error is
	// a *NotOwnerError naming the leader when one is known), or lost its
	// office while opening or committing.
	ErrNotOwner = errors.New("replication: this node does not own the object")
	// ErrStaleOwner: a batch was refused because the handle's epoch is not
	// the term its log entry got: the owner lost its office (maybe only
	// for a while) since it opened the object. Nothing was written. Open
	// the object again (on its owner) and run the event again.
	ErrStaleOwner = kvsm.ErrStaleOwner
)

// NotOwnerError is the error of OpenObject on a node that does not own
// the object. errors.Is(err, ErrNotOwner) holds.
type NotOwnerError struct {
	ObjectKey string
	Group     string
	Leader    string // the owner's mesh name as this node knows it; "" if unknown
}

func (e *NotOwnerError) Error() string {
	if e.Leader == "" {
		return fmt.Sprintf("%v: group %s of the object has no leader known here", ErrNotOwner, e.Group)
	}
	return fmt.Sprintf("%v: group %s of the object is led by %s", ErrNotOwner, e.Group, e.Leader)
}

// Is makes a *NotOwnerError match ErrNotOwner.
func (e *NotOwnerError) Is(target error) bool { return target == ErrNotOwner }

// Types of object storage.
type (
	// ObjectBatch is one atomic group of writes to one object's storage:
	// DeleteAll first, then Puts, then Deletes, then Alarm (unix ms, 0
	// deletes it, nil leaves it). DeleteAll keeps the alarm.
	ObjectBatch = kvsm.ObjectBatch
	// ObjectPut is one put of an ObjectBatch.
	ObjectPut = kvsm.ObjectPut
	// ObjectListOptions select the keys of ObjectStore.List: Start
	// inclusive, StartAfter exclusive ("" = unset), End exclusive, Prefix,
	// Reverse, Limit (0 = none); keys compare as bytes.
	ObjectListOptions = kvsm.ObjectListOptions
	// ObjectEntry is one listed key and its value.
	ObjectEntry = kvsm.ObjectEntry
	// DueAlarm is an object whose alarm (unix ms) is due.
	DueAlarm = kvsm.DueAlarm
)

// Limits of object storage, checked by Commit (ErrKVInvalid) and again
// when a batch applies. A batch is bounded so that it fits one badger
// transaction.
const (
	MaxObjectKeyLen     = kvsm.MaxObjectKeyLen
	MaxStorageKeyLen    = kvsm.MaxStorageKeyLen
	MaxStorageValueLen  = kvsm.MaxStorageValueLen
	MaxObjectBatchBytes = kvsm.MaxObjectBatchBytes
	MaxObjectBatchKeys  = kvsm.MaxObjectBatchKeys
)

// objectSlotKey is what an object key hashes on for its slot. KV keys
// hash on namespace+"\x00"+key, and a namespace never holds \x01, so the
// two never coincide (not that sharing a slot would matter).
func objectSlotKey(objectKey string) string { return "\x01do\x00" + objectKey }

// groupOfObject is the data group that holds an object's storage.
func (c *Cluster) groupOfObject(objectKey string) placement.GroupID {
	return c.slots[placement.SlotOf(objectSlotKey(objectKey))]
}

// ObjectOwner returns the mesh name of the object's owner as this node
// knows it ("" if it knows none; FindObjectOwner asks), and whether it
// is this node. It does not wait and asks no one.
func (c *Cluster) ObjectOwner(objectKey string) (node string, local bool) {
	gid := c.groupOfObject(objectKey)
	if r := c.replica(gid); r != nil {
		name, _ := r.g.Leader()
		if name == "" {
			name = c.hintOnly(gid)
		}
		return name, r.g.IsLeader()
	}
	return c.hintOnly(gid), false
}

// FindObjectOwner returns the mesh name of the object's owner, asking the
// replicas of its group when this node knows none, until ctx ends.
func (c *Cluster) FindObjectOwner(ctx context.Context, objectKey string) (string, error) {
	if name, _ := c.ObjectOwner(objectKey); name != "" {
		return name, nil
	}
	gid := c.groupOfObject(objectKey)
	backoff := 5 * time.Millisecond
	for {
		if name := c.askLeader(ctx, gid); name != "" {
			c.setHint(gid, name)
			return name, nil
		}
		if !sleepCtx(ctx, backoff) {
			return "", fmt.Errorf("%w: no leader of group %v found: %w", ErrKVUnavailable, gid, ctx.Err())
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// askLeader asks every replica of gid in this node's view at once who
// leads it: a leader's own answer wins at once; otherwise, once all have
// answered (or ctx ends), a name the others gave. A peer the mesh holds
// dead or gone is neither asked nor taken for the leader: a follower names
// its old leader until it hears of a new one. "" if no one knows.
func (c *Cluster) askLeader(ctx context.Context, gid placement.GroupID) string {
	var names []string
	if v := c.currentView(); v != nil {
		for _, r := range v.Groups[gid] {
			names = append(names, r.Name)
		}
	}
	if h := c.hintOnly(gid); h != "" && !slices.Contains(names, h) {
		names = append(names, h)
	}
	gone := func(name string) bool {
		p, ok := c.m.Peer(name)
		return ok && (p.State == mesh.StateDead || p.State == mesh.StateLeft)
	}
	type answer struct{ leader, from string }
	answers := make(chan answer, len(names))
	asked := 0
	for _, name := range names {
		if name == c.m.Name() || gone(name) {
			continue
		}
		asked++
		go func() {
			resp, _, err := c.to(ctx, name, &rpcReq{Op: opStatus, Group: gid.String()}, nil)
			a := answer{from: name}
			if err == nil && resp.Status != nil {
				a.leader = resp.Status.Leader
			}
			answers <- a
		}()
	}
	named := ""
	for range asked {
		select {
		case a := <-answers:
			if a.leader == "" || gone(a.leader) {
				continue
			}
			if a.leader == a.from {
				return a.leader
			}
			named = a.leader
		case <-ctx.Done():
			return named
		}
	}
	return named
}

// ObjectOwnerMoved tells this node that was, the object's owner as it
// knew it, could not be reached or owns the object no more: next, if it
// named one, is the owner now; with none, the next call asks the object's
// group (FindObjectOwner). A node holding no replica of the group used to
// keep sending its calls to an owner that had died or moved, until KV
// traffic to the group taught it the new one.
func (c *Cluster) ObjectOwnerMoved(objectKey, was, next string) {
	gid := c.groupOfObject(objectKey)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case next != "":
		c.hints[gid] = next
	case c.hints[gid] == was:
		delete(c.hints, gid)
	}
}

// ObjectStore is the owner's handle on one object's storage, valid in one
// epoch. Its methods may be called concurrently; the caller orders an
// object's events.
type ObjectStore struct {
	c     *Cluster
	r     *replica
	key   string
	epoch uint64
}

// OpenObject opens objectKey's storage on its owner. On any other node it
// fails with a *NotOwnerError (wrapping ErrNotOwner) naming the owner if
// known. It runs a barrier if none ran in the current term yet, so the
// handle reads every write committed before, and the handle's Epoch is
// that term.
func (c *Cluster) OpenObject(ctx context.Context, objectKey string) (*ObjectStore, error) {
	if err := kvsm.ValidateObjectKey(objectKey); err != nil {
		return nil, err
	}
	gid := c.groupOfObject(objectKey)
	r := c.replica(gid)
	if r == nil || r.kv == nil {
		return nil, &NotOwnerError{ObjectKey: objectKey, Group: gid.String(), Leader: c.hintOnly(gid)}
	}
	notOwner := func() error {
		name, _ := r.g.Leader()
		return &NotOwnerError{ObjectKey: objectKey, Group: gid.String(), Leader: name}
	}
	if !r.g.IsLeader() {
		return nil, notOwner()
	}
	ctx, cancel := withDeadline(ctx, kvDeadline)
	defer cancel()
	term, err := c.barrier(ctx, r)
	if err != nil {
		var re *rpcError
		if errors.As(err, &re) && re.Code == codeNotLeader || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrLeadershipLost) {
			return nil, fmt.Errorf("%w (%w)", notOwner(), err)
		}
		return nil, fmt.Errorf("%w: opening object in group %v: %w", ErrKVUnavailable, gid, err)
	}
	if !r.g.IsLeader() {
		return nil, notOwner()
	}
	return &ObjectStore{c: c, r: r, key: objectKey, epoch: term}, nil
}

// Epoch is the term in which the handle was opened: its batches apply
// only in log entries of that term.
func (s *ObjectStore) Epoch() uint64 { return s.epoch }

// Key is the object key.
func (s *ObjectStore) Key() string { return s.key }

// Get returns the values of keys from this node's applied state; absent
// keys are absent from the map.
func (s *ObjectStore) Get(keys []string) (map[string][]byte, error) {
	if !s.c.enterRead() {
		return nil, errClusterClosed
	}
	defer s.c.readers.Done()
	return s.r.kv.ObjectGet(s.key, keys)
}

// List returns the entries opts selects from this node's applied state.
func (s *ObjectStore) List(opts ObjectListOptions) ([]ObjectEntry, error) {
	if !s.c.enterRead() {
		return nil, errClusterClosed
	}
	defer s.c.readers.Done()
	return s.r.kv.ObjectList(s.key, opts)
}

// Alarm returns the object's alarm (unix ms, 0 = none) from this node's
// applied state.
func (s *ObjectStore) Alarm() (int64, error) {
	if !s.c.enterRead() {
		return 0, errClusterClosed
	}
	defer s.c.readers.Done()
	return s.r.kv.ObjectAlarm(s.key)
}

// Commit replicates b as one log entry and returns once this node applied
// it: atomically, if the entry's term is the handle's epoch; else nothing
// is written and the error wraps ErrStaleOwner. Other errors: ErrKVInvalid
// (a limit broken; nothing proposed), ErrNotOwner (this node does not
// lead: nothing committed), ErrKVUnavailable without ErrKVOutcomeUnknown
// (not proposed), and ErrKVOutcomeUnknown (the batch may or may not
// apply: leadership was lost while it was in flight, ctx ended, or this
// replica failed to apply it). After any error but ErrKVInvalid the
// handle's owner should drop what it built on the batch.
func (s *ObjectStore) Commit(ctx context.Context, b ObjectBatch) error {
	return s.Start(ctx, b)(ctx)
}

// Start proposes b, as Commit does, and returns without waiting for it:
// the function it returns waits for the outcome and returns what Commit
// would. Batches started one after another (Start returned before the
// next Start was called) commit in that order, so an owner may start an
// object's next event's batch before the previous one committed. The
// returned function must be called (it may be called once); ctx bounds
// the proposal, the wait's context the wait.
func (s *ObjectStore) Start(ctx context.Context, b ObjectBatch) func(context.Context) error {
	if err := kvsm.ValidateObjectBatch(s.key, &b); err != nil {
		return func(context.Context) error { return err }
	}
	cmd := kvsm.EncodeObjectBatch(s.epoch, s.key, &b)
	if err := s.c.disk.admit(cmd); err != nil {
		return func(context.Context) error { return fmt.Errorf("node %s: %w", s.c.m.Name(), err) }
	}
	pctx, cancel := withDeadline(ctx, kvDeadline)
	f, err := s.r.g.propose(pctx, cmd)
	cancel()
	if err != nil {
		return func(context.Context) error { return fmt.Errorf("%w: %w", ErrKVUnavailable, err) }
	}
	return func(ctx context.Context) error {
		ctx, cancel := withDeadline(ctx, kvDeadline)
		defer cancel()
		err := s.outcome(s.r.g.await(ctx, f))
		if err == nil && b.Alarm != nil {
			select {
			case s.c.alarms <- struct{}{}:
			default:
			}
		}
		return err
	}
}

// outcome maps what applying a batch gave to Commit's error.
func (s *ObjectStore) outcome(v any, err error) error {
	if err != nil {
		switch {
		case errors.Is(err, ErrNotLeader):
			return fmt.Errorf("%w: %w", ErrNotOwner, err)
		case errors.Is(err, ErrLeadershipLost):
			return fmt.Errorf("%w: %w: %w", ErrKVOutcomeUnknown, ErrNotOwner, err)
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return fmt.Errorf("%w: %w", ErrKVUnavailable, err)
		}
		return fmt.Errorf("%w: %w: %w", ErrKVUnavailable, ErrKVOutcomeUnknown, err)
	}
	res, ok := v.(kvsm.Result)
	switch {
	case !ok:
		return fmt.Errorf("%w: %w: unexpected result %T", ErrKVOutcomeUnknown, ErrKVStorage, v)
	case res.Err == nil:
		return nil
	case errors.Is(res.Err, ErrStaleOwner), isInvalid(res.Err):
		return fmt.Errorf("replication: object batch: %w", res.Err)
	}
	// Committed, but this replica could not apply it (and stops): another
	// will, or this one after a restart.
	return fmt.Errorf("%w: %w", ErrKVOutcomeUnknown, res.Err)
}

// Verify confirms that this node still leads the object's group in the
// handle's epoch: a quorum heard from it after Verify was called.
// Concurrent calls on a node share one round of raft's VerifyLeader per
// group (a call joins the next round to start). It fails wrapping
// ErrNotOwner when this node does not lead, ErrStaleOwner when it leads
// in another term.
func (s *ObjectStore) Verify(ctx context.Context) error {
	rf := s.r.g.r
	stale := func() error {
		return fmt.Errorf("%w: the handle's epoch is %d, the term %d", ErrStaleOwner, s.epoch, rf.CurrentTerm())
	}
	if rf.State() != raft.Leader {
		return fmt.Errorf("%w: %w", ErrNotOwner, s.c.notLeader(s.r))
	}
	if rf.CurrentTerm() != s.epoch {
		return stale()
	}
	if err := s.r.verifier.verify(ctx, func() error { return rf.VerifyLeader().Error() }); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			return fmt.Errorf("%w: %w", ErrNotOwner, s.c.notLeader(s.r))
		case ctx.Err() != nil:
			return fmt.Errorf("%w: %w", ErrKVUnavailable, err)
		}
		return s.r.g.mapErr(err)
	}
	if rf.CurrentTerm() != s.epoch {
		return stale()
	}
	return nil
}

// DueAlarms returns up to limit objects whose alarm is at or before now,
// earliest first, from the applied state of the groups this node leads.
// Before running an alarm, open the object (which confirms ownership and
// catches up the state) and read its Alarm again.
func (c *Cluster) DueAlarms(now time.Time, limit int) []DueAlarm {
	if !c.enterRead() {
		return nil
	}
	defer c.readers.Done()
	c.mu.Lock()
	var lead []*replica
	for _, r := range c.replicas {
		if r.kv != nil && r.g.IsLeader() {
			lead = append(lead, r)
		}
	}
	c.mu.Unlock()
	var out []DueAlarm
	for _, r := range lead {
		due, err := r.kv.DueAlarms(now.UnixMilli(), limit)
		if err != nil {
			c.log.Warn("reading due alarms", "group", r.id, "err", err)
			continue
		}
		out = append(out, due...)
	}
	slices.SortFunc(out, func(a, b DueAlarm) int {
		return cmp.Or(cmp.Compare(a.At, b.At), strings.Compare(a.ObjectKey, b.ObjectKey))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// NextAlarm is the time of the earliest alarm in the groups this node
// leads (due or not), and whether there is one.
func (c *Cluster) NextAlarm() (time.Time, bool) {
	if !c.enterRead() {
		return time.Time{}, false
	}
	defer c.readers.Done()
	c.mu.Lock()
	var lead []*replica
	for _, r := range c.replicas {
		if r.kv != nil && r.g.IsLeader() {
			lead = append(lead, r)
		}
	}
	c.mu.Unlock()
	if c.readHook != nil {
		c.readHook()
	}
	var next int64
	found := false
	for _, r := range lead {
		at, ok, err := r.kv.NextAlarm()
		if err != nil {
			c.log.Warn("reading the next alarm", "group", r.id, "err", err)
			continue
		}
		if ok && (!found || at < next) {
			next, found = at, true
		}
	}
	return time.UnixMilli(next), found
}

// AlarmsChanged receives a value after an object batch that set an alarm
// committed on this node (its owner), and when this node has come to lead
// a data group (its alarms are this node's to run from then on), so that
// the caller of DueAlarms need not look more often than the next alarm's
// time.
func (c *Cluster) AlarmsChanged() <-chan struct{} { return c.alarms }

// verifier shares raft's VerifyLeader among concurrent callers: a caller
// joins the next round, which starts when the round in flight (if any)
// has ended, so that every caller's round began after it called.
type verifier struct {
	mu      sync.Mutex
	running bool
	next    *verifyRound
	rounds  atomic.Uint64 // VerifyLeader calls (tests)
}

type verifyRound struct {
	done    chan struct{}
	err     error
	waiters int // callers that joined (tests)
}

// verify runs fn (raft's VerifyLeader) in a round that starts after it
// was called, shared with other callers, and returns its error.
func (v *verifier) verify(ctx context.Context, fn func() error) error {
	v.mu.Lock()
	if v.next == nil {
		v.next = &verifyRound{done: make(chan struct{})}
	}
	rd := v.next
	rd.waiters++
	if !v.running {
		v.running = true
		go v.run(fn)
	}
	v.mu.Unlock()
	select {
	case <-rd.done:
		return rd.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs rounds while callers wait for one.
func (v *verifier) run(fn func() error) {
	for {
		v.mu.Lock()
		rd := v.next
		v.next = nil
		if rd == nil {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		v.rounds.Add(1)
		rd.err = fn()
		close(rd.done)
	}
}

// ObjectGroup names the data group that holds an object's storage.
func (c *Cluster) ObjectGroup(objectKey string) string { return c.groupOfObject(objectKey).String() }

// MoveObjects hands the leadership of data group gid, and so the
// ownership of its objects, to its voter on node toNode. This node must
// lead the group.
func (c *Cluster) MoveObjects(gid, toNode string) error {
	id, ok := parseGroupID(gid)
	if !ok || id == placement.Meta {
		return fmt.Errorf("replication: %q is not a data group", gid)
	}
	r := c.replica(id)
	if r == nil {
		return fmt.Errorf("replication: group %s: %w", gid, ErrNotLeader)
	}
	return r.g.TransferTo(toNode)
}
