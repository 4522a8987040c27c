package replication

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/warrenmesh/warren/replication/placement"
)

// metaView is what the meta group records: each group's members, as the
// meta leader last saw its configuration. Every node keeps a copy: meta
// members from their state machine, the others by asking a meta member.
// It is how a node finds a group's replicas (to reach its leader) and
// learns which groups it should run.
type metaView struct {
	// Version is the meta group's index at which this view was applied.
	Version uint64 `json:"version"`
	// Groups maps a group id (0 is the meta group) to its members.
	Groups map[placement.GroupID][]viewReplica `json:"groups"`
}

// viewReplica is one member of a group.
type viewReplica struct {
	Name  string `json:"name"` // mesh member name: raft's address
	ID    string `json:"id"`   // mesh node id: raft's server id
	Voter bool   `json:"voter"`
}

// has reports whether name is a member of group g.
func (v *metaView) has(g placement.GroupID, name string) bool {
	if v == nil {
		return false
	}
	for _, r := range v.Groups[g] {
		if r.Name == name {
			return true
		}
	}
	return false
}

// metaCmd is a command of the meta group: set one group's members.
type metaCmd struct {
	Group    placement.GroupID `json:"group"`
	Replicas []viewReplica     `json:"replicas"`
}

// metaFSM is the meta group's state machine: the view, in memory,
// rebuilt from the snapshot and the log at start.
type metaFSM struct {
	mu       sync.Mutex
	view     *metaView // replaced, never modified
	onChange func(*metaView)
}

func newMetaFSM(onChange func(*metaView)) *metaFSM {
	return &metaFSM{view: &metaView{Groups: map[placement.GroupID][]viewReplica{}}, onChange: onChange}
}

func (f *metaFSM) current() *metaView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.view
}

func (f *metaFSM) Apply(index, _ uint64, cmd []byte) any {
	var c metaCmd
	if err := json.Unmarshal(cmd, &c); err != nil {
		return fmt.Errorf("meta: bad command: %w", err)
	}
	f.mu.Lock()
	v := &metaView{Version: index, Groups: maps.Clone(f.view.Groups)}
	if len(c.Replicas) == 0 {
		delete(v.Groups, c.Group)
	} else {
		rs := slices.Clone(c.Replicas)
		slices.SortFunc(rs, func(a, b viewReplica) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
		v.Groups[c.Group] = rs
	}
	f.view = v
	f.mu.Unlock()
	if f.onChange != nil {
		f.onChange(v)
	}
	return nil
}

type metaSnap struct{ b []byte }

func (s metaSnap) Write(w io.Writer) error { _, err := w.Write(s.b); return err }
func (metaSnap) Release()                  {}

func (f *metaFSM) Snapshot() (Snapshot, error) {
	b, err := json.Marshal(f.current())
	if err != nil {
		return nil, err
	}
	return metaSnap{b}, nil
}

func (f *metaFSM) Restore(r io.Reader) error {
	var v metaView
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&v); err != nil {
		return fmt.Errorf("meta: restore: %w", err)
	}
	if v.Groups == nil {
		v.Groups = map[placement.GroupID][]viewReplica{}
	}
	f.mu.Lock()
	f.view = &v
	f.mu.Unlock()
	if f.onChange != nil {
		f.onChange(&v)
	}
	return nil
}
