package policy

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Tokens.
//
// A token is "warren1.<payload>.<mac>": the payload is the JSON of a Token,
// the MAC its HMAC-SHA256 under a key derived from the mesh secret
// (mesh.Secret.DeriveKey(TokenKeyPurpose)), both base64url without
// padding. Every node of a mesh holds the secret, so any node verifies a
// token offline; a token of another mesh fails its MAC.

// TokenKeyPurpose is the purpose the token key is derived from the mesh
// secret with.
const TokenKeyPurpose = "warren token v1"

// TokenPrefix starts every token of this version.
const TokenPrefix = "warren1."

// MaxTokenLen caps a token's length: longer ones are refused unparsed.
const MaxTokenLen = 4096

// ClockSkew is how far the clocks of the issuer and of a node may disagree:
// a token is accepted up to this much before its issue time and after its
// expiry.
const ClockSkew = 30 * time.Second

// KV access levels of a grant.
const (
	KVRead      = "r"
	KVReadWrite = "rw"
)

// Errors of ParseToken; each is wrapped with the detail.
var (
	ErrTokenMalformed   = errors.New("malformed token")
	ErrTokenSignature   = errors.New("bad token signature (forged, altered, or from another mesh)")
	ErrTokenExpired     = errors.New("token expired")
	ErrTokenNotYetValid = errors.New("token not yet valid")
)

// Grants say what the bearer of a token may do. The zero value may run
// code with the node's default limits and no bindings.
type Grants struct {
	// Admin grants everything (and ignores the rest).
	Admin bool `json:"admin,omitempty"`
	// KV maps a namespace to KVRead or KVReadWrite.
	KV map[string]string `json:"kv,omitempty"`
	// DO lists the Durable Object namespaces a call may bind:
	// "worker.Class", or "worker.*" for every class of a Worker.
	DO []string `json:"do,omitempty"`
	// AllowNet lists egress grants (see Egress).
	AllowNet []string `json:"allowNet,omitempty"`
	// CPUMs, MemoryMB and Subrequests are ceilings on a call's limits;
	// 0 means the node's defaults and maxima.
	CPUMs       int64 `json:"cpuMs,omitempty"`
	MemoryMB    int64 `json:"memoryMb,omitempty"`
	Subrequests int64 `json:"subrequests,omitempty"`
}

// Token is what a token says: who it was issued to, when, until when, and
// its grants.
type Token struct {
	Name     string `json:"name"`
	IssuedAt int64  `json:"iat"` // unix seconds
	Expiry   int64  `json:"exp"` // unix seconds
	// ID names the token for revocation (NewTokenID); a token without
	// one (those nodes mint for a single call) cannot be revoked before
	// it expires.
	ID string `json:"jti,omitempty"`
	Grants
}

// MaxTokenIDLen caps a token ID.
const MaxTokenIDLen = 64

// NewTokenID is a random token ID: 16 bytes, base64url.
func NewTokenID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b64.EncodeToString(b[:])
}

// ValidateTokenID checks a token ID: 1 to MaxTokenIDLen of [A-Za-z0-9_-],
// so that it is a KV key and a path segment as it is.
func ValidateTokenID(id string) error {
	if id == "" || len(id) > MaxTokenIDLen {
		return fmt.Errorf("%w: a token ID has 1 to %d characters, not %d", ErrTokenMalformed, MaxTokenIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: a token ID has only A-Z, a-z, 0-9, '-' and '_', not %q", ErrTokenMalformed, c)
		}
	}
	return nil
}

// Validate checks a token's fields.
func (t *Token) Validate() error {
	if len(t.Name) > 256 {
		return fmt.Errorf("%w: name of %d bytes, more than 256", ErrTokenMalformed, len(t.Name))
	}
	if t.ID != "" {
		if err := ValidateTokenID(t.ID); err != nil {
			return err
		}
	}
	if t.Expiry <= t.IssuedAt {
		return fmt.Errorf("%w: expiry is not after the issue time", ErrTokenMalformed)
	}
	for ns, access := range t.KV {
		if ns == "" {
			return fmt.Errorf("%w: kv: an empty namespace", ErrTokenMalformed)
		}
		if access != KVRead && access != KVReadWrite {
			return fmt.Errorf("%w: kv[%q]: %q is neither %q nor %q", ErrTokenMalformed, ns, access, KVRead, KVReadWrite)
		}
	}
	for _, g := range t.AllowNet {
		if err := ValidGrant(g); err != nil {
			return fmt.Errorf("%w: %w", ErrTokenMalformed, err)
		}
	}
	if t.CPUMs < 0 || t.MemoryMB < 0 || t.Subrequests < 0 {
		return fmt.Errorf("%w: a negative ceiling", ErrTokenMalformed)
	}
	return nil
}

// b64 is strict: one token has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// SignToken encodes and signs t with key.
func SignToken(key []byte, t *Token) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encoding the token: %w", err)
	}
	s := TokenPrefix + b64.EncodeToString(payload) + "." + b64.EncodeToString(mac(key, payload))
	if len(s) > MaxTokenLen {
		return "", fmt.Errorf("%w: %d bytes, more than %d", ErrTokenMalformed, len(s), MaxTokenLen)
	}
	return s, nil
}

