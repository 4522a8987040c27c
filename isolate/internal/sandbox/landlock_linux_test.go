package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestLandlock: with every other layer off (host namespaces, root, no seccomp), a
// worker restricted by Landlock reads only its ReadOnlyDirs and the directories its
// engine named, writes only its WritableDirs, reads no other file (one any user may
// read), connects to no TCP port (ABI 4) and signals no process outside its domain,
// here the node (ABI 6); a NoLandlock worker of the same pool settings does all of it.
func TestLandlock(t *testing.T) {
	abi := landlockABI()
	if abi < 1 {
		t.Skip("the kernel has no Landlock here")
	}
	ro, rw, other := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(ro, "entry"), filepath.Join(other, "secret")} {
		if err := os.WriteFile(f, []byte("compiled"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dial := "dial " + hostListener(t)
	kill := "kill " + strconv.Itoa(os.Getpid())
	bare := Config{Workers: 1, Spares: -1, SharedNamespaces: true, NoDropPrivileges: true, HostNetwork: true, NoSeccomp: true,
		ReadOnlyDirs: []string{ro}, WritableDirs: []string{rw}}

	open := bare
	open.NoLandlock = true
	q := newTestPool(t, open)
	if l := q.Stats().Layers; slices.Contains(l, landlockLayer) || q.Stats().LandlockABI != 0 {
		t.Errorf("NoLandlock: layers %v, ABI %d", l, q.Stats().LandlockABI)
	}
	for req, want := range map[string]string{
		"read " + filepath.Join(other, "secret"): "read 8",
		"write " + filepath.Join(ro, "planted"):  "wrote",
		dial:                                     "connected",
		kill:                                     "signalled",
	} {
		if out := call(t, q, req); out != want {
			t.Errorf("NoLandlock: %s: %q, want %q", req, out, want)
		}
	}
	os.Remove(filepath.Join(ro, "planted"))

	p := newTestPool(t, bare)
	st := p.Stats()
	if !slices.Contains(st.Layers, landlockLayer) || st.LandlockABI != abi {
		t.Fatalf("layers %v, Landlock ABI %d, want %q and the kernel's %d", st.Layers, st.LandlockABI, landlockLayer, abi)
	}
	denied := "permission denied"
	want := [][2]string{ // in order: the write before the read of what it wrote
		{"read " + filepath.Join(ro, "entry"), "read 8"},
		{"write " + filepath.Join(rw, "x"), "wrote"},
		{"read " + filepath.Join(rw, "x"), "read 1"},
		{"read " + filepath.Join(other, "secret"), denied},
		{"write " + filepath.Join(ro, "planted"), denied},
		{"write " + filepath.Join(other, "x"), denied},
		{"read /etc/passwd", denied},
	}
	if abi >= 4 {
		want = append(want, [2]string{dial, denied})
	}
	if abi >= 6 {
		want = append(want, [2]string{kill, "operation not permitted"})
	}
	for _, c := range want {
		if out := call(t, p, c[0]); !strings.Contains(out, c[1]) {
			t.Errorf("%s: %q, want %q", c[0], out, c[1])
		}
	}
	for _, f := range []string{filepath.Join(ro, "planted"), filepath.Join(other, "x")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("the worker wrote %s", f)
		}
	}
}
