package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// Durable Objects on a node.
//
// An object lives on the leader of the data group its key hashes to (its
// owner). A call from anywhere in the mesh, a stub's fetch or RPC method,
// goes to the owner (objectCall.route): run here when this node owns the
// object, sent over ProtoObject otherwise. A node that turns out not to
// own it answers so, naming the owner it knows, and the caller tries
// there, until the call's deadline.
//
// On the owner each object has an actor: a mailbox that lets one event
// run at a time, the storage handle of the owner's epoch (opened with a
// barrier, so that it reads every write committed before), and an output
// gate. An event runs in the object's live instance (isolate.Runtime
// keeps it across events); the writes it made come back as one batch,
// which the gate commits to Raft with the epoch before the event's reply
// leaves. The next event may run meanwhile: the gate commits the batches
// of several events as one entry, and a read of a key the instance has
// not cached waits until every earlier batch committed. A reply with no
// writes leaves once the owner confirmed it still leads (one check shared
// by the replies waiting). A batch that fails to commit fails its reply
// and every later one of the object, and drops the live instance: its
// memory may hold what was never committed.

const (
	// objectCallTimeout bounds a call to an object that its caller did
	// not bound sooner: finding the owner through a failover included.
	objectCallTimeout = 30 * time.Second
	// objectIdle is how long an actor without events is kept.
	objectIdle = time.Minute
	// maxObjectQueue bounds the events waiting for one object: beyond it
	// a call fails at once rather than queueing for ever.
	maxObjectQueue = 1024
	// maxActors bounds the objects a node keeps actors for: a flood of
	// new ids (newUniqueId in a loop) is refused past it, not stored.
	maxActors = 100_000
	// maxActorsPerWorker bounds the actors of one deployed Worker's
	// objects, so that one Worker cannot hold all of them.
	maxActorsPerWorker = maxActors / 4
	// commitTimeout bounds one commit of the output gate. It is not the
	// caller's: a commit abandoned halfway has an unknown outcome.
	commitTimeout = 10 * time.Second
)

// errNoObjects is the answer of a node without replication.
var errNoObjects = errors.New("Durable Objects need the replicated store, which this node does not run") //lint:ignore ST1005 proper noun

// objectCall is one call to an object: an HTTP request or an RPC method.
type objectCall struct {
	Ref     isolate.ObjectRef `json:"ref"`
	Kind    string            `json:"kind"` // "fetch", "call"
	Request *isolate.Request  `json:"request,omitempty"`
	Method  string            `json:"method,omitempty"`
	Args    []byte            `json:"args,omitempty"`
	// Chain lists the objects whose events led to this call, outermost
	// first: an object that is one of them would wait for itself.
	Chain []string `json:"chain,omitempty"`
	// Depth is the depth of the Worker invocation that made the call
	// (depthOf): the object's event runs at it, so that its fetches
	// count on from there (WorkerDepthHeader).
	Depth int `json:"depth,omitempty"`
}

// maxObjectChain bounds how deep calls between objects may nest.
const maxObjectChain = 16

// chainKey carries the objects whose events a context runs under.
type chainKey struct{}

// chainOf is the chain of objects ctx runs under.
func chainOf(ctx context.Context) []string {
	c, _ := ctx.Value(chainKey{}).([]string)
	return c
}

// checkChain refuses a call to key from within an event of key itself
// (events run one at a time: it would wait for itself until its
// deadline), and chains deeper than maxObjectChain. An entry of the chain
// is an object's key, or its chainHash when it came in an
// ObjectChainHeader (the object fetched a Worker's URL).
func checkChain(chain []string, key string) error {
	if len(chain) >= maxObjectChain {
		return fmt.Errorf("calls between Durable Objects nest more than %d deep", maxObjectChain)
	}
	hashed := ""
	for _, k := range chain {
		if len(k) == chainHashLen && hashed == "" {
			hashed = chainHash(key)
		}
		if k == key || k == hashed {
			ref, _ := parseObjectKey(key)
			how := ""
			if k == hashed {
				how = " (through a fetch of a Worker's URL)"
			}
			return fmt.Errorf("the Durable Object %s.%s %s called itself%s while handling an event: it handles one event at a time, so the call would wait for itself", ref.Worker, ref.Class, ref.ID, how)
		}
	}
	return nil
}