func mac(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(TokenPrefix))
	h.Write(payload)
	return h.Sum(nil)
}

// ParseToken verifies s with key and returns its token if it is valid at
// now. Its errors wrap ErrTokenMalformed, ErrTokenSignature,
// ErrTokenExpired or ErrTokenNotYetValid. It does not know of
// revocations: the node checks those (a revocation list in its KV store).
func ParseToken(key []byte, s string, now time.Time) (*Token, error) {
	t, err := VerifyToken(key, s)
	if err != nil {
		return nil, err
	}
	if err := t.ValidAt(now); err != nil {
		return nil, err
	}
	return t, nil
}

// ValidAt reports whether t's validity period holds now, give or take
// ClockSkew: an error wrapping ErrTokenExpired or ErrTokenNotYetValid if not.
// A verified token checked again later (one that opened a stream) expires
// by it as a new one would.
func (t *Token) ValidAt(now time.Time) error {
	switch unix := now.Unix(); {
	case unix+int64(ClockSkew/time.Second) < t.IssuedAt:
		return fmt.Errorf("%w: issued at %s, after this node's clock (%s)", ErrTokenNotYetValid,
			time.Unix(t.IssuedAt, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case unix-int64(ClockSkew/time.Second) >= t.Expiry:
		return fmt.Errorf("%w at %s", ErrTokenExpired, time.Unix(t.Expiry, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifyToken checks s's signature under key and its fields, at any time:
// it is ParseToken without the validity period, for revoking a token (an
// expired one included). Its errors wrap ErrTokenMalformed or
// ErrTokenSignature.
func VerifyToken(key []byte, s string) (*Token, error) {
	if len(s) > MaxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTokenMalformed, len(s), MaxTokenLen)
	}
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it does not start with %q", ErrTokenMalformed, TokenPrefix)
	}
	p64, m64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(m64, ".") {
		return nil, fmt.Errorf("%w: want %s<payload>.<signature>", ErrTokenMalformed, TokenPrefix)
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrTokenMalformed, err)
	}
	sig, err := b64.DecodeString(m64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrTokenMalformed, err)
	}
	// The MAC first: nothing of an unsigned payload is parsed.
	if !hmac.Equal(sig, mac(key, payload)) {
		return nil, ErrTokenSignature
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var t Token
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrTokenMalformed, err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// KVAccess says what g allows on namespace ns.
func (g *Grants) KVAccess(ns string) (read, write bool) {
	if g.Admin {
		return true, true
	}
	switch g.KV[ns] {
	case KVReadWrite:
		return true, true
	case KVRead:
		return true, false
	}
	return false, false
}

// CheckKV decides an access to namespace ns; write asks for KVReadWrite.
func (g *Grants) CheckKV(ns string, write bool) error {
	r, w := g.KVAccess(ns)
	switch {
	case write && !w && r:
		return fmt.Errorf("the token grants only reading KV namespace %s, not writing it", ns)
	case !r:
		return fmt.Errorf("the token grants no access to KV namespace %s%s", ns, g.listKV())
	}
	return nil
}

// listKV lists the granted namespaces for an error message.
func (g *Grants) listKV() string {
	if len(g.KV) == 0 {
		return " (it grants none)"
	}
	var s []string
	for ns, a := range g.KV {
		s = append(s, ns+":"+a)
	}
	sort.Strings(s)
	return " (it grants " + strings.Join(s, ", ") + ")"
}

// Limits are the limits a call asks for; 0 is the default.
type Limits struct {
	CPUMs, MemoryMB, Subrequests int64
}

// CheckLimits decides a call's requested limits against g's ceilings: a
// request above a ceiling is refused, never clipped. The error names the
// limit.
func (g *Grants) CheckLimits(l Limits) error {
	if g.Admin {
		return nil
	}
	for _, c := range []struct {
		name       string
		asked, cap int64
	}{
		{"limits.cpuMs", l.CPUMs, g.CPUMs},
		{"limits.memoryMb", l.MemoryMB, g.MemoryMB},
		{"limits.subRequests", l.Subrequests, g.Subrequests},
	} {
		if c.cap > 0 && c.asked > c.cap {
			return fmt.Errorf("%s %d exceeds the token's ceiling of %d", c.name, c.asked, c.cap)
		}
	}
	return nil
}

// Defaults fills each limit l leaves at zero with g's ceiling, where it is
// below def (the node's default): a token's ceiling bounds the calls that
// ask for nothing too.
func (g *Grants) Defaults(l, def Limits) Limits {
	if g.Admin {
		return l
	}
	fill := func(asked, cap, def int64) int64 {
		if asked == 0 && cap > 0 && cap < def {
			return cap
		}
		return asked
	}
	return Limits{
		CPUMs:       fill(l.CPUMs, g.CPUMs, def.CPUMs),
		MemoryMB:    fill(l.MemoryMB, g.MemoryMB, def.MemoryMB),
		Subrequests: fill(l.Subrequests, g.Subrequests, def.Subrequests),
	}
}
