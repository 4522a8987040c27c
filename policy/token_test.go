package policy

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	key := []byte("k1-0123456789abcdef0123456789abc")
	now := time.Unix(1_700_000_000, 0)
	in := &Token{Name: "agent", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Grants: Grants{
		KV: map[string]string{"a": "r", "b": "rw"}, AllowNet: []string{"example.com"}, CPUMs: 50, MemoryMB: 64, Subrequests: 5,
	}}
	s, err := SignToken(key, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, TokenPrefix) {
		t.Fatalf("token %q lacks the prefix", s)
	}
	out, err := ParseToken(key, s, now)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "agent" || out.KV["b"] != "rw" || out.CPUMs != 50 || out.AllowNet[0] != "example.com" || out.Expiry != in.Expiry {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestParseTokenRefuses(t *testing.T) {
	key := []byte("k1-0123456789abcdef0123456789abc")
	other := []byte("k2-0123456789abcdef0123456789abc")
	now := time.Unix(1_700_000_000, 0)
	sign := func(k []byte, tok Token) string {
		t.Helper()
		s, err := SignToken(k, &tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := Token{Name: "x", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()}
	good := sign(key, valid)
	payload, sig, _ := strings.Cut(strings.TrimPrefix(good, TokenPrefix), ".")
	// A payload granting admin, with the original signature.
	forged := TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(`{"name":"x","iat":1700000000,"exp":1700003600,"admin":true}`)) + "." + sig
	// A payload signed right, but with a field this version does not know.
	unknown := TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(`{"name":"x","iat":1,"exp":2,"root":true}`))
	unknown += "." + base64.RawURLEncoding.EncodeToString(mac(key, []byte(`{"name":"x","iat":1,"exp":2,"root":true}`)))
	tests := []struct {
		name string
		tok  string
		at   time.Time
		want error
	}{
		{"valid", good, now, nil},
		{"valid within the skew after expiry", good, now.Add(time.Hour + ClockSkew - time.Second), nil},
		{"valid within the skew before issue", good, now.Add(-ClockSkew), nil},
		{"expired", good, now.Add(time.Hour + ClockSkew), ErrTokenExpired},
		{"not yet valid", good, now.Add(-ClockSkew - time.Second), ErrTokenNotYetValid},
		{"another mesh's key", sign(other, valid), now, ErrTokenSignature},
		{"tampered payload", forged, now, ErrTokenSignature},
		{"tampered signature", TokenPrefix + payload + "." + sig[:len(sig)-2] + "AA", now, ErrTokenSignature},
		{"empty", "", now, ErrTokenMalformed},
		{"no prefix", strings.TrimPrefix(good, TokenPrefix), now, ErrTokenMalformed},
		{"other version", "warren2." + payload + "." + sig, now, ErrTokenMalformed},
		{"no signature", TokenPrefix + payload, now, ErrTokenMalformed},
		{"extra part", good + ".x", now, ErrTokenMalformed},
		{"bad base64", TokenPrefix + "!!!." + sig, now, ErrTokenMalformed},
		{"oversize", TokenPrefix + strings.Repeat("A", MaxTokenLen) + "." + sig, now, ErrTokenMalformed},
		{"unknown field, signed", unknown, time.Unix(1, 0), ErrTokenMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseToken(key, tc.tok, tc.at)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignTokenValidates(t *testing.T) {
	key := []byte("k")
	for _, tok := range []Token{
		{Name: "x", IssuedAt: 2, Expiry: 1},
		{Name: "x", IssuedAt: 1, Expiry: 2, Grants: Grants{KV: map[string]string{"a": "w"}}},
		{Name: "x", IssuedAt: 1, Expiry: 2, Grants: Grants{KV: map[string]string{"": "r"}}},
		{Name: "x", IssuedAt: 1, Expiry: 2, Grants: Grants{CPUMs: -1}},
		{Name: "x", IssuedAt: 1, Expiry: 2, Grants: Grants{AllowNet: []string{strings.Repeat("h", MaxTokenLen)}}},
	} {
		if _, err := SignToken(key, &tok); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("%+v: %v", tok, err)
		}
	}
}

func TestGrantsKV(t *testing.T) {
	g := Grants{KV: map[string]string{"ro": KVRead, "rw": KVReadWrite}}
	admin := Grants{Admin: true}
	tests := []struct {
		g      *Grants
		ns     string
		write  bool
		ok     bool
		reason string
	}{
		{&g, "ro", false, true, ""},
		{&g, "ro", true, false, "only reading"},
		{&g, "rw", true, true, ""},
		{&g, "other", false, false, "no access to KV namespace other (it grants ro:r, rw:rw)"},
		{&Grants{}, "x", false, false, "(it grants none)"},
		{&admin, "anything", true, true, ""},
	}
	for _, tc := range tests {
		err := tc.g.CheckKV(tc.ns, tc.write)
		if (err == nil) != tc.ok || err != nil && !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%+v CheckKV(%s, %v) = %v", tc.g, tc.ns, tc.write, err)
		}
	}
}

func TestGrantsLimits(t *testing.T) {
	g := Grants{CPUMs: 50, MemoryMB: 64}
	def := Limits{CPUMs: 1000, MemoryMB: 128, Subrequests: 50}
	tests := []struct {
		g      Grants
		asked  Limits
		reason string // "" = allowed
		filled Limits
	}{
		{g, Limits{}, "", Limits{CPUMs: 50, MemoryMB: 64}},
		{g, Limits{CPUMs: 50, MemoryMB: 10}, "", Limits{CPUMs: 50, MemoryMB: 10}},
		{g, Limits{CPUMs: 51}, "limits.cpuMs 51 exceeds the token's ceiling of 50", Limits{}},
		{g, Limits{MemoryMB: 65}, "limits.memoryMb 65", Limits{}},
		{Grants{Subrequests: 2}, Limits{Subrequests: 3}, "limits.subRequests 3", Limits{}},
		{Grants{Subrequests: 2}, Limits{}, "", Limits{Subrequests: 2}},
		// A ceiling above the default leaves the default alone.
		{Grants{CPUMs: 5000}, Limits{}, "", Limits{}},
		{Grants{Admin: true, CPUMs: 1}, Limits{CPUMs: 9000}, "", Limits{CPUMs: 9000}},
	}
	for _, tc := range tests {
		err := tc.g.CheckLimits(tc.asked)
		if tc.reason != "" {
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("%+v %+v: %v, want %q", tc.g, tc.asked, err, tc.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v %+v: %v", tc.g, tc.asked, err)
		}
		if got := tc.g.Defaults(tc.asked, def); got != tc.filled {
			t.Errorf("%+v Defaults(%+v) = %+v, want %+v", tc.g, tc.asked, got, tc.filled)
		}
	}
}

// FuzzParseToken: any string is a token or an error that wraps one of the
// token errors, never a panic; a token that parses re-signs to itself.
func FuzzParseToken(f *testing.F) {
	key := []byte("fuzz key of some length, 32 bytes")
	now := time.Unix(1_700_000_000, 0)
	good, err := SignToken(key, &Token{Name: "t", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Grants: Grants{KV: map[string]string{"ns": KVRead}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("warren1.")
	f.Add("warren1.e30.AAAA")
	f.Add("warren1." + strings.Repeat("A", 5000) + ".x")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(key, s, now)
		if err != nil {
			if !errors.Is(err, ErrTokenMalformed) && !errors.Is(err, ErrTokenSignature) && !errors.Is(err, ErrTokenExpired) && !errors.Is(err, ErrTokenNotYetValid) {
				t.Fatalf("%q: an error of no kind: %v", s, err)
			}
			return
		}
		again, err := SignToken(key, tok)
		if err != nil {
			t.Fatalf("a parsed token does not sign again: %v", err)
		}
		if again2, err := ParseToken(key, again, now); err != nil || again2.Name != tok.Name {
			t.Fatalf("re-signed token: %v", err)
		}
	})
}

// TestTokenID: a token's ID travels signed, is checked, and VerifyToken
// reads a token outside its validity period (to revoke it) but not one
// with a bad signature.
func TestTokenID(t *testing.T) {
	key := []byte("k1-0123456789abcdef0123456789abc")
	now := time.Unix(1_700_000_000, 0)
	id := NewTokenID()
	if err := ValidateTokenID(id); err != nil || len(id) != 22 || NewTokenID() == id {
		t.Fatalf("NewTokenID %q: %v", id, err)
	}
	s, err := SignToken(key, &Token{Name: "a", ID: id, IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ParseToken(key, s, now); err != nil || tok.ID != id {
		t.Fatalf("%+v %v", tok, err)
	}
	if _, err := ParseToken(key, s, now.Add(2*time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	if tok, err := VerifyToken(key, s); err != nil || tok.ID != id {
		t.Fatalf("VerifyToken of an expired token: %+v %v", tok, err)
	}
	if _, err := VerifyToken([]byte("k2-0123456789abcdef0123456789abc"), s); !errors.Is(err, ErrTokenSignature) {
		t.Fatalf("VerifyToken with another key: %v", err)
	}
	for _, bad := range []string{"", "a/b", "a b", "ä", strings.Repeat("a", MaxTokenIDLen+1)} {
		if _, err := SignToken(key, &Token{Name: "a", ID: bad, IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()}); bad != "" && !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("ID %q: %v", bad, err)
		}
		if err := ValidateTokenID(bad); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("ValidateTokenID(%q): %v", bad, err)
		}
	}
}