// ObjectChainHeader is the header of a fetch that an object's event (or a
// call that came in with this header) makes through egress: the
// chainHash of each object of its chain, outermost first, separated by
// commas. A Worker's invocation whose request carries it runs under that
// chain, so that its calls to one of those objects, which would wait for
// the event that led to them, fail at once (a fetch of a Worker's own URL
// that routes back to the object), and the chain's depth stays bounded
// across such fetches. The hashes name no object to whoever else gets it.
const ObjectChainHeader = "Warren-Object-Chain"

// chainHashLen is the length of a chainHash, which no object key has (a
// key holds two NULs and an id of 64 characters).
const chainHashLen = 32

// chainHash is what stands for an object's key in an ObjectChainHeader:
// 32 hex digits of a SHA-256 of it.
func chainHash(key string) string {
	sum := sha256.Sum256([]byte("warren object chain\x00" + key))
	return hex.EncodeToString(sum[:chainHashLen/2])
}

// chainHeader is the value of ObjectChainHeader for a fetch made under
// chain ("" for none).
func chainHeader(chain []string) string {
	hs := make([]string, len(chain))
	for i, k := range chain {
		if len(k) != chainHashLen {
			k = chainHash(k)
		}
		hs[i] = k
	}
	return strings.Join(hs, ",")
}

// parseChainHeader is the chain an ObjectChainHeader value stands for: nil
// when it is not one (empty, or not at most maxObjectChain hashes of
// lower-case hex). A client may send any value: it can only make its own
// call's calls to objects fail.
func parseChainHeader(v string) []string {
	if v == "" || len(v) > maxObjectChain*(chainHashLen+1) {
		return nil
	}
	hs := strings.Split(v, ",")
	if len(hs) > maxObjectChain {
		return nil
	}
	for i, h := range hs {
		h = strings.TrimSpace(h)
		if len(h) != chainHashLen || strings.Trim(h, "0123456789abcdef") != "" {
			return nil
		}
		hs[i] = h
	}
	return hs
}

// objectReply is what a call gave: exactly one of its fields set, or none
// (an RPC method that returned undefined).
type objectReply struct {
	Response *isolate.Response `json:"response,omitempty"`
	Value    []byte            `json:"value,omitempty"`
	// Thrown is the exception the object's code threw, rethrown at the
	// caller.
	Thrown *isolate.ObjectError `json:"thrown,omitempty"`
	// Error is any other failure (a limit, storage, the owner's loss).
	Error string `json:"error,omitempty"`
	// NotOwner says the node does not own the object; Owner names the one
	// it believes does ("" when it knows none).
	NotOwner bool   `json:"notOwner,omitempty"`
	Owner    string `json:"owner,omitempty"`
}

// objects holds the actors of the objects this node owns.
type objects struct {
	n      *Node
	mu     sync.Mutex
	actors map[string]*actor
	// perWorker counts the actors by the deployed Worker of their objects.
	perWorker map[string]int
	demand    *demand // where the calls come from
	ot        objectTimings
	// pace paces each deployed Worker's storage writes (see writeRate).
	pace *writeRate
	// doubted holds the owners a call was lost to, until one answers a
	// probe (objects.forward).
	doubtMu sync.Mutex
	doubted map[string]bool
}

func newObjects(n *Node) *objects {
	ot := defaultObjectTimings
	o := &objects{n: n, actors: map[string]*actor{}, perWorker: map[string]int{}, demand: newDemand(ot), ot: ot, doubted: map[string]bool{}}
	var rate int64
	if n != nil {
		rate = n.cfg.ObjectWriteRate
	}
	o.pace = newPace(rate, defaultObjectWriteRate, defaultObjectWriteBurst)
	return o
}

// namespace is the isolate.DurableObjectNamespace of a binding.
type namespace struct {
	o *objects
	b isolate.DurableObjectBinding
}

// DurableObjects opens a binding's namespace; grants were checked when the
// binding was.
func (o *objects) namespace(b isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	if o == nil || o.n.cluster == nil {
		return nil, errNoObjects
	}
	return &namespace{o: o, b: b}, nil
}

func (ns *namespace) check(ref isolate.ObjectRef) error {
	if ref.Worker != ns.b.Worker || ref.Class != ns.b.Class {
		return fmt.Errorf("the id belongs to %s.%s, not to this namespace (%s.%s)", ref.Worker, ref.Class, ns.b.Worker, ns.b.Class)
	}
	return nil
}

