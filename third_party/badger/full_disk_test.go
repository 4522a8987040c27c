//go:build linux

/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountSmallDisk mounts a tmpfs of size bytes at a new directory, or skips
// the test where that is not permitted (not root).
func mountSmallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v): needs root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestFullDisk fills a small disk through badger, with values both in the
// LSM tree and in the value log, and memtables small enough to rotate and
// flush. Before y.Reserve, the process died of SIGBUS as a store through a
// mapping met a hole that the full disk could not fill (so this test could
// only fail by crashing); now writes fail with ENOSPC, what was
// acknowledged stays readable, writes work again once there is room, and
// everything acknowledged survives a reopen.
func TestFullDisk(t *testing.T) {
	disk := mountSmallDisk(t, 24<<20)
	dir := filepath.Join(disk, "db")
	opt := getTestOptions(dir).
		WithMemTableSize(1 << 20).
		WithValueLogFileSize(2 << 20).
		WithValueThreshold(1 << 10).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4)
	db, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	value := func(i int) []byte {
		size := 200 // in the LSM tree
		if i%2 == 1 {
			size = 48 << 10 // in the value log
		}
		return bytes.Repeat([]byte{byte(i)}, size)
	}
	key := func(i int) []byte { return []byte(fmt.Sprintf("key-%06d", i)) }
	var acked []int
	var failures int
	for i := 0; i < 4000 && failures < 50; i++ {
		err := db.Update(func(txn *Txn) error { return txn.Set(key(i), value(i)) })
		if err == nil {
			acked = append(acked, i)
			continue
		}
		if !strings.Contains(err.Error(), "no space left on device") {
			t.Fatalf("write %d: %v, want an error saying the disk is full", i, err)
		}
		failures++
	}
	if failures == 0 {
		t.Fatalf("%d writes all fit on a 24 MiB disk: the test did not fill it", len(acked))
	}
	t.Logf("%d writes acknowledged before the disk filled, then %d failed", len(acked), failures)
	check := func(db *DB) {
		t.Helper()
		err := db.View(func(txn *Txn) error {
			for _, i := range acked {
				item, err := txn.Get(key(i))
				if err != nil {
					return fmt.Errorf("key %d: %w", i, err)
				}
				if v := getItemValue(t, item); !bytes.Equal(v, value(i)) {
					return fmt.Errorf("key %d: a value of %d bytes, want %d", i, len(v), len(value(i)))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(db)

	// Room again: the filler goes, badger's own files stay. Make room by
	// dropping what the test wrote last is not possible (deletes need room
	// too), so the disk grows instead.
	if err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_REMOUNT, "size=64m"); err != nil {
		t.Fatalf("growing the disk: %v", err)
	}
	next := 100000
	for i := next; i < next+20; i++ {
		if err := db.Update(func(txn *Txn) error { return txn.Set(key(i), value(i)) }); err != nil {
			t.Fatalf("write %d once the disk has room: %v", i, err)
		}
		acked = append(acked, i)
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
