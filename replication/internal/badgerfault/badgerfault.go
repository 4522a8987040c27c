// Package badgerfault makes a badger database fail where a full disk or an
// I/O error would, for tests: its next memtable rotation cannot make its
// write-ahead log.
package badgerfault

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BlockRotation makes the next memtable rotation of the database in dir
// fail: a directory stands where badger's next memtable WAL (NNNNN.mem)
// would be made. The returned func removes it (the disk has room again).
func BlockRotation(dir string) (unblock func() error, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var fids []int
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".mem"); ok {
			if fid, err := strconv.Atoi(n); err == nil {
				fids = append(fids, fid)
			}
		}
	}
	if len(fids) == 0 {
		return nil, fmt.Errorf("badgerfault: no memtable WAL in %s", dir)
	}
	next := filepath.Join(dir, fmt.Sprintf("%05d.mem", slices.Max(fids)+1))
	if err := os.Mkdir(next, 0o755); err != nil {
		return nil, err
	}
	return func() error { return os.Remove(next) }, nil
}