func (ns *namespace) Fetch(ctx context.Context, ref isolate.ObjectRef, req *isolate.Request) (*isolate.Response, error) {
	if err := ns.check(ref); err != nil {
		return nil, err
	}
	rep := ns.o.route(ctx, &objectCall{Ref: ref, Kind: isolate.ObjectFetch, Request: req})
	if err := rep.err(); err != nil {
		return nil, err
	}
	if rep.Response == nil {
		return nil, errors.New("the Durable Object gave no response")
	}
	return rep.Response, nil
}

func (ns *namespace) Call(ctx context.Context, ref isolate.ObjectRef, method string, args []byte) ([]byte, error) {
	if err := ns.check(ref); err != nil {
		return nil, err
	}
	rep := ns.o.route(ctx, &objectCall{Ref: ref, Kind: isolate.ObjectCall, Method: method, Args: args})
	if err := rep.err(); err != nil {
		return nil, err
	}
	return rep.Value, nil
}

func (r *objectReply) err() error {
	switch {
	case r.Thrown != nil:
		return r.Thrown
	case r.Error != "":
		return errors.New(r.Error)
	case r.NotOwner:
		return errors.New("no node owns the Durable Object now (its group has no leader)")
	}
	return nil
}

// route takes a call to the object's owner, and on through a change of
// owner, until the call's deadline.
func (o *objects) route(ctx context.Context, c *objectCall) *objectReply {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, objectCallTimeout)
		defer cancel()
	}
	key := c.Ref.Key()
	if c.Chain == nil {
		c.Chain = chainOf(ctx)
	}
	c.Depth = max(c.Depth, depthOf(ctx))
	if err := checkChain(c.Chain, key); err != nil {
		return &objectReply{Error: err.Error()}
	}
	hint := ""
	wait := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		owner, local := o.n.cluster.ObjectOwner(key)
		if hint != "" && !local {
			owner = hint
		}
		if owner == "" {
			// This node holds no replica of the object's group: ask
			// those that do.
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			owner, _ = o.n.cluster.FindObjectOwner(fctx, key)
			cancel()
		}
		var rep *objectReply
		switch {
		case local || owner == o.n.id.Name:
			rep = o.runHere(ctx, c, o.n.id.Name)
		case owner != "":
			rep = o.forward(ctx, owner, c)
		default:
			rep = &objectReply{NotOwner: true}
		}
		if !rep.NotOwner {
			return rep
		}
		hint = rep.Owner
		if hint == owner { // it named itself: it is becoming the owner
			hint = ""
		}
		if !local && owner != "" && owner != o.n.id.Name && rep.Owner != owner {
			// The owner this node knew could not be reached, or owns the
			// object no more: next time, ask its group's replicas (a node
			// holding none of them learns no other way), or go where it
			// pointed.
			o.n.cluster.ObjectOwnerMoved(key, owner, rep.Owner)
		}
		// The group is electing a leader, or this node's view of it is
		// behind: wait a little, more each time.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &objectReply{Error: fmt.Sprintf("no owner of the Durable Object answered in time (%d attempts): %v", attempt+1, context.Cause(ctx))}
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// runHere runs a call on this node, which should own the object; origin
// names the node the call came from ("" for the owner's own alarms).
func (o *objects) runHere(ctx context.Context, c *objectCall, origin string) *objectReply {
	if err := validRef(c.Ref); err != nil {
		return &objectReply{Error: err.Error()}
	}
	if err := checkChain(c.Chain, c.Ref.Key()); err != nil {
		return &objectReply{Error: err.Error()}
	}
	if origin != "" {
		o.demand.note(o.n.cluster.ObjectGroup(c.Ref.Key()), origin)
	}
	a, err := o.actor(c.Ref)
	if err != nil {
		return &objectReply{Error: err.Error()}
	}
	return a.call(ctx, c)
}

// maxObjectClass bounds a Durable Object class's name.
const maxObjectClass = 128

