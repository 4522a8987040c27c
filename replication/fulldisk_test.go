//go:build linux

package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestGroupElectionOnFullDisk: a node whose data disk (a tmpfs, so the
// test needs root) another file has filled cannot store a new raft term.
// raft used to panic then, taking the whole node down at the next
// election; now the node refuses to vote or campaign in a term it cannot
// store, stays up, and the group elects a leader once there is room again.
func TestGroupElectionOnFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a node on a small disk")
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=200m"); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v): needs root", err)
	}
	// Registered before the cluster, so that it runs after the nodes stop.
	t.Cleanup(func() { _ = syscall.Unmount(disk, syscall.MNT_DETACH) })
	c := newClusterWith(t, 3, &cluster{dirOf: func(name string) string {
		if name == "n2" {
			return filepath.Join(disk, name)
		}
		return ""
	}})
	full := c.nodes[2]
	const id = "g"
	for _, nd := range c.nodes {
		c.startGroup(nd, id, nil)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	leader := c.leader(id, 20*time.Second)
	if leader == full {
		if err := full.groups[id].TransferTo(c.nodes[0].name); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the leader on a node with room", func() bool {
			return !full.groups[id].IsLeader() && c.nodes[0].groups[id].IsLeader()
		})
		leader = c.nodes[0]
	}
	if _, err := leader.groups[id].Apply(context.Background(), []byte("before=1")); err != nil {
		t.Fatal(err)
	}
	var rest *testNode
	for _, nd := range c.nodes {
		if nd != leader && nd != full {
			rest = nd
		}
	}

	// Another file takes the disk.
	filler, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	filler.Close()
	// badger writes into a memtable whose log has room allocated ahead:
	// writes fail only once that room is used up and no more can be had.
	// The node's other writes use it up (here, straight into its
	// database): large batches first, then writes as small as a term's,
	// until even those fail.
	var dbErr error
	n := 0
	for _, batch := range []struct{ entries, size int }{{500, 1 << 10}, {1, 1 << 10}, {1, 8}} {
		val := make([]byte, batch.size)
		for dbErr = nil; dbErr == nil; n++ {
			if n == 100_000 {
				t.Fatal("the database took 100000 writes on a full disk")
			}
			dbErr = full.db.Update(func(txn *badger.Txn) error {
				for j := range batch.entries {
					if err := txn.Set(fmt.Appendf(nil, "fulldisk-test/%d/%d", n, j), val); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	t.Logf("the full node's database refuses writes: %v", dbErr)

	// The leader crashes. The survivor campaigns again and again, asking the
	// full node for its vote, which it cannot give: no leader, and the full
	// node stays up, in its term.
	term := full.groups[id].Status().Term
	start := rest.groups[id].Status().Term
	c.kill(leader)
	waitFor(t, time.Minute, "the survivor has asked for votes in three new terms", func() bool {
		for _, nd := range []*testNode{rest, full} {
			if st := nd.groups[id].Status(); st.State == "leader" || st.State == "shutdown" {
				t.Fatalf("%s is %s with its peer's disk full", nd.name, st.State)
			}
		}
		return rest.groups[id].Status().Term >= start+3
	})
	if st := full.groups[id].Status(); st.Term != term {
		t.Fatalf("the full node is in term %d, was in %d: it took a term it could not store", st.Term, term)
	}

	// Room again: the two elect a leader, which takes writes.
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	nl := c.leader(id, time.Minute)
	t.Logf("%s leads after the disk has room again", nl.name)
	if _, err := nl.groups[id].Apply(context.Background(), []byte("after=1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the formerly full node applied the new write", func() bool {
		return full.fsms[id].get("after") == "1"
	})
}
