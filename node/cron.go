package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// Cron triggers.
//
// A deployment may carry "triggers": {"crons": [...]}: each tick of each
// expression runs the Worker's scheduled(controller, env, ctx) handler
// once in the mesh. The Worker's ticks are kept by one node, the owner of
// a storage object of its own (class cronClass, like a Durable Object's:
// the leader of a data group), which claims each tick in that storage,
// with its epoch, before running it and marks it done after: an owner
// that lost its office cannot claim. The run is an invocation like any
// other, on the nearest node with room, with the deployment's grants.
//
// A tick claimed by an owner that died before marking it done is run
// again by the next owner (within cronRerunWindow): a tick runs at least
// once while nodes fail, and once otherwise. Ticks missed while no node
// owned the Worker's ticks are not all caught up: only the latest one
// runs, late. Each run's outcome is kept (the last cronKeep of them) in
// the KV store under warren.cron, and GET /v1/workers/{name} shows them.

const (
	// cronClass is the class of the objects that keep Workers' ticks.
	cronClass = "warren.cron"
	// cronNS holds the outcomes of cron runs, by Worker name.
	cronNS = ReservedKVPrefix + "cron"
	// cronEvery is how often an owner looks for ticks due.
	cronEvery = 250 * time.Millisecond
	// cronRefresh is how often a node checks whether the deployments
	// changed: whether a peer announces a new deploys mark (mesh marks,
	// deploysMark; no packet), and reads their triggers if so.
	cronRefresh = 2 * time.Second
	// deploysMark: a node that deployed or undeployed announces when,
	// as a mesh mark, so that the others read the triggers again within
	// cronRefresh without asking anyone in between.
	deploysMark = "deploys"
	// cronGenEvery is how often a node also reads deploysGenKey, which
	// every deploy changes too: for a deploy whose mark never went out
	// (its node died first) or that a node of an older version made.
	cronGenEvery = 30 * time.Second
	// cronReread is how often a node reads the deployments' triggers
	// even when the generation did not change: a deploy whose node died
	// between its write and the generation's. The read lists every
	// group, so on an idle 20-node mesh it has each node dial most of
	// the others (their connections closed while idle): about 18 QUIC
	// handshakes, 1.6-2 ms of CPU each, which at once a minute was some
	// 0.05 % of a core per node.
	cronReread = 5 * time.Minute
	// deploysNS holds deploysGenKey, a value every deploy and undeploy
	// changes after its write, so that the others read the triggers
	// again: one key read every cronGenEvery rather than a list of every
	// group of the mesh. It was read every cronRefresh before the
	// deploys mark: on 20 idle nodes, a tenth of each node's packets.
	deploysNS     = ReservedKVPrefix + "deploys"
	deploysGenKey = "generation"
	// cronRerunWindow bounds how old a tick left undone by a dead owner
	// may be for the next owner to run it again.
	cronRerunWindow = 5 * time.Minute
	// cronKeep is how many runs' outcomes a Worker keeps.
	cronKeep = 10
	// maxCrons bounds a deployment's cron expressions.
	maxCrons = 10
	// cronRunTimeout bounds one scheduled run, routing included.
	cronRunTimeout = 5 * time.Minute
)

// Triggers are a deployment's triggers.
type Triggers struct {
	// Crons are cron expressions: five fields (minute, hour, day of
	// month, month, day of week), an optional sixth in front for seconds,
	// or a descriptor (@hourly, @every 30s).
	Crons []string `json:"crons,omitempty"`
}

// cronParser parses the expressions of Triggers.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// validate checks the triggers of a deployment.
func (t *Triggers) validate() error {
	if t == nil {
		return nil
	}
	if len(t.Crons) > maxCrons {
		return fmt.Errorf("triggers.crons: %d expressions, more than %d", len(t.Crons), maxCrons)
	}
	for i, c := range t.Crons {
		if len(c) > 128 {
			return fmt.Errorf("triggers.crons[%d]: longer than 128 bytes", i)
		}
		s, err := cronParser.Parse(c)
		if err != nil {
			return fmt.Errorf("triggers.crons[%d] %q: %w", i, c, err)
		}
		if s.Next(time.Now()).IsZero() {
			return fmt.Errorf("triggers.crons[%d] %q: it has no tick in the next five years", i, c)
		}
	}
	return nil
}

// CronRun is the outcome of one scheduled run.
type CronRun struct {
	Cron          string          `json:"cron"`
	ScheduledTime int64           `json:"scheduledTime"` // unix ms of the tick
	Outcome       isolate.Outcome `json:"outcome"`
	Error         string          `json:"error,omitempty"`
	Exception     string          `json:"exception,omitempty"` // "Name: message"
	Node          string          `json:"node,omitempty"`      // where it ran
	StartedAt     time.Time       `json:"startedAt"`
	WallMs        float64         `json:"wallMs"`
}

