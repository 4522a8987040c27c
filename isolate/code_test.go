package isolate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/jsengine"
)

func TestDecodeCode(t *testing.T) {
	wasm := base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00"))
	tests := []struct {
		name, in  string
		wantField string // "" = valid
		check     func(t *testing.T, c *Code)
	}{
		{"string module", `{"mainModule":"main.js","modules":{"main.js":"export default {}"}}`, "", func(t *testing.T, c *Code) {
			if m := c.Modules["main.js"]; m.Kind != ModuleESM || m.Source != "export default {}" {
				t.Errorf("module = %+v", m)
			}
		}},
		{"every kind", `{"compatibilityDate":"2026-01-01","mainModule":"m.js","modules":{"m.js":{"js":"x"},"c.cjs":{"cjs":"y"},"t.txt":{"text":"t"},"d.bin":{"data":"AAE="},"j.json":{"json":{"a":[1]}},"w.wasm":{"wasm":"` + wasm + `"}},"env":{"A":"b","N":1},"globalOutbound":null,"limits":{"cpuMs":50,"memoryMb":64,"subRequests":10,"wallMs":30000}}`, "", func(t *testing.T, c *Code) {
			if c.Modules["d.bin"].Kind != ModuleData || string(c.Modules["d.bin"].Data) != "\x00\x01" {
				t.Errorf("data = %+v", c.Modules["d.bin"])
			}
			if c.Modules["j.json"].Kind != ModuleJSON || string(c.Modules["j.json"].JSON) != `{"a":[1]}` {
				t.Errorf("json = %s", c.Modules["j.json"].JSON)
			}
			if c.Limits.CPUMs != 50 || c.Limits.WallMs != 30000 {
				t.Errorf("limits = %+v", c.Limits)
			}
		}},
		{"wasm main", `{"mainModule":"w.wasm","modules":{"w.wasm":{"wasm":"` + wasm + `"}}}`, "", nil},
		{"python main", `{"mainModule":"main.py","modules":{"main.py":"print(1)","lib/u.py":{"py":"x = 1"},"n.py":{"text":"not python"},"d.csv":{"text":"a,b"}}}`, "", func(t *testing.T, c *Code) {
			if m := c.Modules["main.py"]; m.Kind != ModulePython || m.Source != "print(1)" {
				t.Errorf("main.py = %+v", m)
			}
			if c.Modules["lib/u.py"].Kind != ModulePython || c.Modules["n.py"].Kind != ModuleText {
				t.Errorf("lib/u.py = %+v, n.py = %+v", c.Modules["lib/u.py"], c.Modules["n.py"])
			}
			b, err := json.Marshal(c.Modules["main.py"])
			if err != nil || string(b) != `{"py":"print(1)"}` {
				t.Errorf("marshal: %s %v", b, err)
			}
		}},
		{"python module in a JS code object", `{"mainModule":"m.js","modules":{"m.js":"x","u.py":"x = 1"}}`, `modules["u.py"]`, nil},
		{"unknown top-level field", `{"mainModule":"m.js","modules":{"m.js":"x"},"mainModul":"y"}`, "mainModul", nil},
		{"unknown module type", `{"mainModule":"m.js","modules":{"m.js":{"python":"x"}}}`, "", nil},
		{"two module types", `{"mainModule":"m.js","modules":{"m.js":{"js":"x","text":"y"}}}`, "", nil},
		{"missing mainModule", `{"modules":{"m.js":"x"}}`, "mainModule", nil},
		{"mainModule absent from modules", `{"mainModule":"n.js","modules":{"m.js":"x"}}`, "mainModule", nil},
		{"text main", `{"mainModule":"t.txt","modules":{"t.txt":{"text":"x"}}}`, "mainModule", nil},
		{"no modules", `{"mainModule":"m.js"}`, "modules", nil},
		{"dotdot name", `{"mainModule":"m.js","modules":{"m.js":"x","../e.js":"y"}}`, `modules["../e.js"]`, nil},
		{"bad base64", `{"mainModule":"m.js","modules":{"m.js":"x","d":{"data":"!!"}}}`, "", nil},
		{"globalOutbound set", `{"mainModule":"m.js","modules":{"m.js":"x"},"globalOutbound":{"fetch":"x"}}`, "globalOutbound", nil},
		{"negative limit", `{"mainModule":"m.js","modules":{"m.js":"x"},"limits":{"cpuMs":-1}}`, "limits", nil},
		{"unknown limit", `{"mainModule":"m.js","modules":{"m.js":"x"},"limits":{"cpu":1}}`, "limits.cpu", nil},
		{"wrong type", `{"mainModule":5,"modules":{"m.js":"x"}}`, "mainModule", nil},
		{"oversize env", `{"mainModule":"m.js","modules":{"m.js":"x"},"env":{"BIG":"` + strings.Repeat("x", MaxEnvBytes) + `"}}`, "env", nil},
		{"oversize code", `{"mainModule":"m.js","modules":{"m.js":"` + strings.Repeat("x", MaxCodeBytes/2+1) + `","n.js":"` + strings.Repeat("y", MaxCodeBytes/2+1) + `"}}`, "modules", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if raceDetector && tt.name == "oversize code" {
				t.Skip("-race: decoding 64 MiB of JSON takes 17 s here (1 s without); make test runs it in the plain go test")
			}
			c, err := DecodeCode([]byte(tt.in))
			valid := tt.wantField == "" && !strings.HasPrefix(tt.name, "unknown module") && !strings.HasPrefix(tt.name, "two module") && tt.name != "bad base64"
			if valid {
				if err != nil {
					t.Fatalf("DecodeCode: %v", err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatal("DecodeCode succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidCode) {
				t.Errorf("error %v is not ErrInvalidCode", err)
			}
			var ce *CodeError
			if tt.wantField != "" && (!errors.As(err, &ce) || ce.Field != tt.wantField) {
				t.Errorf("error %v does not name field %q", err, tt.wantField)
			}
		})
	}
}

func TestCodeHash(t *testing.T) {
	a := js("main.js", "x", "b.js", "y")
	b := js("main.js", "x", "b.js", "y")
	if a.Hash() != b.Hash() {
		t.Error("equal code, different hashes")
	}
	c := js("main.js", "x", "b.js", "z")
	if a.Hash() == c.Hash() {
		t.Error("different module content, same hash")
	}
	d := js("main.js", "xb.js", "", "y")
	if a.Hash() == d.Hash() {
		t.Error("length-prefixing failed: shifted content hashes equal")
	}
	// nodejs_compat changes the bundle, so the hash; other flags do not,
	// and code without it hashes as before flags counted.
	if h := a.Hash(); h != "1cfd274b85bdc75f062380c8b24ea8b2986b9b35ad667e3080fcda2420349b95" {
		t.Errorf("the hash of code without flags changed: %s", h)
	}
	flagged := js("main.js", "x", "b.js", "y")
	flagged.CompatibilityFlags = []string{NodeCompatFlag}
	if flagged.Hash() == a.Hash() {
		t.Error("nodejs_compat does not change the hash")
	}
	v2 := js("main.js", "x", "b.js", "y")
	v2.CompatibilityFlags = []string{"nodejs_compat_v2", DeterministicRandomFlag, NodeCompatFlag}
	if v2.Hash() != flagged.Hash() {
		t.Error("nodejs_compat_v2 and other flags change the hash of a nodejs_compat code object")
	}
	other := js("main.js", "x", "b.js", "y")
	other.CompatibilityFlags = []string{DeterministicRandomFlag}
	if other.Hash() != a.Hash() {
		t.Error("a flag that does not change the bundle changes the hash")
	}
}

// TestCompatibilityFlagsValidated: flags are bounded in number and form.
func TestCompatibilityFlagsValidated(t *testing.T) {
	for _, flags := range [][]string{{""}, {"Nodejs_Compat"}, {"a b"}, {strings.Repeat("x", 129)}, make([]string, 65)} {
		c := js("main.js", "export default {}")
		c.CompatibilityFlags = flags
		var ce *CodeError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != "compatibilityFlags" {
			t.Errorf("flags %.40q: %v, want a compatibilityFlags error", flags, err)
		}
	}
	c := js("main.js", "export default {}")
	c.CompatibilityFlags = []string{NodeCompatFlag, "nodejs_compat_v2", "streams_enable_constructors", "wasi_deterministic_random"}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func FuzzDecodeCode(f *testing.F) {
	f.Add([]byte(`{"mainModule":"m.js","modules":{"m.js":"x"}}`))
	f.Add([]byte(`{"mainModule":"m.js","modules":{"m.js":{"js":"x"},"d":{"data":"AA=="},"j":{"json":[1]}},"env":{"a":1},"limits":{"cpuMs":1}}`))
	f.Add([]byte(`{"mainModule":"w.wasm","modules":{"w.wasm":{"wasm":"AGFzbQ=="}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("error %v is not ErrInvalidCode", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded code fails Validate: %v", err)
		}
		_ = c.Hash()
	})
}

// TestSealedCode: a decoded code object keeps its hash, equal to the hash
// of the same code built by hand, and runs without being validated again.
func TestSealedCode(t *testing.T) {
	c, err := DecodeCode([]byte(`{"mainModule":"main.js","modules":{"main.js":"x","b.js":"y"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.sealed == "" || c.Hash() != js("main.js", "x", "b.js", "y").Hash() {
		t.Errorf("sealed hash %q differs from the computed one", c.sealed)
	}
}

// TestValidateBindings: each error names the binding as it sits beside the
// code object, bindings["NAME"]; a Durable Object binding needs sound
// worker and class names.
func TestValidateBindings(t *testing.T) {
	do := &DurableObjectBinding{Worker: "w", Class: "C"}
	env := map[string]json.RawMessage{"E": json.RawMessage(`"v"`)}
	for _, tc := range []struct {
		name     string
		bindings map[string]Binding
		want     string // "" = valid
	}{
		{"kv", map[string]Binding{"KV": {KV: "ns"}}, ""},
		{"none", nil, ""},
		{"empty", map[string]Binding{"B": {}}, `bindings["B"]: empty binding`},
		{"both", map[string]Binding{"B": {KV: "ns", DurableObject: do}}, `bindings["B"]: a binding has exactly one`},
		{"no class", map[string]Binding{"B": {DurableObject: &DurableObjectBinding{Worker: "w"}}}, `bindings["B"]: durableObject needs class`},
		{"no worker", map[string]Binding{"B": {DurableObject: &DurableObjectBinding{Class: "C"}}}, `bindings["B"]: durableObject needs worker`},
		{"bad class", map[string]Binding{"B": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "a b"}}}, `bindings["B"]: durableObject class "a b": only printable ASCII`},
		{"long worker", map[string]Binding{"B": {DurableObject: &DurableObjectBinding{Worker: strings.Repeat("w", 300), Class: "C"}}}, `bindings["B"]: durableObject worker is 300 bytes`},
		{"env name", map[string]Binding{"E": {KV: "ns"}}, `bindings["E"]: name is also a plain env value`},
		{"durable object", map[string]Binding{"A": {KV: "ns"}, "OBJ": {DurableObject: do}}, ""},
	} {
		err := ValidateBindings(tc.bindings, env)
		var be *BindingError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.As(err, &be)):
			t.Errorf("%s: %v, want a *BindingError starting %q", tc.name, err, tc.want)
		}
	}
}

// TestDurableObjectBindingWithoutObjects: a Worker with a Durable Object
// binding runs on a host that has none; a stub call rejects with the
// host's error.
func TestDurableObjectBindingWithoutObjects(t *testing.T) {
	rt := testRuntime(t, InProcess)
	res := rt.Run(context.Background(), &Invocation{Code: js("main.js", `export default { async fetch(req, env) {
		const id = env.OBJ.idFromName("a");
		try { await env.OBJ.get(id).hello(); } catch (e) { return new Response(e.name + ": " + e.message + " " + id); }
		return new Response("no error");
	} }`),
		Bindings: map[string]Binding{"OBJ": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "C"}}}})
	want := "Error: no Durable Objects here " + jsengine.ObjectID("w", "C", "a")
	if res.Outcome != OutcomeOK || string(res.Response.Body) != want {
		t.Errorf("outcome %s %+v %+v, want %q", res.Outcome, res.Exceptions, res.Response, want)
	}
}

// TestModuleObjectManyKeys: a module object with many keys is refused
// once its second key is read, naming two of them: before, every key went
// into a map first and the error quoted them all (2.4 MB of message for
// 200,000 keys; a run request's 90 MiB of them cost gigabytes).
func TestModuleObjectManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"mainModule":"m.js","modules":{"m.js":{`)
	for i := range 200_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":""`, i)
	}
	b.WriteString(`}}}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := DecodeCode([]byte(b.String()))
	runtime.ReadMemStats(&after)
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), `["k0" "k1"] and more`) {
		t.Fatalf("%.300v (%d bytes)", err, len(fmt.Sprint(err)))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*uint64(b.Len()) { // the decoder of the code object takes 5x
		t.Errorf("refusing %d bytes allocated %d", b.Len(), got)
	}
	// Two keys, and one repeated, read as before.
	for src, want := range map[string]string{
		`{"js":"a","text":"b"}`: `got ["js" "text"]`,
		`{}`:                    `got []`,
		`{"js":"a","js":"b"}`:   "",
	} {
		_, err := DecodeCode([]byte(`{"mainModule":"m.js","modules":{"m.js":` + src + `}}`))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}