// validRef checks an object's name as it came from a peer or a guest.
func validRef(r isolate.ObjectRef) error {
	if ValidateWorkerName(r.Worker) != nil {
		return fmt.Errorf("no Worker %s is deployed", quote(r.Worker))
	}
	if !isolate.IsObjectID(r.ID) {
		return errors.New("a Durable Object id is 64 hex digits")
	}
	if r.Class == "" || len(r.Class) > maxObjectClass || len(r.Name) > 2048 {
		return fmt.Errorf("a Durable Object's class name is 1 to %d bytes, its name at most 2048", maxObjectClass)
	}
	if !isolate.ObjectIDBelongs(r.Worker, r.Class, r.ID) {
		return fmt.Errorf("the Durable Object id %s was made by another namespace than class %s of Worker %s", r.ID, quote(r.Class), quote(r.Worker))
	}
	// The object sees the name as ctx.id.name: it is the one its id was
	// made from, not any a caller claims.
	if r.Name != "" && ObjectIDFromName(r.Worker, r.Class, r.Name) != r.ID {
		return fmt.Errorf("the Durable Object id %s was not made from the name %s", r.ID, quote(r.Name))
	}
	return nil
}

// actor returns the object's actor, made on first use.
func (o *objects) actor(ref isolate.ObjectRef) (*actor, error) {
	key := ref.Key()
	o.mu.Lock()
	defer o.mu.Unlock()
	if a, ok := o.actors[key]; ok {
		a.used.Store(time.Now().UnixNano())
		return a, nil
	}
	if len(o.actors) >= maxActors {
		return nil, fmt.Errorf("this node runs %d Durable Objects already; try again later", maxActors)
	}
	if o.perWorker[ref.Worker] >= maxActorsPerWorker {
		return nil, fmt.Errorf("this node runs %d Durable Objects of Worker %s already; try again later", maxActorsPerWorker, quote(ref.Worker))
	}
	a := &actor{o: o, ref: ref, key: key, turn: make(chan struct{}, 1)}
	a.used.Store(time.Now().UnixNano())
	o.actors[key] = a
	o.perWorker[ref.Worker]++
	return a, nil
}

// sweep drops the actors idle for objectIdle (their live instances are
// evicted by the runtime on its own clock).
func (o *objects) sweep(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, a := range o.actors {
		if a.waiting.Load() == 0 && now.Sub(time.Unix(0, a.used.Load())) > objectIdle {
			delete(o.actors, k)
			if o.perWorker[a.ref.Worker]--; o.perWorker[a.ref.Worker] == 0 {
				delete(o.perWorker, a.ref.Worker)
			}
		}
	}
}

// active is the number of actors.
func (o *objects) active() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.actors)
}

// actor runs the events of one object owned here, one at a time.
type actor struct {
	o   *objects
	ref isolate.ObjectRef
	key string
	// turn is the mailbox's token: an event runs while it holds it.
	turn    chan struct{}
	waiting atomic.Int64
	used    atomic.Int64 // unix nanoseconds of the last call

	// Guarded by turn:
	store *replication.ObjectStore
	gate  *outputGate
	dep   *Deployment // the deployment the code below came from
	code  *isolate.Code
	binds map[string]isolate.Binding
	host  isolate.Host
	// alarmFailures counts the alarm's runs that failed in a row.
	alarmFailures int
}

// call runs one event of the object and waits for its output gate.
func (a *actor) call(ctx context.Context, c *objectCall) *objectReply {
	if a.waiting.Add(1) > maxObjectQueue {
		a.waiting.Add(-1)
		return &objectReply{Error: fmt.Sprintf("the Durable Object is overloaded (%d calls waiting)", maxObjectQueue)}
	}
	select {
	case a.turn <- struct{}{}:
	case <-ctx.Done():
		a.waiting.Add(-1)
		return &objectReply{Error: fmt.Sprintf("the call waited too long for the Durable Object: %v", context.Cause(ctx))}
	}
	rep, t := a.event(ctx, c)
	<-a.turn
	a.waiting.Add(-1)
	if t == nil {
		return rep
	}
	if err := t.wait(ctx); err != nil {
		return &objectReply{Error: err.Error()}
	}
	return rep
}