// cronObjectKey is the key of the object that keeps worker's ticks.
func cronObjectKey(worker string) string {
	sum := sha256.Sum256([]byte("warren cron v1\x00" + worker))
	return isolate.ObjectRef{Worker: worker, Class: cronClass, ID: hex.EncodeToString(sum[:])}.Key()
}

// crons runs the ticks of the Workers whose tick objects this node owns.
type crons struct {
	n  *Node
	mu sync.Mutex
	// workers are the deployments with triggers, as last read.
	workers map[string]*Triggers
	// state is the tick keeping of the Workers this node owns.
	state map[string]*cronState
}

// cronState is an owner's view of one Worker's ticks.
type cronState struct {
	store   *replication.ObjectStore
	crons   []string
	scheds  []cron.Schedule
	last    int64 // the last tick claimed (unix ms)
	running bool
}

func (n *Node) runCrons() {
	c := &crons{n: n, workers: map[string]*Triggers{}, state: map[string]*cronState{}}
	// Ticks are looked for every cronEvery while some deployment has
	// triggers; otherwise the loop wakes only every cronRefresh, to check
	// the generation.
	tick := time.NewTimer(cronEvery)
	defer tick.Stop()
	// While no deployment has triggers the loop sleeps until a peer's
	// metadata changes (a new deploys mark comes with it) or the
	// generation is due, instead of looking at the marks every
	// cronRefresh: on an idle node that timer was a wakeup every 2 s.
	changes := make(chan struct{}, 1)
	n.mesh.NotifyChanges(changes)
	var idle bool
	var checked, genRead, refreshed time.Time
	var gen []byte
	var marks map[string]uint64 // the deploys marks of the last refresh
	// wake ends the idle sleep: look at the marks now, but not sooner
	// than cronRefresh after the last look (a flapping peer table costs
	// one look per cronRefresh at most, as before).
	wake := func() {
		if idle {
			idle = false
			tick.Reset(max(0, cronRefresh-time.Since(checked)))
		}
	}
	for {
		select {
		case <-n.life.Done():
			return
		case <-changes:
			wake()
		case <-n.cronWake:
			wake()
		case now := <-tick.C:
			if now.Sub(checked) >= cronRefresh {
				checked = now
				g, m, changed := gen, n.mesh.Marks(deploysMark), false
				for name, v := range m {
					if old, ok := marks[name]; !ok || old != v {
						changed = true // a peer deployed, or one that has is new to us
					}
				}
				if changed || gen == nil || now.Sub(genRead) >= cronGenEvery {
					genRead = now
					var err error
					g, err = c.generation()
					changed = changed || err != nil || !bytes.Equal(g, gen)
				}
				if changed || now.Sub(refreshed) >= cronReread {
					// After a change, read strongly: this node's replica
					// of the deployment's group may lag the generation's.
					cons := replication.Eventual
					if changed {
						cons = replication.Strong
					}
					if c.refresh(cons) == nil {
						gen, marks, refreshed = g, m, now
					}
				}
			}
			c.fire(now)
			c.mu.Lock()
			none := len(c.workers) == 0 && len(c.state) == 0
			c.mu.Unlock()
			if none {
				// The next look the clock asks for: the generation's read
				// (the triggers' reread is later still).
				idle = true
				tick.Reset(max(cronRefresh, cronGenEvery-now.Sub(genRead)))
			} else {
				tick.Reset(cronEvery)
			}
		}
	}
}

// generation reads deploysGenKey (empty when no deploy ever set it).
func (c *crons) generation() ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.n.life, 5*time.Second)
	defer cancel()
	v, err := c.n.kv.GetWithMetadata(ctx, deploysNS, deploysGenKey, replication.Eventual)
	if errors.Is(err, replication.ErrKVNotFound) {
		return []byte{}, nil
	}
	return v.Value, err
}

// bumpDeploys changes deploysGenKey after a deploy or an undeploy, so that
// every node reads the triggers again within cronRefresh. A failure only
// delays that to cronReread.
func (n *Node) bumpDeploys(ctx context.Context, kv replication.KV) {
	now := time.Now()
	gen := fmt.Appendf(nil, "%s %d", n.id.Name, now.UnixNano())
	if err := kv.Put(ctx, deploysNS, deploysGenKey, gen, replication.KVPutOptions{}); err != nil {
		n.log.Warn("cron: announcing a change of the deployments", "err", err)
	}
	// After the write, so that a node that reads the triggers on seeing
	// the mark reads the deployment (strongly).
	if err := n.mesh.SetMark(deploysMark, uint64(now.UnixNano())); err != nil {
		n.log.Warn("cron: announcing a change of the deployments", "err", err)
	}
	// This node's own loop sees no peer's metadata change.
	select {
	case n.cronWake <- struct{}{}:
	default:
	}
}

