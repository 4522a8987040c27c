package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestRunShapeBounded: a run request with an object or array of more than
// maxShapeElements elements within maxShapeDepth is a 400 naming the
// bound, refused as it streams in; deeper data (an env value, a JSON
// module) is not bounded so. Before, every element was decoded first: 90
// MiB of bindings took the node's heap to 1 GB and 19 s of CPU, 90 MiB of
// modules to 3 GB and 50 s, and bindings or env values under their own
// limits ran.
func TestRunShapeBounded(t *testing.T) {
	c := newCluster(t, 25, "shape")
	n := c.start("shape", c.secret, 1)
	many := func(k int, elem func(i int) string) string {
		var b strings.Builder
		for i := range k {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(elem(i))
		}
		return b.String()
	}
	const fetch = `export default {fetch(r, env){return new Response(String(env.BIG ? env.BIG.length : 0))}}`
	code := func(extra string) string {
		return `{"mainModule":"m.js","modules":{"m.js":` + jsonString(fetch) + `}` + extra + `}`
	}
	k := maxShapeElements + 1
	for _, tc := range []struct{ name, body string }{
		{"bindings", `{"code":` + code("") + `,"bindings":{` + many(k, func(i int) string { return fmt.Sprintf(`"B%d":{"kv":"a"}`, i) }) + `}}`},
		{"env", `{"code":` + code(`,"env":{`+many(k, func(i int) string { return fmt.Sprintf(`"E%d":0`, i) })+`}`) + `}`},
		{"modules", `{"code":{"mainModule":"m.js","modules":{` + many(k, func(i int) string { return fmt.Sprintf(`"m%d.js":""`, i) }) + `}}}`},
		{"compatibilityFlags", `{"code":` + code(`,"compatibilityFlags":[`+many(k, func(i int) string { return `"x"` })+`]`) + `}`},
		{"request.headers", `{"code":` + code("") + `,"request":{"headers":{` + many(k, func(i int) string { return fmt.Sprintf(`"h%d":""`, i) }) + `}}}`},
		{"hops", `{"hops":[` + many(k, func(i int) string { return `"n"` }) + `],"code":` + code("") + `}`},
	} {
		status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(tc.body), nil)
		if status != 400 || errCode(b) != "bad_request" || !strings.Contains(string(b), fmt.Sprintf("more than %d elements", maxShapeElements)) {
			t.Errorf("%s of %d: %d %.300s, want 400 naming the bound", tc.name, k, status, b)
		}
	}
	// An env value's own data is deeper, and passes.
	big := `{"code":` + code(`,"env":{"BIG":[`+many(50_000, func(i int) string { return "0" })+`]}`) + `}`
	if status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(big), nil); status != 200 || !strings.Contains(string(b), `"body":"50000"`) {
		t.Errorf("an env value of 50,000 items: %d %.300s", status, b)
	}
}

// FuzzShapeReader: shapeReader refuses a JSON text exactly when an object
// or array within its depth holds more than its bound, however the text
// is cut into reads, and passes the text through unchanged.
func FuzzShapeReader(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,3,4],"b":"x,y,z,w"}`, `[[1,2],[3,4,5,6]]`, `{"s":"\"[,,,,]\\"}`, `[[[[1,2,3,4,5]]]]`, `"a,b,c,d,e"`, `{"a":{"b":{"c":1,"d":2,"e":3,"f":4}}}`} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, text string, cut uint8) {
		if !json.Valid([]byte(text)) {
			return
		}
		const max, depth = 3, 3
		want := overShape(t, text, max, depth)
		s := &shapeReader{r: strings.NewReader(text), max: max, limitedTo: depth}
		var r io.Reader = s
		if cut%2 == 1 {
			r = iotest.OneByteReader(s)
		}
		out, err := io.ReadAll(r)
		var ae *apiError
		if got := errors.As(err, &ae); got != want {
			t.Fatalf("%q: refused %v (%v), want %v", text, got, err, want)
		}
		if err == nil && !bytes.Equal(out, []byte(text)) {
			t.Fatalf("%q: passed %q", text, out)
		}
	})
}

// overShape reports whether valid JSON text has an object or array within
// depth with more than max elements.
func overShape(t *testing.T, text string, max, depth int) bool {
	dec := json.NewDecoder(strings.NewReader(text))
	var counts []int // elements of the open containers
	var objects []bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		// A value or a key starts an element of the container it is in.
		if len(counts) > 0 {
			top := len(counts) - 1
			isDelimEnd := tok == json.Delim('}') || tok == json.Delim(']')
			if !isDelimEnd && (!objects[top] || expectKey) {
				if counts[top]++; len(counts) <= depth && counts[top] > max {
					return true
				}
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			counts, objects = append(counts, 0), append(objects, tok == json.Delim('{'))
			expectKey = tok == json.Delim('{')
			continue
		case json.Delim('}'), json.Delim(']'):
			counts, objects = counts[:len(counts)-1], objects[:len(objects)-1]
		}
		if len(objects) > 0 && objects[len(objects)-1] {
			// In an object, keys and values alternate: a key was just
			// read if we expected one.
			if _, isKey := tok.(string); isKey && expectKey {
				expectKey = false
				continue
			}
			expectKey = true
		}
	}
}

// TestDeployShapeBounded: a deployment's objects and arrays are bounded
// as a run request's are, before it is decoded: 20,000 bindings are a 400
// (before, they were decoded and deployed).
func TestDeployShapeBounded(t *testing.T) {
	n, _ := kvNode(t, "dep")
	var b strings.Builder
	for i := range maxShapeElements + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"B%d":{"kv":"a"}`, i)
	}
	body := `{"code":{"mainModule":"m.js","modules":{"m.js":""}},"bindings":{` + b.String() + `}}`
	status, _, out := call(t, n, "PUT", "/v1/workers/many", strings.NewReader(body), nil)
	if status != 400 || errCode(out) != "bad_request" || !strings.Contains(string(out), "the deployment") {
		t.Fatalf("%d %.300s, want 400 naming the bound", status, out)
	}
}