// event runs c in the live instance, holding the turn; the ticket, if
// any, releases the reply.
func (a *actor) event(ctx context.Context, c *objectCall) (*objectReply, *ticket) {
	n := a.o.n
	if owner, local := n.cluster.ObjectOwner(a.key); !local {
		// Leadership moved: what this node holds of the object is stale.
		if a.store != nil {
			n.rt.EvictObject(a.ref)
			a.store, a.gate = nil, nil
		}
		return &objectReply{NotOwner: true, Owner: owner}, nil
	}
	if err := a.open(ctx); err != nil {
		var no *replication.NotOwnerError
		if errors.As(err, &no) || errors.Is(err, replication.ErrNotOwner) {
			owner, _ := n.cluster.ObjectOwner(a.key)
			return &objectReply{NotOwner: true, Owner: owner}, nil
		}
		return &objectReply{Error: err.Error()}, nil
	}
	lasting, err := a.load(ctx)
	if err != nil && !(lasting && c.Kind == isolate.ObjectAlarm) {
		return &objectReply{Error: err.Error()}, nil
	}
	if c.Kind == isolate.ObjectAlarm {
		// The alarm may have been moved or deleted since it was found
		// due, by this owner or a previous one.
		if err := a.gate.settled(ctx); err != nil {
			return &objectReply{Error: err.Error()}, nil
		}
		at, err := a.store.Alarm()
		if err != nil {
			return &objectReply{Error: err.Error()}, nil
		}
		if at == 0 || at > time.Now().UnixMilli() {
			return &objectReply{}, nil
		}
	}
	if err != nil && suspended(err) {
		// The Worker's deployer was revoked: a deploy brings it back,
		// and its alarms with it. Until then the alarm is looked at
		// again every alarmSuspendedEvery, not among the alarms due.
		next := time.Now().Add(alarmSuspendedEvery).UnixMilli()
		return &objectReply{Error: err.Error()}, a.gate.submit(&isolate.StorageBatch{Alarm: &next})
	}
	if err != nil {
		// An alarm that cannot run until the Worker is deployed again
		// fails as a run would: retried later, then dropped. Left due,
		// it stayed among the earliest alarms, which the owner looks at
		// first, and enough of them held every alarm slot for good.
		res := &isolate.ObjectResult{Result: isolate.Result{Outcome: isolate.OutcomeInternalError, Error: err.Error()}}
		return &objectReply{Error: err.Error()}, a.gate.submit(a.afterAlarm(res, false))
	}
	ev := &isolate.ObjectEvent{
		Object: c.Ref, Epoch: a.store.Epoch(), Code: a.code, Env: a.code.Env, Bindings: a.binds,
		Kind: c.Kind, Request: c.Request, Method: c.Method, Args: c.Args,
	}
	if a.code.Limits != nil {
		ev.Limits = *a.code.Limits
	}
	ectx := withDepth(context.WithValue(ctx, chainKey{}, append(slices.Clip(c.Chain), a.key)), c.Depth)
	host := &objectHost{Host: a.host, a: a}
	res := n.rt.RunObject(ectx, ev, host)
	n.metrics.ended(&res.Result, whereObject)
	n.tail("object", c.Ref.Worker, &res.Result)
	rep := &objectReply{}
	switch {
	case res.Outcome == isolate.OutcomeOK:
		rep.Response, rep.Value = res.Response, res.Value
		if c.Kind == isolate.ObjectFetch && rep.Response == nil {
			rep.Error = "the Durable Object's fetch gave no response"
		}
	case res.Outcome == isolate.OutcomeException:
		rep.Thrown = thrown(&res.Result)
	default:
		rep.Error = objectFailure(&res.Result)
	}
	writes := res.Writes
	if c.Kind == isolate.ObjectAlarm {
		writes = a.afterAlarm(res, host.alarmSet.Load())
	}
	// The writes the event made before it failed stand, as on Cloudflare:
	// they go through the gate like any other.
	t := a.gate.submit(writes)
	return rep, t
}

// thrown is the exception a call ended with, for its caller.
func thrown(r *isolate.Result) *isolate.ObjectError {
	if len(r.Exceptions) == 0 {
		return &isolate.ObjectError{Name: "Error", Message: r.Error}
	}
	e := r.Exceptions[len(r.Exceptions)-1]
	return &isolate.ObjectError{Name: e.Name, Message: e.Message}
}

// objectFailure describes an event that did not end with the object's
// own answer or exception.
func objectFailure(r *isolate.Result) string {
	msg := r.Error
	if msg == "" {
		msg = string(r.Outcome)
	}
	return "Durable Object: " + msg
}

// open makes sure the actor holds a storage handle of the current epoch.
func (a *actor) open(ctx context.Context) error {
	if a.store != nil && a.gate.healthy() {
		return nil
	}
	if a.store != nil { // a commit failed: the instance is stale
		a.o.n.rt.EvictObject(a.ref)
	}
	a.store, a.gate = nil, nil
	st, err := a.o.n.cluster.OpenObject(ctx, a.key)
	if err != nil {
		return err
	}
	worker := a.ref.Worker
	pace := func(ctx context.Context, n int) error { return a.o.pace.wait(ctx, worker, n) }
	a.store, a.gate = st, &outputGate{st: st, observe: a.o.n.metrics.gate, pace: pace}
	a.o.n.rt.EvictObject(a.ref) // an instance of an older epoch must not go on
	return nil
}