// refresh reads which deployments have triggers.
func (c *crons) refresh(cons replication.Consistency) error {
	// The node's own list, one at a time (the cron loop's): it does not
	// wait behind the clients' lists, which could keep every turn taken.
	ctx, cancel := context.WithTimeout(replication.OwnList(c.n.life), 10*time.Second)
	defer cancel()
	found := map[string]*Triggers{}
	opts := replication.KVListOptions{}
	for {
		page, err := c.n.kv.List(ctx, workersNS, opts, cons)
		if err != nil {
			return err
		}
		for _, k := range page.Keys {
			var info WorkerInfo
			if json.Unmarshal(k.Metadata, &info) != nil || info.Bindings == nil {
				d, err := c.n.readDeployment(ctx, c.n.kv, k.Name, cons)
				if err != nil {
					continue
				}
				info = d.info()
			}
			if info.Triggers != nil && len(info.Triggers.Crons) > 0 {
				found[k.Name] = info.Triggers
			}
		}
		if page.ListComplete || page.Cursor == "" {
			break
		}
		opts.Cursor = page.Cursor
	}
	c.mu.Lock()
	c.workers = found
	c.mu.Unlock()
	return nil
}

// fire claims and starts the ticks due of the Workers this node owns.
func (c *crons) fire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, st := range c.state {
		if t, ok := c.workers[name]; !ok || !slices.Equal(t.Crons, st.crons) {
			if !st.running {
				delete(c.state, name) // undeployed or changed: start over
			}
		}
	}
	for name, t := range c.workers {
		key := cronObjectKey(name)
		if _, local := c.n.cluster.ObjectOwner(key); !local {
			delete(c.state, name)
			continue
		}
		st := c.state[name]
		if st != nil && st.running {
			continue
		}
		if st == nil {
			var err error
			if st, err = c.open(name, key, t); err != nil {
				c.n.log.Debug("cron: opening the tick store", "worker", name, "err", err)
				continue
			}
			c.state[name] = st
		}
		due := st.due(now)
		if due == 0 {
			continue
		}
		st.running = true
		go c.run(name, st, due, now)
	}
}

// open takes over a Worker's ticks in this owner's epoch; a tick its
// previous owner claimed and never marked done is run again.
func (c *crons) open(name, key string, t *Triggers) (*cronState, error) {
	ctx, cancel := context.WithTimeout(c.n.life, 5*time.Second)
	defer cancel()
	store, err := c.n.cluster.OpenObject(ctx, key)
	if err != nil {
		return nil, err
	}
	st := &cronState{store: store, crons: t.Crons}
	for _, expr := range t.Crons {
		s, err := cronParser.Parse(expr)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %w", expr, err)
		}
		st.scheds = append(st.scheds, s)
	}
	vals, err := store.Get([]string{"last", "done"})
	if err != nil {
		return nil, err
	}
	last, _ := strconv.ParseInt(string(vals["last"]), 10, 64)
	done, _ := strconv.ParseInt(string(vals["done"]), 10, 64)
	st.last = last
	if last == 0 {
		// A Worker's first owner starts from now: no tick before its
		// deployment runs.
		st.last = time.Now().UnixMilli()
	} else if last > done && time.Since(time.UnixMilli(last)) < cronRerunWindow {
		st.last = last - 1 // its tick comes due again
	}
	return st, nil
}

// due is the tick to run now (unix ms), or 0: the latest tick of any of
// the Worker's expressions after the last claimed one and not after now.
func (st *cronState) due(now time.Time) int64 {
	best := int64(0)
	from := time.UnixMilli(st.last)
	if now.Sub(from) > 24*time.Hour {
		from = now.Add(-24 * time.Hour) // a long outage: only recent ticks count
	}
	for _, s := range st.scheds {
		// Next answers the zero time when it finds no tick within five
		// years (30 February): from it, each step searched five years.
		t := s.Next(from)
		if t.IsZero() || t.After(now) {
			continue
		}
		// Skip to the latest tick not after now (bounded: a one-second
		// schedule a day behind takes 86,400 steps once).
		for i := 0; i < 100_000; i++ {
			nt := s.Next(t)
			if nt.IsZero() || nt.After(now) {
				break
			}
			t = nt
		}
		if ms := t.UnixMilli(); ms > best {
			best = ms
		}
	}
	if best <= st.last {
		return 0
	}
	return best
}

