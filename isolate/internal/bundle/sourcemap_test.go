package bundle

import (
	"math/rand"
	"strings"
	"testing"
)

type segment struct{ gen, src, line, col, name, n int }

// decodeAll returns absolute segment values per line.
func decodeAll(t *testing.T, mappings string) [][]segment {
	t.Helper()
	var out [][]segment
	var src, line, col, name int
	var f [5]int
	for _, l := range strings.Split(mappings, ";") {
		var segs []segment
		gen := 0
		if l != "" {
			for _, s := range strings.Split(l, ",") {
				n, ok := decodeSegment(s, &f)
				if !ok {
					t.Fatalf("bad segment %q", s)
				}
				gen += f[0]
				sg := segment{gen: gen, n: n}
				if n >= 4 {
					src += f[1]
					line += f[2]
					col += f[3]
					sg.src, sg.line, sg.col = src, line, col
				}
				if n == 5 {
					name += f[4]
					sg.name = name
				}
				segs = append(segs, sg)
			}
		}
		out = append(out, segs)
	}
	return out
}

func encodeAll(lines [][]segment) string {
	var sb strings.Builder
	var src, line, col, name int
	for i, segs := range lines {
		if i > 0 {
			sb.WriteByte(';')
		}
		gen := 0
		for j, s := range segs {
			if j > 0 {
				sb.WriteByte(',')
			}
			encodeVLQ(&sb, s.gen-gen)
			gen = s.gen
			if s.n >= 4 {
				encodeVLQ(&sb, s.src-src)
				encodeVLQ(&sb, s.line-line)
				encodeVLQ(&sb, s.col-col)
				src, line, col = s.src, s.line, s.col
			}
			if s.n == 5 {
				encodeVLQ(&sb, s.name-name)
				name = s.name
			}
		}
	}
	return sb.String()
}

func TestShiftColumns(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := 0; iter < 200; iter++ {
		var lines [][]segment
		for l := r.Intn(6); l >= 0; l-- {
			var segs []segment
			gen := 0
			for k := r.Intn(4); k > 0; k-- {
				gen += r.Intn(100)
				n := []int{1, 4, 4, 5}[r.Intn(4)]
				segs = append(segs, segment{gen: gen, n: n, src: r.Intn(3), line: r.Intn(1000), col: r.Intn(5000), name: r.Intn(9)})
			}
			lines = append(lines, segs)
		}
		in := encodeAll(lines)
		out, ok := shiftColumns(in)
		if !ok {
			t.Fatalf("shiftColumns(%q) failed", in)
		}
		got := decodeAll(t, out)
		if len(got) != len(lines) {
			t.Fatalf("%q -> %q: %d lines, want %d", in, out, len(got), len(lines))
		}
		for i := range lines {
			for j, w := range lines[i] {
				w.gen++
				if w.n >= 4 {
					w.col++
				} else {
					w = segment{gen: w.gen, n: w.n}
				}
				g := got[i][j]
				if g.n < 4 {
					g = segment{gen: g.gen, n: g.n}
				}
				if w.n < 5 {
					g.name, w.name = 0, 0
				}
				if g != w {
					t.Fatalf("%q -> %q: line %d seg %d = %+v, want %+v", in, out, i, j, g, w)
				}
			}
		}
	}
	for _, bad := range []string{"!", "AAAAAAA", "g", "////////"} {
		if _, ok := shiftColumns(bad); ok {
			t.Errorf("shiftColumns(%q) accepted", bad)
		}
	}
}