// load reads the deployment that defines the object's class, when the
// one held is older than the node's cache allows. An error is lasting
// when it holds until the Worker is deployed again (it is not deployed,
// is suspended, or its deployment cannot run), rather than while the store
// is unavailable.
func (a *actor) load(ctx context.Context) (lasting bool, err error) {
	n := a.o.n
	d, err := n.deployment(ctx, a.ref.Worker)
	if err != nil {
		return isNotFound(err) || suspended(err), err
	}
	if d == a.dep {
		return false, nil
	}
	inv, err := (&RunRequest{Code: d.Code, Bindings: d.Bindings, key: d.codeKey}).decode(n.codes)
	if err != nil {
		return true, fmt.Errorf("the deployment of %s does not decode: %w", a.ref.Worker, err)
	}
	granted, refused := n.grant(inv, &policy.Token{Name: "objects of worker " + a.ref.Worker, Grants: d.Grants})
	if refused != nil {
		return true, errors.New(refused.Error)
	}
	host := granted.Host
	if host == nil {
		host = n.host
	}
	a.dep, a.code, a.binds, a.host = d, granted.Code, inv.Bindings, host
	return false, nil
}

// objectHost is what a live object reaches: its deployment's host, and
// its own storage behind the output gate.
type objectHost struct {
	isolate.Host
	a *actor
	// alarmSet: a batch of this event committed before its end set or
	// deleted the alarm.
	alarmSet atomic.Bool
}

func (h *objectHost) StorageGet(ctx context.Context, keys []string) (map[string][]byte, error) {
	if err := h.a.gate.settled(ctx); err != nil {
		return nil, err
	}
	return h.a.store.Get(keys)
}

func (h *objectHost) StorageList(ctx context.Context, opts isolate.StorageListOptions) ([]isolate.StorageEntry, error) {
	if err := h.a.gate.settled(ctx); err != nil {
		return nil, err
	}
	es, err := h.a.store.List(replication.ObjectListOptions{
		Start: opts.Start, StartAfter: opts.StartAfter, End: opts.End, Prefix: opts.Prefix, Reverse: opts.Reverse, Limit: opts.Limit,
	})
	if err != nil {
		return nil, err
	}
	out := make([]isolate.StorageEntry, len(es))
	for i, e := range es {
		out[i] = isolate.StorageEntry{Key: e.Key, Value: e.Value}
	}
	return out, nil
}

func (h *objectHost) StorageCommit(ctx context.Context, b *isolate.StorageBatch) error {
	if b != nil && b.Alarm != nil {
		// The event set or deleted the alarm in a batch committed before its
		// end (the engine commits what is buffered before a call out): an
		// alarm event's end must not take it for untouched.
		h.alarmSet.Store(true)
	}
	return h.a.gate.submit(b).wait(ctx)
}

func (h *objectHost) GetAlarm(ctx context.Context) (int64, error) {
	if err := h.a.gate.settled(ctx); err != nil {
		return 0, err
	}
	return h.a.store.Alarm()
}

// outputGate commits an object's batches in order and releases replies
// once what they depend on is durable.
type outputGate struct {
	st *replication.ObjectStore
	// observe, if set, is told how long each commit or verification took.
	observe func(kind string, d time.Duration)
	// pace, if set, waits for a batch of n bytes' turn (the Worker's
	// write rate) before it is committed.
	pace func(ctx context.Context, n int) error

	mu      sync.Mutex
	queue   []*ticket
	running bool
	failed  error // once a commit failed, every later ticket fails
	// submitted and done count tickets; settledCh is closed (and
	// replaced) each time done advances.
	submitted, done uint64
	settledCh       chan struct{}
}

// ticket is one reply waiting at the gate.
type ticket struct {
	batch *isolate.StorageBatch // nil: the reply only needs the owner confirmed
	seq   uint64
	done  chan struct{}
	err   error
}

func (t *ticket) wait(ctx context.Context) error {
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return fmt.Errorf("the Durable Object's reply waited too long for its storage to commit: %w", context.Cause(ctx))
	}
}