// exprOf names the expression a tick belongs to.
func (st *cronState) exprOf(tick int64) string {
	at := time.UnixMilli(tick)
	for i, s := range st.scheds {
		if s.Next(at.Add(-time.Second)).Equal(at) {
			return st.crons[i]
		}
	}
	if len(st.crons) > 0 {
		return st.crons[0]
	}
	return ""
}

// run claims tick, runs the Worker's scheduled handler, marks it done and
// records the outcome.
func (c *crons) run(name string, st *cronState, tick int64, now time.Time) {
	n := c.n
	defer func() {
		c.mu.Lock()
		st.running = false
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(n.life, cronRunTimeout)
	defer cancel()
	claim := replication.ObjectBatch{Puts: []replication.ObjectPut{{Key: "last", Value: []byte(strconv.FormatInt(tick, 10))}}}
	if err := st.store.Commit(ctx, claim); err != nil {
		// Not claimed (or not known to be): this node may no longer own
		// the ticks; the next round looks again.
		n.log.Debug("cron: claiming a tick", "worker", name, "tick", tick, "err", err)
		c.mu.Lock()
		delete(c.state, name)
		c.mu.Unlock()
		return
	}
	st.last = tick
	expr := st.exprOf(tick)
	start := time.Now()
	res := n.runScheduled(ctx, name, &isolate.ScheduledEvent{Cron: expr, ScheduledTime: tick})
	run := CronRun{Cron: expr, ScheduledTime: tick, Outcome: res.Outcome, Error: res.Error, Node: res.Telemetry.Node, StartedAt: start.UTC(), WallMs: float64(time.Since(start).Microseconds()) / 1000}
	if len(res.Exceptions) > 0 {
		e := res.Exceptions[len(res.Exceptions)-1]
		run.Exception = e.Name + ": " + e.Message
	}
	done := replication.ObjectBatch{Puts: []replication.ObjectPut{{Key: "done", Value: []byte(strconv.FormatInt(tick, 10))}}}
	if err := st.store.Commit(ctx, done); err != nil {
		n.log.Debug("cron: marking a tick done", "worker", name, "tick", tick, "err", err)
	}
	if err := n.recordCron(ctx, name, run); err != nil {
		n.log.Debug("cron: recording a run", "worker", name, "err", err)
	}
	if res.Outcome != isolate.OutcomeOK {
		n.log.Info("a cron trigger's run failed", "worker", name, "cron", expr, "outcome", res.Outcome, "error", res.Error, "exception", run.Exception)
	}
}

// runScheduled runs the deployed Worker's scheduled handler, with its
// deployment's grants, on the nearest node with room.
func (n *Node) runScheduled(ctx context.Context, name string, ev *isolate.ScheduledEvent) *isolate.Result {
	d, err := n.deployment(ctx, name)
	if err != nil {
		return internalError(fmt.Sprintf("reading the deployment of %s: %v", name, err))
	}
	req := &RunRequest{Code: d.Code, Bindings: d.Bindings, Scheduled: ev, key: d.codeKey}
	inv, err := req.decode(n.codes)
	if err != nil {
		return internalError(fmt.Sprintf("the deployment of %s does not decode: %v", name, err))
	}
	now := time.Now()
	who := "cron of worker " + name + " (deployed by " + d.DeployedBy + ")"
	if req.Token, err = policy.SignToken(n.tokenKey, &policy.Token{Name: who,
		IssuedAt: now.Unix(), Expiry: now.Add(workerTokenTTL).Unix(), Grants: d.Grants}); err != nil {
		return internalError(err.Error())
	}
	res := n.route(ctx, inv, req, &policy.Token{Name: who, Grants: d.Grants})
	n.ended("cron", who, "", name, req, res)
	return res
}

// recordCron keeps run among the Worker's last cronKeep runs.
func (n *Node) recordCron(ctx context.Context, name string, run CronRun) error {
	runs, err := n.cronRuns(ctx, name)
	if err != nil {
		return err
	}
	runs = append([]CronRun{run}, runs...)
	if len(runs) > cronKeep {
		runs = runs[:cronKeep]
	}
	b, err := json.Marshal(runs)
	if err != nil {
		return err
	}
	return n.kv.Put(ctx, cronNS, name, b, replication.KVPutOptions{})
}

// cronRuns reads a Worker's recorded runs, newest first.
func (n *Node) cronRuns(ctx context.Context, name string) ([]CronRun, error) {
	v, err := n.kv.GetWithMetadata(ctx, cronNS, name, replication.Strong)
	if err != nil {
		if errors.Is(err, replication.ErrKVNotFound) {
			return nil, nil
		}
		return nil, err
	}
	var runs []CronRun
	if err := json.Unmarshal(v.Value, &runs); err != nil {
		return nil, nil // an unreadable record starts over
	}
	return runs, nil
}
