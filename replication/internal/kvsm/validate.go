package kvsm

import (
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"
)

// Limits of Workers KV, enforced both before proposing (ValidatePut, reads)
// and when applying.
const (
	// MaxKeyLen is the largest key in bytes (UTF-8).
	MaxKeyLen = 512
	// MaxValueLen is the largest value in bytes (25 MiB).
	MaxValueLen = 25 << 20
	// MaxMetadataLen is the largest metadata, serialized JSON, in bytes.
	MaxMetadataLen = 1024
	// MaxNamespaceLen is the longest namespace name in bytes.
	MaxNamespaceLen = 64
	// MaxListLimit is the default and the largest List page.
	MaxListLimit = 1000
	// MinTTL is the shortest expirationTtl, and how far in the future an
	// absolute expiration must be, in seconds.
	MinTTL = 60
	// MaxExpireLimit is the most keys one expire command may remove. It
	// bounds the size of the transaction that applies it.
	MaxExpireLimit = 256
	// MaxExpiration is the latest expiration a put may set, in unix
	// seconds: 2^53-1, the largest integer a JavaScript number (a Worker's
	// list, a client's JSON) holds exactly, some 285 million years ahead.
	MaxExpiration = 1<<53 - 1
)

// ValidateNamespace checks a namespace name: 1..MaxNamespaceLen bytes of
// [A-Za-z0-9_.-], and not "." or ".." (it is a URL path segment).
func ValidateNamespace(ns string) error {
	if ns == "" {
		return invalid("namespace", http.StatusBadRequest, "must not be empty")
	}
	if len(ns) > MaxNamespaceLen {
		return invalid("namespace", http.StatusBadRequest, "length %d exceeds limit of %d", len(ns), MaxNamespaceLen)
	}
	if ns == "." || ns == ".." {
		return invalid("namespace", http.StatusBadRequest, "%q is not allowed", ns)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return invalid("namespace", http.StatusBadRequest, "byte %#x at %d is not one of [A-Za-z0-9_.-]", c, i)
		}
	}
	return nil
}

// ValidateKey checks a key name as Cloudflare does: not empty, not "." or
// "..", at most MaxKeyLen bytes (414 beyond), and valid UTF-8.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return invalid("key", http.StatusBadRequest, "key names must not be empty")
	case key == "." || key == "..":
		return invalid("key", http.StatusBadRequest, "illegal key name %q", key)
	case len(key) > MaxKeyLen:
		return invalid("key", http.StatusRequestURITooLong, "UTF-8 encoded length of %d exceeds key length limit of %d", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return invalid("key", http.StatusBadRequest, "not valid UTF-8")
	}
	return nil
}

func validateValue(value []byte) error {
	if len(value) > MaxValueLen {
		return invalid("value", http.StatusRequestEntityTooLarge, "length of %d exceeds limit of %d", len(value), MaxValueLen)
	}
	return nil
}

func validateMetadata(meta []byte) error {
	if len(meta) == 0 {
		return nil
	}
	if len(meta) > MaxMetadataLen {
		return invalid("metadata", http.StatusRequestEntityTooLarge, "length of %d exceeds limit of %d", len(meta), MaxMetadataLen)
	}
	if !json.Valid(meta) {
		return invalid("metadata", http.StatusBadRequest, "not valid JSON")
	}
	return nil
}

// validatePutStatic is the part of put validation that needs no clock: it
// runs again when the command is applied.
func validatePutStatic(ns, key string, value, metadata []byte, expiration int64) error {
	if err := ValidateNamespace(ns); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := validateValue(value); err != nil {
		return err
	}
	if err := validateMetadata(metadata); err != nil {
		return err
	}
	if expiration < 0 {
		return invalid("expiration", http.StatusBadRequest, "%d is negative", expiration)
	}
	return nil
}

// ValidatePut checks a put before it is proposed, with the proposer's clock,
// and returns the absolute expiration (unix seconds, 0 = never) to pass to
// EncodePut. expiration and expirationTTL are KVPutOptions' fields (0 = not
// given); when both are given expirationTTL wins, as in Workers KV. An
// expirationTTL must be at least MinTTL, and an expiration at least MinTTL
// seconds after now. Errors wrap ErrInvalid (*InvalidError).
func ValidatePut(ns, key string, value, metadata []byte, expiration, expirationTTL int64, now time.Time) (int64, error) {
	if err := validatePutStatic(ns, key, value, metadata, 0); err != nil {
		return 0, err
	}
	t := now.Unix()
	switch {
	case expirationTTL < 0:
		return 0, invalid("expirationTtl", http.StatusBadRequest, "%d: please specify an integer greater than 0", expirationTTL)
	case expirationTTL > 0:
		if expirationTTL < MinTTL {
			return 0, invalid("expirationTtl", http.StatusBadRequest, "%d: expiration TTL must be at least %d", expirationTTL, MinTTL)
		}
		if expirationTTL > MaxExpiration-t {
			return 0, invalid("expirationTtl", http.StatusBadRequest, "%d is too large: the expiration it gives must be at most %d", expirationTTL, MaxExpiration)
		}
		return t + expirationTTL, nil
	case expiration < 0 || expiration > 0 && expiration <= t:
		return 0, invalid("expiration", http.StatusBadRequest, "%d: please specify an integer greater than the current number of seconds since the UNIX epoch (%d)", expiration, t)
	case expiration > 0 && expiration-t < MinTTL:
		return 0, invalid("expiration", http.StatusBadRequest, "%d: expiration times must be at least %d seconds in the future", expiration, MinTTL)
	case expiration > MaxExpiration:
		// Stored, it read back as another time in JSON and in Workers.
		return 0, invalid("expiration", http.StatusBadRequest, "%d is too large: at most %d", expiration, MaxExpiration)
	}
	return expiration, nil
}

// expired reports whether a stored expiration has passed at now (unix
// seconds): a key is visible while now < expiration.
func expired(expiration, now int64) bool {
	return expiration != 0 && expiration <= now
}
