package goja

import (
	"strings"
	"testing"
)

func TestBigIntLimits(t *testing.T) {
	const tooBig = "RangeError: Maximum BigInt size exceeded"
	for _, c := range []struct{ src, want string }{
		{`2n ** 10000000000n`, tooBig},
		{`3n ** 1073741824n`, tooBig},
		{`(-2n) ** (2n ** 64n)`, tooBig},
		{`1n << 10000000000n`, tooBig},
		{`1n << (2n ** 64n)`, tooBig}, // was 1n: the shift was read as a uint64
		{`1n >> -(2n ** 64n)`, tooBig},
		{`(1n << 600000000n) * (1n << 600000000n)`, tooBig},
		{`BigInt.asUintN(2 ** 40, -1n)`, tooBig},
		{`let x = 1n; x <<= 10000000000n`, tooBig},
		{`let y = 2n; y **= 10000000000n`, tooBig},
		{`BigInt.asUintN(2 ** 40, 5n)`, "5"},
		{`BigInt.asIntN(2 ** 40, -1n)`, "-1"},
		{`BigInt.asUintN(64, -1n)`, "18446744073709551615"},
		{`BigInt.asIntN(8, 255n)`, "-1"},
		{`1n ** (2n ** 80n)`, "1"},
		{`(-1n) ** (2n ** 80n + 1n)`, "-1"},
		{`(-1n) ** (2n ** 80n)`, "1"},
		{`0n ** (2n ** 80n)`, "0"},
		{`0n << (2n ** 80n)`, "0"},
		{`5n >> 10000000000n`, "0"},
		{`(-5n) >> 10000000000n`, "-1"},
		{`5n >> (2n ** 80n)`, "0"},
		{`(-5n) << -(2n ** 80n)`, "-1"},
		{`1n >> -3n`, "8"},
		{`8n << -2n`, "2"},
		{`-9n >> 1n`, "-5"},
		{`3n ** 5n`, "243"},
		{`(1n << 100n) * 3n`, "3802951800684688204490109616128"},
		{`((1n << 1000n) ** 3n).toString(2).length`, "3001"},
	} {
		vm := New()
		v, err := vm.RunString(c.src)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = v.String()
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q", c.src, got, c.want)
		}
	}
}

// TestBigIntNotFolded: the compiler leaves powers, products and shifts of
// constant BigInts to run time (they may cost seconds there, where the
// interrupt and the size limit apply), and still folds those of numbers.
func TestBigIntNotFolded(t *testing.T) {
	has := func(src string, want func(instruction) bool) bool {
		p, err := Compile("", src, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, ins := range p.code {
			if want(ins) {
				return true
			}
		}
		return false
	}
	isExp := func(ins instruction) bool { _, ok := ins.(_exp); return ok }
	isMul := func(ins instruction) bool { _, ok := ins.(_mul); return ok }
	isShl := func(ins instruction) bool { _, ok := ins.(_sal); return ok }
	for _, c := range []struct {
		src    string
		op     func(instruction) bool
		folded bool
	}{
		{`3n ** 100000000n`, isExp, false},
		{`(-3n) ** 100000000n`, isExp, false},
		{`(3n + 1n) ** 100000000n`, isExp, false},
		{`(1n << 100000000n) * 7n`, isMul, false},
		{`1n << 100000000n`, isShl, false},
		{`2 ** 10`, isExp, true},
		{`6 * 7`, isMul, true},
		{`1 << 5`, isShl, true},
	} {
		if got := !has(c.src, c.op); got != c.folded {
			t.Errorf("%s: folded %v, want %v", c.src, got, c.folded)
		}
	}
}

// TestConstantChainFolds: a long chain of constants still folds to one
// value. Deciding whether a link may be a BigInt once evaluated its
// operands at every level, which made compiling exponential in the
// chain's length (60 links would not have finished).
func TestConstantChainFolds(t *testing.T) {
	p, err := Compile("", strings.Repeat("2 * ", 60)+"1", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ins := range p.code {
		if _, ok := ins.(_mul); ok {
			t.Fatal("the chain was not folded")
		}
	}
	v, err := New().RunProgram(p)
	if err != nil || v.ToFloat() != 1<<60 {
		t.Fatalf("%v, %v", v, err)
	}
}

// BenchmarkCompileConstantChain compiles a chain of 4,000 products of
// numbers, which folds to one value (RATIONALE.md quotes it).
func BenchmarkCompileConstantChain(b *testing.B) {
	src := strings.Repeat("2 * ", 4000) + "1"
	for b.Loop() {
		if _, err := Compile("", src, false); err != nil {
			b.Fatal(err)
		}
	}
}