func (g *outputGate) healthy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed == nil
}

// submit queues a reply and the writes its event made.
func (g *outputGate) submit(b *isolate.StorageBatch) *ticket {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.submitted++
	t := &ticket{batch: b, seq: g.submitted, done: make(chan struct{})}
	if g.failed != nil {
		g.done = t.seq
		t.err = g.failed
		close(t.done)
		return t
	}
	g.queue = append(g.queue, t)
	if !g.running {
		g.running = true
		go g.flush()
	}
	return t
}

// settled waits until every ticket submitted so far is through the gate:
// the store then holds every write the instance made.
func (g *outputGate) settled(ctx context.Context) error {
	g.mu.Lock()
	for {
		if g.failed != nil {
			err := g.failed
			g.mu.Unlock()
			return err
		}
		if g.done >= g.submitted {
			g.mu.Unlock()
			return nil
		}
		if g.settledCh == nil {
			g.settledCh = make(chan struct{})
		}
		ch := g.settledCh
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the Durable Object's writes to commit: %w", context.Cause(ctx))
		}
		g.mu.Lock()
	}
}

// flush commits what is queued, as one batch, until nothing is.
func (g *outputGate) flush() {
	for {
		g.mu.Lock()
		q := g.queue
		g.queue = nil
		if len(q) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()

		// The tickets' batches, merged into as few as the store's bound
		// on one batch allows, committed in order.
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		var waits []func(context.Context) error
		var err error
		for _, c := range chunks(q) {
			if merged := mergeBatches(c); merged != nil {
				if g.pace != nil {
					if bytes, _ := batchSize(merged); bytes > 0 {
						if err = g.pace(ctx, bytes); err != nil {
							break
						}
					}
				}
				waits = append(waits, g.st.Start(ctx, toObjectBatch(merged)))
			}
		}
		kind := "commit"
		if len(waits) == 0 && err == nil {
			kind = "verify"
			err = g.st.Verify(ctx)
		}
		for _, wait := range waits {
			if e := wait(ctx); e != nil && err == nil {
				err = e
			}
		}
		cancel()
		if g.observe != nil {
			g.observe(kind, time.Since(began))
		}
		if err != nil {
			err = fmt.Errorf("the Durable Object was reset: its storage could not be confirmed (%w)", err)
		}

		g.mu.Lock()
		if err != nil && g.failed == nil {
			g.failed = err
		}
		fail := g.failed
		for _, t := range q {
			t.err = fail
			close(t.done)
		}
		if fail != nil { // those queued meanwhile fail too
			for _, t := range g.queue {
				t.err = fail
				close(t.done)
			}
			g.queue = nil
		}
		g.done = g.submitted
		if len(g.queue) > 0 {
			g.done = g.queue[0].seq - 1
		}
		if g.settledCh != nil {
			close(g.settledCh)
			g.settledCh = nil
		}
		g.mu.Unlock()
	}
}

// chunks splits consecutive tickets into runs whose batches together stay
// within the store's bound on one batch (each batch alone is within it:
// the isolate keeps them so).
func chunks(q []*ticket) [][]*ticket {
	var out [][]*ticket
	start, bytes, keys := 0, 0, 0
	for i, t := range q {
		b, k := batchSize(t.batch)
		if i > start && (bytes+b > replication.MaxObjectBatchBytes || keys+k > replication.MaxObjectBatchKeys) {
			out = append(out, q[start:i])
			start, bytes, keys = i, 0, 0
		}
		bytes += b
		keys += k
	}
	return append(out, q[start:])
}

// batchSize is the bytes of keys and values, and the keys, b writes.
func batchSize(b *isolate.StorageBatch) (bytes, keys int) {
	if b == nil {
		return 0, 0
	}
	for _, p := range b.Puts {
		bytes += len(p.Key) + len(p.Value)
	}
	for _, k := range b.Deletes {
		bytes += len(k)
	}
	return bytes, len(b.Puts) + len(b.Deletes)
}

