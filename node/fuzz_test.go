package node

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParseRun: any POST /v1/run body either parses into a valid invocation
// or fails with a 4xx API error; it never panics.
func FuzzParseRun(f *testing.F) {
	for _, s := range []string{
		`{"code":{"mainModule":"m.js","modules":{"m.js":"export default {}"}}}`,
		`{"code":{"mainModule":"m.js","modules":{"m.js":{"js":"x"}}},"request":{"method":"POST","url":"http://x/","headers":{"a":"b"},"body":"hi"},"bindings":{"KV":{"kv":"ns"}}}`,
		`{"code":{"mainModule":"m.wasm","modules":{"m.wasm":{"wasm":"AGFzbQEAAAA="}}},"request":{"bodyBase64":"AAE="}}`,
		`{"code":{}}`, `{}`, `[]`, `{"code":`, `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"hops":["a"]}`,
		`{"code":{"mainModule":"m.js","modules":{"m.js":"x"}}} {}`,
	} {
		f.Add([]byte(s))
	}
	codes := newCodeCache()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, inv, err := parseRun(bytes.NewReader(body), codes)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status >= 500 || ae.code == "" || ae.msg == "" {
				t.Fatalf("error %v (%T) is not a 4xx API error", err, err)
			}
			return
		}
		if req == nil || inv == nil || inv.Code == nil || inv.Code.Validate() != nil {
			t.Fatalf("accepted %q without a valid invocation", body)
		}
	})
}

// FuzzForwardFrame: a peer's bytes on a forwarding stream are read as a
// frame within the cap, or refused; never a panic or an allocation past the cap.
func FuzzForwardFrame(f *testing.F) {
	f.Add(appendFrame(nil, []byte(`{"code":{}}`)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{5, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && (len(out) > maxForwardFrame || len(out) > len(b)) {
			t.Fatalf("frame of %d bytes from %d bytes of input", len(out), len(b))
		}
	})
}

// TestCodeRefDecode: a peer's codeRef is checked before it is decoded.
func TestCodeRefDecode(t *testing.T) {
	codes := newCodeCache()
	for _, ref := range []string{"zz", strings.Repeat("a", 63), strings.Repeat("a", 66), strings.Repeat("g", 64)} {
		r := &RunRequest{CodeRef: ref}
		if _, err := r.decode(codes); err == nil || errors.Is(err, errCodeMissing) {
			t.Errorf("codeRef %q: %v, want a refusal", ref, err)
		}
	}
	r := &RunRequest{CodeRef: strings.Repeat("ab", 32)}
	if _, err := r.decode(codes); !errors.Is(err, errCodeMissing) {
		t.Errorf("well-formed unknown codeRef: %v", err)
	}
}
