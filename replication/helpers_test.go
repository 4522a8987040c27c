package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/internal/raftbadger"
	"github.com/warrenmesh/warren/testnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The fabric's conns are not *net.UDPConn: quic-go would warn that it
	// cannot size their buffers.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m,
		// memberlist's Shutdown does not wait for a probe in flight: it
		// ends by itself within one probe interval.
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
		// raft never answers a command whose batch sat in its FSM queue
		// when it shut down (hashicorp/raft#498): the goroutine waiting
		// for it, whose caller gave up at its deadline, waits on.
		goleak.IgnoreAnyFunction("github.com/warrenmesh/warren/replication.(*Group).await.func1"),
	)
}

// testLogger discards unless REPL_TEST_LOG is set (to a level: debug,
// info, warn).
func testLogger() *slog.Logger {
	lv := os.Getenv("REPL_TEST_LOG")
	if lv == "" {
		return slog.New(slog.DiscardHandler)
	}
	var level slog.Level
	level.UnmarshalText([]byte(lv))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

var testSecret = sync.OnceValue(func() *mesh.Secret {
	s, err := mesh.GenerateSecret()
	if err != nil {
		panic(err)
	}
	return s
})

// cluster is N in-process nodes on a fabric, each with its mesh, Raft
// transport and database; a node can be killed and restarted on its data.
type cluster struct {
	t      testing.TB
	fabric *testnet.Fabric
	udp    bool // real loopback sockets instead of the fabric (benchmarks)
	// kv starts a Cluster on each node (the first founds it), tuned by
	// tune.
	kv   bool
	tune func(*ClusterConfig)
	// dirOf, if set, places a node's data elsewhere than under dir (on a
	// disk of its own) when it returns a path.
	dirOf func(name string) string
	dir   string
	nodes []*testNode
	// dbOptions, if set, changes the nodes' database options.
	dbOptions func(badger.Options) badger.Options
}

type testNode struct {
	name, id, dir string
	m             *mesh.Mesh
	tr            *Transport
	db            *badger.DB
	groups        map[string]*Group
	fsms          map[string]*kvFSM
	cl            *Cluster
	up            bool
}

func newCluster(t testing.TB, n int) *cluster { return newClusterOn(t, n, false) }

// newClusterOn is newCluster, on loopback UDP sockets when udp is set:
// the fabric's in-memory delivery costs CPU of its own, which the
// benchmarks must not count.
func newClusterOn(t testing.TB, n int, udp bool) *cluster {
	t.Helper()
	return newClusterWith(t, n, &cluster{udp: udp})
}

// newClusterWith starts n nodes as c describes.
func newClusterWith(t testing.TB, n int, c *cluster) *cluster {
	t.Helper()
	c.t, c.fabric, c.dir = t, testnet.NewFabric(1), t.TempDir()
	for i := range n {
		nd := &testNode{name: fmt.Sprintf("n%d", i), id: fmt.Sprintf("id-%d", i)}
		nd.dir = filepath.Join(c.dir, nd.name)
		if c.dirOf != nil {
			if d := c.dirOf(nd.name); d != "" {
				nd.dir = d
			}
		}
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		// All at once: a node stopping after the others waits out its
		// RPCs to them, one node after another.
		var wg sync.WaitGroup
		for _, nd := range c.nodes {
			wg.Go(func() { c.stop(nd) })
		}
		wg.Wait()
		c.fabric.Close()
	})
	for _, nd := range c.nodes {
		c.start(nd)
	}
	c.waitMembers()
	return c
}

