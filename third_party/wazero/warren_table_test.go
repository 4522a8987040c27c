package wazero_test

// Tests of warren's patch adding experimental.WithTableLimiter
// (third_party/wazero-patches): a table's entries are asked for.

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

type entryBudget struct{ left uint64 }

func (b *entryBudget) GrowTable(n uint64) bool {
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

// TestWarrenTableLimiter: a module's declared table minimum and its
// table.grow are asked of the limiter of the context it was instantiated
// with, and refused past it.
func TestWarrenTableLimiter(t *testing.T) {
	// (module (table 100 funcref)
	//   (func (export "grow") (param i32) (result i32)
	//     (table.grow (ref.null func) (local.get 0))))
	bin, err := hex.DecodeString("0061736d01000000" + "01060160017f017f" + "03020100" + "040401700064" + "0708010467726f770000" + "0a0b010900d0702000fc0f000b")
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []wazero.RuntimeConfig{wazero.NewRuntimeConfigCompiler(), wazero.NewRuntimeConfigInterpreter()} {
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, cfg)
		cm, err := rt.CompileModule(ctx, bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.InstantiateModule(experimental.WithTableLimiter(ctx, &entryBudget{left: 99}), cm, wazero.NewModuleConfig().WithName("")); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("100 entries declared, 99 allowed: %v, want an error", err)
		}
		b := &entryBudget{left: 150}
		mod, err := rt.InstantiateModule(experimental.WithTableLimiter(ctx, b), cm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		grow := mod.ExportedFunction("grow")
		for _, c := range []struct{ n, want uint64 }{{40, 100}, {20, 0xffffffff}, {10, 140}} {
			if res, err := grow.Call(ctx, c.n); err != nil || res[0] != c.want {
				t.Errorf("grow(%d) = %v, %v; want %d", c.n, res, err, int32(c.want))
			}
		}
		_ = rt.Close(ctx)
	}
}
