package goja

import (
	"math/rand"
	"testing"
	"time"
)

// TestJSONQuoteASCIIDifferential checks quote's fast path for ASCII
// strings against the character-by-character quoteRunes.
func TestJSONQuoteASCIIDifferential(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rnd.Intn(40))
		for j := range b {
			switch rnd.Intn(4) {
			case 0:
				b[j] = byte(rnd.Intn(0x80))
			case 1:
				b[j] = `"\/`[rnd.Intn(3)]
			default:
				b[j] = byte(0x20 + rnd.Intn(0x5f))
			}
		}
		s := asciiString(b)
		fast := _builtinJSON_stringifyContext{allAscii: true}
		fast.quote(s)
		slow := _builtinJSON_stringifyContext{allAscii: true}
		slow.quoteRunes(s)
		if fast.buf.String() != slow.buf.String() || fast.allAscii != slow.allAscii {
			t.Fatalf("quote(%q) = %q, want %q", s, fast.buf.String(), slow.buf.String())
		}
	}
}

func BenchmarkJSONStringifyObjects(b *testing.B) {
	vm := New()
	prg := MustCompile("stringify.js", `
	var items = [];
	for (var i = 0; i < 10000; i++) items.push({id: i, name: "item" + i, score: i / 4, tags: ["a", "b\n"], ok: true});
	`, false)
	if _, err := vm.RunProgram(prg); err != nil {
		b.Fatal(err)
	}
	stringify, _ := AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	items := vm.Get("items")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := stringify(nil, items); err != nil {
			b.Fatal(err)
		}
	}
}
