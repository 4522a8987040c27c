package goja

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/dop251/goja/unistring"
)

// legacyJSONParse is JSON.parse as it was before jsonParser: built on
// encoding/json's token Decoder. The tests check that jsonParser accepts
// the same texts and builds the same values.
func legacyJSONParse(r *Runtime, s string) (Value, error) {
	d := json.NewDecoder(strings.NewReader(s))
	var decodeValue func() (Value, error)
	var decodeToken func(tok json.Token) (Value, error)
	decodeToken = func(tok json.Token) (Value, error) {
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				object := r.NewObject()
				for {
					tok, err := d.Token()
					if err != nil {
						return nil, err
					}
					if tok == json.Delim('}') {
						return object, nil
					}
					key, ok := tok.(string)
					if !ok {
						return nil, fmt.Errorf("unexpected token %v", tok)
					}
					value, err := decodeValue()
					if err != nil {
						return nil, err
					}
					object.self._putProp(unistring.NewFromString(key), value, true, true, true)
				}
			case '[':
				var values []Value
				for {
					tok, err := d.Token()
					if err != nil {
						return nil, err
					}
					if tok == json.Delim(']') {
						return r.newArrayValues(values), nil
					}
					value, err := decodeToken(tok)
					if err != nil {
						return nil, err
					}
					values = append(values, value)
				}
			}
		case nil:
			return _null, nil
		case string:
			return newStringValue(tok), nil
		case float64:
			return floatToValue(tok), nil
		case bool:
			if tok {
				return valueTrue, nil
			}
			return valueFalse, nil
		}
		return nil, fmt.Errorf("unexpected token %v", tok)
	}
	decodeValue = func() (Value, error) {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		return decodeToken(tok)
	}
	v, err := decodeValue()
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected token at the end")
	}
	return v, nil
}

// sameJSONValue reports whether a and b are the same JSON value: same
// types (int and float kept apart, -0 too), same keys in the same order.
func sameJSONValue(a, b Value) bool {
	switch a := a.(type) {
	case *Object:
		b, ok := b.(*Object)
		if !ok || a.self.className() != b.self.className() {
			return false
		}
		ka, kb := a.self.stringKeys(true, nil), b.self.stringKeys(true, nil)
		if len(ka) != len(kb) {
			return false
		}
		for i := range ka {
			if !ka[i].SameAs(kb[i]) || !sameJSONValue(a.self.getStr(ka[i].string(), nil), b.self.getStr(kb[i].string(), nil)) {
				return false
			}
		}
		return true
	default:
		return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) && a.SameAs(b)
	}
}

func checkJSONParse(t *testing.T, r *Runtime, s string) {
	t.Helper()
	want, wantErr := legacyJSONParse(r, s)
	var got Value
	var gotErr error
	func() {
		defer func() {
			if x := recover(); x != nil {
				o, ok := x.(*Object)
				if !ok {
					panic(x)
				}
				if o.self.getStr("name", nil).String() != "SyntaxError" {
					t.Fatalf("JSON.parse(%q) threw %v, not a SyntaxError", s, o)
				}
				gotErr = errors.New(o.String())
			}
		}()
		p := jsonParser{r: r, s: s}
		got = p.parse()
	}()
	switch {
	case (wantErr == nil) != (gotErr == nil):
		t.Fatalf("JSON.parse(%q): error %v, want error %v", s, gotErr, wantErr)
	case wantErr == nil && !sameJSONValue(got, want):
		t.Fatalf("JSON.parse(%q) = %v, want %v", s, got, want)
	}
}