// mergeBatches folds the batches of consecutive events into one with the
// same effect; nil when none wrote.
func mergeBatches(q []*ticket) *isolate.StorageBatch {
	var out *isolate.StorageBatch
	puts := map[string][]byte{}
	dels := map[string]bool{}
	var order []string // first-write order, for a deterministic batch
	for _, t := range q {
		b := t.batch
		if b == nil {
			continue
		}
		if out == nil {
			out = &isolate.StorageBatch{}
		}
		if b.DeleteAll {
			out.DeleteAll = true
			clear(puts)
			clear(dels)
			order = order[:0]
		}
		for _, k := range b.Deletes {
			if _, seen := puts[k]; !seen && !dels[k] {
				order = append(order, k)
			}
			delete(puts, k)
			dels[k] = true
		}
		for _, p := range b.Puts {
			if _, seen := puts[p.Key]; !seen && !dels[p.Key] {
				order = append(order, p.Key)
			}
			delete(dels, p.Key)
			puts[p.Key] = p.Value
		}
		if b.Alarm != nil {
			v := *b.Alarm
			out.Alarm = &v
		}
	}
	if out == nil {
		return nil
	}
	for _, k := range order {
		if v, ok := puts[k]; ok {
			out.Puts = append(out.Puts, isolate.StoragePut{Key: k, Value: v})
		} else if dels[k] {
			out.Deletes = append(out.Deletes, k)
		}
	}
	return out
}

// toObjectBatch is b as the store takes it. An alarm set in the past
// is set to now: it runs as soon as the alarms due before it had their
// turn. Keeping its time, it went before them all, and objects that kept
// setting their next alarm in the past held every alarm slot of their
// owner.
func toObjectBatch(b *isolate.StorageBatch) replication.ObjectBatch {
	ob := replication.ObjectBatch{DeleteAll: b.DeleteAll, Deletes: b.Deletes, Alarm: b.Alarm}
	if now := time.Now().UnixMilli(); b.Alarm != nil && *b.Alarm > 0 && *b.Alarm < now {
		ob.Alarm = &now
	}
	for _, p := range b.Puts {
		ob.Puts = append(ob.Puts, replication.ObjectPut{Key: p.Key, Value: p.Value})
	}
	return ob
}

// checkObjects refuses Durable Object bindings the grants do not cover:
// "worker.Class" or "worker.*" in Grants.DO.
func checkObjects(g *policy.Grants, bindings map[string]isolate.Binding) error {
	if g == nil || g.Admin {
		return nil
	}
	for _, name := range sortedNames(bindings) {
		b := bindings[name].DurableObject
		if b == nil {
			continue
		}
		ok := false
		for _, d := range g.DO {
			if d == b.Worker+"."+b.Class || d == b.Worker+".*" {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("binding %s: the token does not grant the Durable Object namespace %s.%s", name, b.Worker, b.Class)
		}
	}
	return nil
}

// sweepObjects drops idle actors until the node stops.
func (n *Node) sweepObjects() {
	t := time.NewTicker(objectIdle / 4)
	defer t.Stop()
	for {
		select {
		case <-n.life.Done():
			return
		case now := <-t.C:
			n.objects.sweep(now)
		}
	}
}

// ObjectIDFromName is the id of the object named name in the class of a
// Worker: what idFromName gives in the Worker (64 hex digits).
func ObjectIDFromName(worker, class, name string) string {
	return isolate.ObjectIDFromName(worker, class, name)
}

// ObjectInfo is where a Durable Object lives (GET /v1/objects).
type ObjectInfo struct {
	Worker string `json:"worker"`
	Class  string `json:"class"`
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	// Owner is the node that runs it now, as this node knows ("" during
	// an election).
	Owner string `json:"owner"`
}

// handleObject is GET /v1/objects/{worker}/{class}?name=NAME (or ?id=HEX):
// the object's id and the node that owns it. It needs an admin token.
func (n *Node) handleObject(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "locate Durable Objects"); err != nil {
		writeError(w, err)
		return
	}
	if n.cluster == nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: errNoObjects.Error()})
		return
	}
	q := r.URL.Query()
	ref := isolate.ObjectRef{Worker: r.PathValue("worker"), Class: r.PathValue("class"), ID: strings.ToLower(q.Get("id")), Name: q.Get("name")}
	if ref.ID == "" && ref.Name != "" {
		ref.ID = ObjectIDFromName(ref.Worker, ref.Class, ref.Name)
	}
	if err := validRef(ref); err != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: err.Error() + " (give ?name=NAME or ?id=HEX)"})
		return
	}
	owner, _ := n.cluster.ObjectOwner(ref.Key())
	writeJSON(w, http.StatusOK, ObjectInfo{Worker: ref.Worker, Class: ref.Class, ID: ref.ID, Name: ref.Name, Owner: owner})
}
