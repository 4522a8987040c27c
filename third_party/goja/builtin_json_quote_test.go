package goja

import (
	"fmt"
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

// TestJSONStringifyNestedRandom writes random nested objects and arrays,
// built from JS source, and compares with the text the generator expects
// (the keys of nested objects share one buffer while being written).
func TestJSONStringifyNestedRandom(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	var gen func(depth int) (src, want string)
	gen = func(depth int) (string, string) {
		switch k := rnd.Intn(6); {
		case k < 2 && depth < 5:
			n := rnd.Intn(5)
			src, want := "{", "{"
			for i := 0; i < n; i++ {
				s, w := gen(depth + 1)
				key := fmt.Sprintf("k%c%d", 'a'+rune(rnd.Intn(3)), i)
				if i > 0 {
					src += ","
					want += ","
				}
				src += fmt.Sprintf("%q:%s", key, s)
				want += fmt.Sprintf("%q:%s", key, w)
			}
			return src + "}", want + "}"
		case k < 4 && depth < 5:
			n := rnd.Intn(5)
			src, want := "[", "["
			for i := 0; i < n; i++ {
				s, w := gen(depth + 1)
				if i > 0 {
					src += ","
					want += ","
				}
				src += s
				want += w
			}
			return src + "]", want + "]"
		case k == 4:
			v := fmt.Sprint(rnd.Intn(1000))
			return v, v
		default:
			v := fmt.Sprintf("%q", []string{"a", "b\"c", "d\\e", "f\ng", "é"}[rnd.Intn(5)])
			return v, v
		}
	}
	vm := New()
	for i := 0; i < 2000; i++ {
		src, want := gen(0)
		v, err := vm.RunString("JSON.stringify(" + src + ")")
		if err != nil {
			t.Fatal(err)
		}
		if got := v.String(); got != want {
			t.Fatalf("JSON.stringify(%s) = %s, want %s", src, got, want)
		}
	}
}
