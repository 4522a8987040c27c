package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
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
		`{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"request":{"method":"GET\r\nX: y","url":"http://x/\n","headers":{"a\r\nb":"c\u0000"}}}`,
		`{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"request":{"method":"PATCH","url":"https://h:1/p?q#f","headers":{"x":" y "}}}`,
		`{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"request":{"url":"//x/"}}`,
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
		// What the guest's Request is built from cannot split a header.
		if r := inv.Request; r != nil {
			for k, v := range r.Headers {
				if strings.ContainsAny(r.Method+k+v, "\r\n\x00") {
					t.Fatalf("accepted a CR, LF or NUL in %q", body)
				}
			}
			if strings.ContainsAny(r.Method, "\r\n\x00 ") {
				t.Fatalf("accepted method %q", r.Method)
			}
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

// TestPeerValidatesRequest: a peer checks a forwarded request as the API
// does, and refuses a malformed one without running it.
func TestPeerValidatesRequest(t *testing.T) {
	c := newCluster(t, 14, "v1", "v2")
	v1 := c.start("v1", c.secret, 1)
	v2 := c.start("v2", c.secret, 1, "v1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(v1, "v1", "v2") })
	ok := &RunRequest{Code: sleeper}
	if res, started := v1.forward(context.Background(), "v2", ok, 0, time.Now().Add(time.Second)); !started || !res.OK() {
		t.Fatalf("a valid forward: started %v, %+v", started, res)
	}
	for _, r := range []*isolate.Request{
		{Method: "GET\r\nX-Evil: 1"},
		{Headers: map[string]string{"a\r\nb": "c"}},
		{Headers: map[string]string{"a": "b\nc"}},
		{URL: "file:///etc/passwd"},
	} {
		res, started := v1.forward(context.Background(), "v2", &RunRequest{Code: sleeper, Request: r}, 0, time.Now().Add(time.Second))
		if started {
			t.Errorf("v2 started %+v: %s %q", r, res.Outcome, res.Error)
		}
	}
	if ran := v2.ran.Load(); ran != 1 {
		t.Errorf("v2 ran %d calls, want only the valid one", ran)
	}
}

// FuzzObjectCall: a peer's object call frame, however malformed, is
// refused with an error or is a call of a known kind to a well-named
// object, never a panic.
func FuzzObjectCall(f *testing.F) {
	id := ObjectIDFromName("w", "C", "x")
	f.Add([]byte(`{"ref":{"worker":"w","class":"C","id":"` + id + `"},"kind":"call","method":"m","args":"AQ==","timeoutMs":100}`))
	f.Add([]byte(`{"ref":{"worker":"w","class":"C","id":"` + id + `"},"kind":"fetch","request":{"method":"GET","url":"http://x/"}}`))
	f.Add([]byte(`{"ref":{},"kind":"evil"}`))
	f.Add([]byte(`{"chain":["a","a"]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeObjectCall(b)
		if err != nil {
			return
		}
		if c.Kind != "fetch" && c.Kind != "call" || len(c.Ref.ID) != 64 || len(c.Chain) >= maxObjectChain {
			t.Fatalf("accepted %+v", c)
		}
	})
}

// FuzzRevokeRequest: any POST /v1/tokens/revoke body is a revocation of a
// valid ID whose entry fits a key's metadata, or a 4xx; never a panic.
func FuzzRevokeRequest(f *testing.F) {
	key := []byte("k1-0123456789abcdef0123456789abc")
	now := time.Now()
	tok, err := policy.SignToken(key, &policy.Token{Name: strings.Repeat("\x01", 256), ID: policy.NewTokenID(), IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{`{"token":"` + tok + `"}`, `{"id":"abc","exp":1}`, `{"id":"a/b"}`, `{}`, `{"token":"x","id":"y"}`, `{"id":"abc"} {}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rev, err := parseRevoke(bytes.NewReader(b), key)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status >= 500 {
				t.Fatalf("error %v is not a 4xx", err)
			}
			return
		}
		if policy.ValidateTokenID(rev.ID) != nil || rev.Expiry < 0 {
			t.Fatalf("accepted %+v", rev)
		}
		rev.RevokedBy, rev.RevokedAt = shortName(strings.Repeat("\x01", 256)), now.Unix()
		if m, _ := json.Marshal(rev); len(m) > 1024 {
			t.Fatalf("entry of %d bytes, more than a key's metadata", len(m))
		}
	})
}
