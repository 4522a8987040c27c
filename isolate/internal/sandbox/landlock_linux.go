//go:build linux

package sandbox

import (
	"errors"
	"fmt"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// landlockSupported reports whether applyLandlock does anything here.
const landlockSupported = true

// The rights a worker keeps under Landlock: reading Config.ReadOnlyDirs (and the
// directories its engine named with AllowRead), reading and writing
// Config.WritableDirs; nothing else of the file system, no file executed anywhere.
const (
	landlockRead  = llsys.AccessFSReadFile | llsys.AccessFSReadDir
	landlockWrite = landlockRead | llsys.AccessFSWriteFile | llsys.AccessFSRemoveFile | llsys.AccessFSRemoveDir |
		llsys.AccessFSMakeReg | llsys.AccessFSMakeDir | llsys.AccessFSTruncate | llsys.AccessFSRefer
)

// landlockABI is the Landlock ABI version the kernel offers, 0 where it has none
// (not built in, or not enabled at boot).
func landlockABI() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
}

var errNoLandlock = errors.New("the kernel has no Landlock (before Linux 5.13, or not enabled at boot)")

// applyLandlock restricts every thread of this worker, for good, to what it needs of
// the host: the file hierarchies of readOnly (read) and writable (read and write), no
// other file (read, written, created or executed), no TCP bind or connect (Landlock ABI
// 4), no signal to a process outside its own Landlock domain and no abstract unix
// socket of one (ABI 6: the node, other workers, any process of the host, also of the
// same uid). What the kernel's ABI lacks is left out (go-landlock's best effort); abi
// is that version. Files open already (the channel to the node, stdio, the directories
// of WritablePath) stay usable.
func applyLandlock(readOnly, writable []string) (abi int, err error) {
	if abi = landlockABI(); abi < 1 {
		return 0, errNoLandlock
	}
	var rules []landlock.Rule
	if len(readOnly) > 0 {
		rules = append(rules, landlock.PathAccess(landlockRead, readOnly...))
	}
	if len(writable) > 0 {
		rules = append(rules, landlock.PathAccess(landlockWrite, writable...))
	}
	if err := landlock.V11.BestEffort().Restrict(rules...); err != nil {
		return abi, fmt.Errorf("landlock: %w", err)
	}
	return abi, nil
}
