// Copyright IBM Corp. 2013, 2025
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"testing"

	"github.com/hashicorp/go-hclog"
)

// An append entries request stops taking entries once their bytes reach
// MaxAppendEntriesBytes, always carries one, and without the bound carries
// MaxAppendEntries of any size.
func TestSetNewLogs_MaxAppendEntriesBytes(t *testing.T) {
	store := NewInmemStore()
	for i := uint64(1); i <= 10; i++ {
		if err := store.StoreLog(&Log{Index: i, Term: 1, Data: make([]byte, 1<<20)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		maxBytes, want int
	}{
		{0, 8},         // MaxAppendEntries alone
		{3 << 20, 3},   // three entries reach 3 MiB
		{3<<20 + 1, 4}, // the fourth makes it pass
		{1, 1},         // one entry past the bound still goes
		{100 << 20, 8}, // MaxAppendEntries first
	} {
		r := &Raft{logs: store, logger: hclog.NewNullLogger()}
		r.conf.Store(Config{MaxAppendEntries: 8, MaxAppendEntriesBytes: c.maxBytes})
		var req AppendEntriesRequest
		if err := r.setNewLogs(&req, 1, 10); err != nil {
			t.Fatal(err)
		}
		if len(req.Entries) != c.want || req.Entries[0].Index != 1 {
			t.Errorf("MaxAppendEntriesBytes %d: %d entries from %d, want %d from 1", c.maxBytes, len(req.Entries), req.Entries[0].Index, c.want)
		}
	}
}
