package replication

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/replication/internal/kvsm"
)

// ErrKVFull: the write was refused because the disk of the node that
// would log it is down to its reserve (ClusterConfig.DiskReserve). Nothing
// was changed. Deletes are still taken, so that room can be made.
var ErrKVFull = errors.New("replication: the disk is full")

// ReservedNamespacePrefix starts the namespaces a node keeps its own
// state in (deployments, token revocations, cron state): clients cannot
// write them, and the disk guard lets their writes through, so that an
// admin can still revoke a token on a node whose disk is at its reserve.
const ReservedNamespacePrefix = "warren."

// DefaultDiskReserve is the free space a node keeps on its data disk by
// default: writes that would take from it are refused with ErrKVFull.
const DefaultDiskReserve = 256 << 20

// diskCheckEvery bounds how often a guard asks the file system.
const diskCheckEvery = 100 * time.Millisecond

// diskGuard refuses writes that would take the disk of dir below its
// reserve, so that Raft's own appends (elections, configuration changes),
// badger's compactions and snapshots, which need room to make room, never
// meet a full disk through clients' writes. (A disk filled by something
// else still gives errors, not a crash: badger allocates its mapped files'
// blocks before writing them, see third_party/badger-patches 0006.)
type diskGuard struct {
	dir     string
	reserve uint64 // 0: no guard

	mu      sync.Mutex
	checked time.Time // zero: never
	free    uint64    // as of checked; MaxUint64 when it could not tell
}

func newDiskGuard(dir string, reserve int64) *diskGuard {
	if reserve <= 0 {
		return &diskGuard{dir: dir}
	}
	return &diskGuard{dir: dir, reserve: uint64(reserve)}
}

// admit returns nil, or an error wrapping ErrKVFull when a command of the
// kind of cmd (a kvsm command) must not be proposed now: puts and object
// writes are refused below the reserve; deletes and expiries, which make
// room, always pass, and so do puts to the node's own namespaces
// (ReservedNamespacePrefix).
func (g *diskGuard) admit(cmd []byte) error {
	if g == nil || g.reserve == 0 || len(cmd) < 2 {
		return nil
	}
	op := kvsm.Op(cmd[1])
	if op != kvsm.OpPut && op != kvsm.OpObject {
		return nil
	}
	free := g.freeNow()
	if free >= g.reserve {
		return nil
	}
	// Below the reserve only: a put is decoded to see its namespace.
	if op == kvsm.OpPut {
		if c, err := kvsm.DecodeCommand(cmd); err == nil && strings.HasPrefix(c.Namespace, ReservedNamespacePrefix) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s has %d MiB free, under the %d MiB this node keeps in reserve; writes are refused until there is room (deletes are taken)",
		ErrKVFull, g.dir, free>>20, g.reserve>>20)
}

// freeNow is the free space of dir's file system, asked of it at most
// every diskCheckEvery. When the file system cannot tell, it is taken as
// room enough: the writes' own errors will say.
func (g *diskGuard) freeNow() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := time.Now(); g.checked.IsZero() || now.Sub(g.checked) >= diskCheckEvery {
		free, err := freeBytes(g.dir)
		if err != nil {
			free = math.MaxUint64
		}
		g.checked, g.free = now, free
	}
	return g.free
}
