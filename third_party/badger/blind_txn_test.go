/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A blind transaction starts while an earlier commit is still being
// applied (where NewTransaction(true) waits for it), cannot read, and its
// writes commit, are read back, and win over the earlier ones of a key.
func TestBlindTransaction(t *testing.T) {
	runBadgerTest(t, nil, func(t *testing.T, db *DB) {
		require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set([]byte("k"), []byte("old")) }))

		// A commit that has its timestamp and is not applied yet.
		db.orc.Lock()
		pending := db.orc.nextTxnTs
		db.orc.nextTxnTs++
		db.orc.txnMark.Begin(pending)
		db.orc.Unlock()

		ordinary := make(chan *Txn, 1)
		go func() { ordinary <- db.NewTransaction(true) }()
		blind := db.NewBlindTransaction() // returns at once
		select {
		case txn := <-ordinary:
			txn.Discard()
			t.Fatal("an ordinary transaction started before the earlier commit was applied")
		case <-time.After(50 * time.Millisecond):
		}

		_, err := blind.Get([]byte("k"))
		require.ErrorIs(t, err, ErrBlindRead)
		require.PanicsWithValue(t, ErrBlindRead, func() { blind.NewIterator(DefaultIteratorOptions) })
		require.NoError(t, blind.Set([]byte("k"), []byte("new")))
		require.NoError(t, blind.Set([]byte("b"), []byte("blind")))

		db.orc.txnMark.Done(pending) // the earlier commit is applied
		txn := <-ordinary
		txn.Discard()
		require.NoError(t, blind.Commit())

		require.NoError(t, db.View(func(txn *Txn) error {
			for k, want := range map[string]string{"k": "new", "b": "blind"} {
				item, err := txn.Get([]byte(k))
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				require.Equal(t, want, string(v), k)
			}
			return nil
		}))
	})
}

// A blind transaction discarded unused releases its read mark, so the
// oldest read timestamp moves on.
func TestBlindTransactionDiscard(t *testing.T) {
	runBadgerTest(t, nil, func(t *testing.T, db *DB) {
		txn := db.NewBlindTransaction()
		txn.Discard()
		require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set([]byte("k"), []byte("v")) }))
		require.Eventually(t, func() bool { return db.orc.readMark.DoneUntil() >= txn.readTs }, 5*time.Second, time.Millisecond)
	})
}
