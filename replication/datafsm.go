package replication

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/warrenmesh/warren/replication/internal/kvsm"
	"github.com/warrenmesh/warren/replication/placement"
)

// kvPrefixOf is the key prefix of data group g's state machine in the
// node's database: fixed length, so no group's prefix is another's.
func kvPrefixOf(g placement.GroupID) []byte {
	return binary.BigEndian.AppendUint32([]byte("kv\x00"), uint32(g))
}

// dataFSM is a data group's state machine: the KV store, on the node's
// database, synced, so it resumes from disk at a restart
// (GroupConfig.PersistentFSM).
type dataFSM struct {
	s *kvsm.Store
	// failed is called when a command could not be applied for a reason
	// of storage: the replica must stop rather than go on without it.
	failed func(error)
}

func (f *dataFSM) Apply(index, term uint64, cmd []byte) any {
	return f.ApplyBatch([]Command{{Index: index, Term: term, Data: cmd}})[0]
}

// ApplyBatch applies what raft committed together in one badger
// transaction (kvsm.Store.ApplyBatch), with one write of the applied
// index.
func (f *dataFSM) ApplyBatch(cmds []Command) []any {
	entries := make([]kvsm.Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = kvsm.Entry{Index: c.Index, Term: c.Term, Data: c.Data}
	}
	rs := f.s.ApplyBatch(entries)
	out := make([]any, len(rs))
	failed := false
	for i, r := range rs {
		if r.Err != nil && !isInvalid(r.Err) && !errors.Is(r.Err, kvsm.ErrStaleOwner) && !failed && f.failed != nil {
			failed = true // the rest of the batch failed with it
			f.failed(r.Err)
		}
		out[i] = r
	}
	return out
}

type dataSnap struct{ sn *kvsm.Snapshot }

func (s dataSnap) Write(w io.Writer) error { _, err := s.sn.WriteTo(w); return err }
func (s dataSnap) Release()                { s.sn.Close() }

func (f *dataFSM) Snapshot() (Snapshot, error) {
	sn, err := f.s.Snapshot()
	if err != nil {
		return nil, err
	}
	return dataSnap{sn}, nil
}

func (f *dataFSM) Restore(r io.Reader) error { return f.s.Restore(r) }
