package wazero_test

// Tests of warren's patch of the optimizing compiler's loop passes
// (third_party/wazero-patches): deep nesting compiles in linear time.

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// TestWarrenDeepNestingCompiles compiles a function of 12,000 nested loops
// (36 KB) as warren does (WithCloseOnContextDone, which gives each loop
// header a check of its own): the loop detection and the loop nesting
// forest walked the dominator tree, here tens of thousands deep, up from
// every block, and took tens of seconds; it takes half a second now.
func TestWarrenDeepNestingCompiles(t *testing.T) {
	leb := func(v uint64) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			if v >>= 7; v != 0 {
				c |= 0x80
			}
			if b = append(b, c); v == 0 {
				return b
			}
		}
	}
	sec := func(id byte, body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return bytes.Join([][]byte{{id}, leb(uint64(len(b))), b}, nil)
	}
	const depth = 12000
	body := append(bytes.Repeat([]byte{0x03, 0x40}, depth), bytes.Repeat([]byte{0x0b}, depth)...) // loop ... end
	fn := append(append([]byte{0}, body...), 0x0b)
	bin := bytes.Join([][]byte{
		[]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, leb(1), []byte{0x60, 0, 0}),
		sec(3, leb(1), leb(0)),
		sec(7, leb(1), leb(1), []byte("f"), []byte{0, 0}),
		sec(10, leb(1), leb(uint64(len(fn))), fn),
	}, nil)

	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	t0 := time.Now()
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("compiling %d nested loops took %v, want well under 5 s", depth, d)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction("f").Call(ctx); err != nil {
		t.Fatal(err)
	}
}