func TestJSONParseCases(t *testing.T) {
	r := New()
	for _, s := range []string{
		`[1,]`, `{"a":1,}`, `1 2`, `"\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`, `"\ud83d\ude00"`, `"\ud83d\ude0"`,
		`"\ud800\ud800\udc00"`, `"\ud83d\\"`, `"\ud83d\u"`, `1e400`, `-1e400`, `1e-400`, `-`, `01`, `-01`, `[]]`,
		`[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`, "\"a\tb\"", "\"a\x7fb\"", `"\x"`, `tru`, `nulll`, `[`, ``, ` `, "\t\n\r 1 \t\n\r",
		`{"__proto__":1}`, `{"a":1,"a":2,"b":3}`, `-0`, `0`, `-0.0`, `0e0`, `1.5e3`, `1E+2`, `1e-2`, `"\u00e9\uD83D\uDE00"`,
		`{"2":1,"1":2,"b":3}`, `[,1]`, `{,}`, `[1,,2]`, `1.`, `.5`, `1e`, `1e+`, `+1`, `"\/"`, "\ufeff1", `123456789012345`,
		`1234567890123456`, `123456789012345678901234567890`, `-9007199254740993`, `-999999999999999`, `"é"`, `{"é":"ü"}`,
		`{"a\u0062":1,"ab":2}`, `[[[[]]]]`, `{"a":{"b":{"c":[{}]}}}`, `[{},[],{"":""}]`, `{"":1}`, `"`, `"abc`, `"\`,
		`{"a"`, `{"a":`, `{"a":1`, `[1`, `[1,`, `{`, `}`, `]`, `:`, `,`, `nul`, `falsey`, `True`, `NaN`, `Infinity`, `"\u12"`,
		`"\u12G4"`, `"\U0041"`, `{1:2}`, `{"a":1}}`, `[1]]`, `"\b\f\n\r\t\"\\"`,
	} {
		checkJSONParse(t, r, s)
	}
}

// TestJSONParseRandom parses random texts, well-formed and mangled, with
// jsonParser and with the encoding/json based parser it replaced.
func TestJSONParseRandom(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	pieces := []string{"{", "}", "[", "]", ",", ":", " ", "\n", `"`, `\`, "u", "d83d", "de00", "d800", "0", "-", ".", "e", "+",
		"1", "9", "true", "false", "null", "a", "é", "😀", "\t", "\x01", "n", "t"}
	var gen func(depth int) string
	gen = func(depth int) string {
		switch k := rnd.Intn(10); {
		case k == 0 && depth < 6:
			var b strings.Builder
			b.WriteString("{")
			for i := rnd.Intn(4); i > 0; i-- {
				fmt.Fprintf(&b, "%s:%s", gen(9), gen(depth+1))
				if i > 1 {
					b.WriteString(",")
				}
			}
			b.WriteString("}")
			return b.String()
		case k == 1 && depth < 6:
			var b strings.Builder
			b.WriteString("[")
			for i := rnd.Intn(4); i > 0; i-- {
				b.WriteString(gen(depth + 1))
				if i > 1 {
					b.WriteString(" , ")
				}
			}
			b.WriteString("]")
			return b.String()
		case k < 5:
			var b strings.Builder
			b.WriteString(`"`)
			for i := rnd.Intn(5); i > 0; i-- {
				switch rnd.Intn(6) {
				case 0:
					fmt.Fprintf(&b, `\u%04x`, rnd.Intn(0x10000))
				case 1:
					b.WriteString([]string{`\n`, `\"`, `\\`, `\/`, `\t`, `\b`, `é`, `😀`}[rnd.Intn(8)])
				default:
					b.WriteByte(byte('a' + rnd.Intn(3)))
				}
			}
			b.WriteString(`"`)
			return b.String()
		case k < 8:
			n := rnd.Float64() * []float64{1, 10, 1e6, 1e16, 1e300}[rnd.Intn(5)]
			if rnd.Intn(2) == 0 {
				return fmt.Sprint(int64(n) * int64(1-2*rnd.Intn(2)))
			}
			return fmt.Sprint(n * float64(1-2*rnd.Intn(2)))
		default:
			return []string{"true", "false", "null", "0", "-0"}[rnd.Intn(5)]
		}
	}
	r := New()
	for i := 0; i < 20000; i++ {
		s := gen(0)
		if i%2 == 1 {
			// Mangle: cut, insert or replace a piece.
			b := []byte(s)
			at := rnd.Intn(len(b) + 1)
			switch rnd.Intn(3) {
			case 0:
				b = b[:at]
			case 1:
				b = append(b[:at:at], append([]byte(pieces[rnd.Intn(len(pieces))]), b[at:]...)...)
			default:
				if at < len(b) {
					b = append(b[:at:at], append([]byte(pieces[rnd.Intn(len(pieces))]), b[at+1:]...)...)
				}
			}
			s = string(b)
		}
		checkJSONParse(t, r, s)
	}
}

func TestJSONParseDeep(t *testing.T) {
	// Deep nesting is parsed on the heap, not the Go stack.
	vm := New()
	v, err := vm.RunString(`JSON.parse("[".repeat(100000) + "]".repeat(100000)).length`)
	if err != nil {
		t.Fatal(err)
	}
	if v.ToInteger() != 1 {
		t.Fatal(v)
	}
}

func TestJSONParseSharesKeys(t *testing.T) {
	vm := New()
	v, err := vm.RunString(`JSON.parse('[{"a":1,"b":"x"},{"a":2,"b":"y"}]')`)
	if err != nil {
		t.Fatal(err)
	}
	arr := v.(*Object).self.(*arrayObject).values
	k0 := arr[0].(*Object).self.(*baseObject).propNames[0]
	k1 := arr[1].(*Object).self.(*baseObject).propNames[0]
	if k0 != "a" || k1 != "a" || unsafeStringData(k0) != unsafeStringData(k1) {
		t.Fatal("the two objects' keys are not one string")
	}
}

func BenchmarkJSONParse(b *testing.B) {
	vm := New()
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i < 10000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"item%d","score":%d.5,"tags":["a","b\n"],"ok":true}`, i, i, i)
	}
	sb.WriteString("]")
	s := vm.ToValue(sb.String())
	parse, _ := AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parse(nil, s); err != nil {
			b.Fatal(err)
		}
	}
}

func unsafeStringData(s unistring.String) *byte { return unsafe.StringData(string(s)) }
