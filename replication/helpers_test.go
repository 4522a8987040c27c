package replication

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/warrenmesh/warren/mesh"
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
	dir    string
	nodes  []*testNode
}

type testNode struct {
	name, id, dir string
	m             *mesh.Mesh
	tr            *Transport
	db            *badger.DB
	up            bool
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, fabric: testnet.NewFabric(1), dir: t.TempDir()}
	for i := range n {
		nd := &testNode{name: fmt.Sprintf("n%d", i), id: fmt.Sprintf("id-%d", i)}
		nd.dir = filepath.Join(c.dir, nd.name)
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.stop(nd)
		}
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
	pc, err := c.fabric.Listen(nd.name)
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
	if nd.db, err = OpenDB(filepath.Join(nd.dir, "db"), testLogger()); err != nil {
		c.t.Fatal(err)
	}
	nd.up = true
	var others []string
	for _, o := range c.nodes {
		if o != nd && o.up {
			others = append(others, c.fabric.Addr(o.name).String())
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
	nd.m.Close()
	nd.db.Close()
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