// start starts nd's mesh, transport and database (not its groups) and
// joins the others.
func (c *cluster) start(nd *testNode) {
	c.t.Helper()
	var pc net.PacketConn
	var err error
	if c.udp {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
	} else {
		pc, err = c.fabric.Listen(nd.name)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	nd.m, err = mesh.Start(context.Background(), mesh.Config{
		Name: nd.name, ID: nd.id, Secret: testSecret(), PacketConn: pc,
		Logger:        testLogger().With("node", nd.name),
		ProbeInterval: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
		GossipInterval: 50 * time.Millisecond, RefreshInterval: 100 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	nd.tr = NewTransport(nd.m, testLogger().With("node", nd.name))
	if c.dbOptions != nil {
		nd.db, err = badger.Open(c.dbOptions(raftbadger.Options(filepath.Join(nd.dir, "db"), testLogger())))
	} else {
		nd.db, err = OpenDB(filepath.Join(nd.dir, "db"), testLogger())
	}
	if err != nil {
		c.t.Fatal(err)
	}
	nd.groups, nd.fsms, nd.up = map[string]*Group{}, map[string]*kvFSM{}, true
	if c.kv {
		cc := ClusterConfig{
			Mesh: nd.m, Transport: nd.tr, DB: nd.db, Dir: nd.dir,
			Logger: testLogger().With("node", nd.name), Bootstrap: nd == c.nodes[0],
		}
		if c.tune != nil {
			c.tune(&cc)
		}
		if nd.cl, err = StartCluster(cc); err != nil {
			c.t.Fatal(err)
		}
	}
	var others []string
	for _, o := range c.nodes {
		if o != nd && o.up {
			others = append(others, o.m.Addr().String())
		}
	}
	if len(others) > 0 {
		if _, err := nd.m.Join(others); err != nil {
			c.t.Fatal(err)
		}
	}
}

// stop stops nd's groups, mesh and database.
func (c *cluster) stop(nd *testNode) {
	if !nd.up {
		return
	}
	nd.up = false
	if nd.cl != nil {
		nd.cl.Close()
		nd.cl = nil
	}
	for _, g := range nd.groups {
		g.Close()
	}
	nd.m.Close()
	nd.db.Close()
}

// add starts one more node, n<len>, and returns it.
func (c *cluster) add() *testNode {
	c.t.Helper()
	i := len(c.nodes)
	nd := &testNode{name: fmt.Sprintf("n%d", i), id: fmt.Sprintf("id-%d", i)}
	nd.dir = filepath.Join(c.dir, nd.name)
	c.nodes = append(c.nodes, nd)
	c.start(nd)
	return nd
}

// leave stops nd after it leaves the mesh, as warren node does on SIGTERM.
func (c *cluster) leave(nd *testNode) {
	if nd.cl != nil {
		nd.cl.Close()
		nd.cl = nil
	}
	nd.m.Leave(time.Second)
	c.stop(nd)
}

// kill cuts nd off the network first, as a crash would (no goodbye of any
// kind), then stops it.
func (c *cluster) kill(nd *testNode) {
	c.fabric.Kill(nd.name)
	c.stop(nd)
}

func (c *cluster) waitMembers() {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, "every node sees every other alive", func() bool {
		for _, nd := range c.nodes {
			if !nd.up {
				continue
			}
			alive := 0
			for _, p := range nd.m.Members() {
				if p.State == mesh.StateAlive {
					alive++
				}
			}
			if alive != c.upCount() {
				return false
			}
		}
		return true
	})
}

func (c *cluster) upCount() int {
	n := 0
	for _, nd := range c.nodes {
		if nd.up {
			n++
		}
	}
	return n
}

func (c *cluster) servers() []Server {
	var s []Server
	for _, nd := range c.nodes {
		s = append(s, Server{ID: nd.id, Name: nd.name})
	}
	return s
}

// startGroup starts group id on nd with a fresh kvFSM.
func (c *cluster) startGroup(nd *testNode, id string, tune func(*GroupConfig)) *Group {
	c.t.Helper()
	f := newKV()
	cfg := GroupConfig{ID: id, Transport: nd.tr, DB: nd.db, Dir: nd.dir, FSM: f, Logger: testLogger().With("node", nd.name)}
	if tune != nil {
		tune(&cfg)
	}
	g, err := StartGroup(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	nd.groups[id], nd.fsms[id] = g, f
	return g
}

// leader waits for a node that is up to lead group id, and returns it.
func (c *cluster) leader(id string, within time.Duration) *testNode {
	c.t.Helper()
	var l *testNode
	waitFor(c.t, within, "a leader of "+id, func() bool {
		for _, nd := range c.nodes {
			if g := nd.groups[id]; nd.up && g != nil && g.IsLeader() {
				l = nd
				return true
			}
		}
		return false
	})
	return l
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		<-tick.C
	}
	return time.Since(start)
}

// kvFSM is a map of strings; a command is "key=value". Apply returns the
// number of keys.
type kvFSM struct {
	mu       sync.Mutex
	m        map[string]string
	applied  uint64
	restores int
}

func newKV() *kvFSM { return &kvFSM{m: map[string]string{}} }

func (f *kvFSM) Apply(index, _ uint64, cmd []byte) any {
	k, v, ok := strings.Cut(string(cmd), "=")
	if !ok {
		return fmt.Errorf("bad command %q", cmd)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[k] = v
	f.applied = index
	return len(f.m)
}

func (f *kvFSM) Snapshot() (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.m)
	return kvSnap(b), err
}

func (f *kvFSM) Restore(r io.Reader) error {
	m := map[string]string{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m = m
	f.restores++
	return nil
}

func (f *kvFSM) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

func (f *kvFSM) get(k string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[k]
}

func (f *kvFSM) restored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restores
}

type kvSnap []byte

func (s kvSnap) Write(w io.Writer) error { _, err := w.Write(s); return err }
func (s kvSnap) Release()                {}
