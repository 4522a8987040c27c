//go:build linux

package raftbadger

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkDiskSync measures what one durable append costs the disk under
// the test's directory, without badger: a 300-byte write into a
// preallocated 64 MiB file and its fdatasync, or the same through a shared
// mapping and msync (badger's WAL), by one file or by three synced at once
// (three nodes on one disk, as in the KV bench), and the CPU time (user
// and system, of the whole process) each append took. docs/performance.md
// ("KV writes") quotes it: the sync itself is not what bounds the write
// rate, but an msync costs more CPU than a write and an fdatasync.
//
//	go test ./replication/internal/raftbadger -run XXX -bench DiskSync -benchtime 3s
func BenchmarkDiskSync(b *testing.B) {
	for _, mode := range []string{"fdatasync", "msync"} {
		for _, files := range []int{1, 3} {
			b.Run(mode+"/files="+strconv.Itoa(files), func(b *testing.B) { benchDiskSync(b, mode, files) })
		}
	}
}

func benchDiskSync(b *testing.B, mode string, files int) {
	const size = 64 << 20
	dir := b.TempDir()
	type target struct {
		f *os.File
		m []byte
	}
	ts := make([]target, files)
	for i := range ts {
		f, err := os.OpenFile(filepath.Join(dir, "f"+strconv.Itoa(i)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			b.Skipf("fallocate: %v", err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		ts[i].f = f
		if mode == "msync" {
			m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { unix.Munmap(m) })
			ts[i].m = m
		}
	}
	rec := make([]byte, 300)
	per := b.N/files + 1
	var r0 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &r0)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				off := (i * len(rec)) % (size - len(rec))
				var err error
				if t.m != nil {
					copy(t.m[off:], rec)
					err = unix.Msync(t.m, unix.MS_SYNC)
				} else if _, err = t.f.WriteAt(rec, int64(off)); err == nil {
					err = unix.Fdatasync(int(t.f.Fd()))
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	var r1 unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &r1) == nil {
		cpu := r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano()
		b.ReportMetric(float64(cpu)/1e3/float64(per*files), "cpu-µs/op")
	}
}
