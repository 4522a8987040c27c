package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/policy"
)

// TestVerifiedTokensKept: a token whose signature checked out is kept and
// not verified again, but its validity period is checked on every call; a
// token that fails is kept never, and one signed by another key never
// passes.
func TestVerifiedTokensKept(t *testing.T) {
	key, other := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	n := &Node{tokenKey: key, verified: sizedlru.New[string, *policy.Token](verifiedTokens, verifiedTokens*policy.MaxTokenLen)}
	now := time.Now()
	raw, err := policy.SignToken(key, &policy.Token{Name: "a", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := n.parseToken(raw, now)
	if err != nil || first.Name != "a" {
		t.Fatalf("%+v %v", first, err)
	}
	if again, err := n.parseToken(raw, now); err != nil || again != first {
		t.Fatalf("again: %p %v, want the kept %p", again, err, first)
	}
	if _, err := n.parseToken(raw, now.Add(2*time.Hour)); !errors.Is(err, policy.ErrTokenExpired) {
		t.Fatalf("a kept token past its expiry: %v, want expired", err)
	}
	if _, err := n.parseToken(raw, now.Add(-time.Hour)); !errors.Is(err, policy.ErrTokenNotYetValid) {
		t.Fatalf("a kept token before its issue: %v, want not yet valid", err)
	}
	forged, _ := policy.SignToken(other, &policy.Token{Name: "a", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()})
	tampered := raw[:len(raw)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(raw, "AA")]
	for _, bad := range []string{forged, tampered, "garbage"} {
		for range 2 {
			if tok, err := n.parseToken(bad, now); err == nil {
				t.Fatalf("%.20s... passed: %+v", bad, tok)
			}
		}
	}
	if got := n.verified.Len(); got != 1 {
		t.Fatalf("%d tokens kept, want the one valid", got)
	}
}

// BenchmarkParseToken: a kept token against one verified each time.
func BenchmarkParseToken(b *testing.B) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	raw, _ := policy.SignToken(key, &policy.Token{Name: "bench", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Grants: policy.Grants{Admin: true}})
	b.Run("verified", func(b *testing.B) {
		for b.Loop() {
			if _, err := policy.ParseToken(key, raw, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kept", func(b *testing.B) {
		n := &Node{tokenKey: key, verified: sizedlru.New[string, *policy.Token](verifiedTokens, verifiedTokens*policy.MaxTokenLen)}
		for b.Loop() {
			if _, err := n.parseToken(raw, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
