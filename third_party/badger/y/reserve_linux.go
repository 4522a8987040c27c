//go:build linux

/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package y

import (
	"errors"

	"github.com/dgraph-io/ristretto/v2/z"
	"golang.org/x/sys/unix"
)

// Reserve allocates the disk blocks behind bytes [off, off+n) of mf's file.
//
// Badger writes its memtable WALs, value logs, tables and discard stats
// through shared mappings of files it sizes with ftruncate, which leaves
// holes. A store into a hole needs a block, and on a full disk the kernel
// can only answer that page fault with SIGBUS, which kills the process: a
// full disk crashed every process using badger where a write(2) would have
// returned ENOSPC. With the blocks allocated up front, the mapping's stores
// cannot fail, and a full disk is an ENOSPC error from the file's creation
// or growth. A file system without fallocate keeps the old behaviour.
func Reserve(mf *z.MmapFile, off, n int64) error {
	if n <= 0 || mf == nil || mf.Fd == nil {
		return nil
	}
	for {
		err := unix.Fallocate(int(mf.Fd.Fd()), 0, off, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return nil
		default:
			return err
		}
	}
}
