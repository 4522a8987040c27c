// Package cache is the store behind the Workers Cache API (caches.default,
// caches.open(name)) on one node: responses kept in memory, bounded in
// bytes with least-recently-used eviction, stored and expired as their
// Cache-Control and Expires headers say. It lives in the node's process
// (the Runtime), not in a sandbox worker, so entries outlive invocations;
// guest code reaches it through host calls.
//
// Entries are keyed by a scope (the Runtime uses the code's hash and the
// invocation's CacheScope, so that one Worker cannot read or poison
// another's cache, nor one tenant another's), the cache's name and
// the request's URL without its fragment. As on Cloudflare, only GET
// requests are cached, Vary is not part of the key, and a response is not
// stored when it has Set-Cookie, Cache-Control no-store, no-cache or
// private, a max-age, s-maxage or Expires already past; a 206 response or
// Vary: * is refused.
package cache

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// DefaultMaxBytes is a node's cache size when none is configured.
const DefaultMaxBytes = 64 << 20

// maxEntries bounds the entries, whatever their size.
const maxEntries = 1 << 16

// MaxEntryBytes bounds one entry (body, headers and URL): a quarter of the
// default size, as any entry is at most a quarter of the cache.
const MaxEntryBytes = DefaultMaxBytes / 4

// ErrRefused is wrapped by the error of a Put that Cloudflare refuses
// (the guest sees a TypeError).
var ErrRefused = errors.New("cache: refused")

type key struct{ scope, name, url string }

type entry struct {
	resp    *contract.Response
	stored  time.Time
	expires time.Time // zero: until evicted
}

// Store is one node's cache. Its methods are safe for concurrent use.
type Store struct {
	lru *sizedlru.Cache[key, *entry]
	now func() time.Time
}

// New returns a store of at most maxBytes (0: DefaultMaxBytes); now is the
// clock for expiry (nil: time.Now).
func New(maxBytes int64, now func() time.Time) *Store {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if now == nil {
		now = time.Now
	}
	return &Store{lru: sizedlru.New[key, *entry](maxEntries, maxBytes), now: now}
}

// Bytes is the size of the entries held.
func (s *Store) Bytes() int64 { return s.lru.Bytes() }

// Key normalizes a request URL into a cache key: the URL without its
// fragment. Only http and https URLs are cacheable.
func Key(url string) (string, error) {
	if i := strings.IndexByte(url, '#'); i >= 0 {
		url = url[:i]
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return "", fmt.Errorf("%w: the Cache API supports only http and https URLs", ErrRefused)
	}
	return url, nil
}

func size(url string, r *contract.Response) int64 {
	n := len(url) + len(r.Body) + 64
	for k, v := range r.Headers {
		n += len(k) + len(v) + 16
	}
	return int64(n)
}

// Put stores resp under (scope, name, url), unless its headers say not
// to; stored reports whether it did. A response Cloudflare refuses (206,
// Vary: *) is an error wrapping ErrRefused.
func (s *Store) Put(scope, name, url string, resp *contract.Response) (stored bool, err error) {
	url, err = Key(url)
	if err != nil {
		return false, err
	}
	if resp.Status == http.StatusPartialContent {
		return false, fmt.Errorf("%w: a 206 Partial Content response cannot be cached", ErrRefused)
	}
	h := func(name string) string { return resp.Headers[name] }
	for _, v := range strings.Split(h("vary"), ",") {
		if strings.TrimSpace(v) == "*" {
			return false, fmt.Errorf("%w: a response with Vary: * cannot be cached", ErrRefused)
		}
	}
	k := key{scope, name, url}
	now := s.now()
	ttl, ok := freshness(h("cache-control"), h("expires"), now)
	if !ok || h("set-cookie") != "" {
		s.lru.Remove(k) // a put that is not stored still replaces
		return false, nil
	}
	e := &entry{resp: resp, stored: now}
	if ttl >= 0 {
		e.expires = now.Add(ttl)
	}
	if !s.lru.Add(k, e, size(url, resp)) {
		return false, nil
	}
	return true, nil
}

// freshness reads how long a response may be kept (-1: no limit given);
// ok is false when it must not be stored.
func freshness(cc, expires string, now time.Time) (ttl time.Duration, ok bool) {
	ttl = -1
	sMax := false
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch name {
		case "no-store", "no-cache", "private":
			return 0, false
		case "s-maxage", "max-age":
			if sMax && name == "max-age" {
				continue
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return 0, false
			}
			n = min(n, 1<<31) // RFC 9111's ceiling for delta-seconds
			ttl = time.Duration(n) * time.Second
			sMax = sMax || name == "s-maxage"
		}
	}
	if ttl < 0 && expires != "" {
		t, err := http.ParseTime(expires)
		if err != nil {
			return 0, false // an invalid Expires means already expired
		}
		ttl = t.Sub(now)
		if ttl < 0 {
			ttl = 0
		}
	}
	if ttl == 0 {
		return 0, false
	}
	return ttl, true
}

// Match returns the fresh response stored under (scope, name, url), or
// nil, with cf-cache-status: HIT and its age. The response is the caller's.
func (s *Store) Match(scope, name, url string) *contract.Response {
	url, err := Key(url)
	if err != nil {
		return nil
	}
	k := key{scope, name, url}
	e, ok := s.lru.Get(k)
	if !ok {
		return nil
	}
	now := s.now()
	if !e.expires.IsZero() && !now.Before(e.expires) {
		s.lru.Remove(k)
		return nil
	}
	h := make(map[string]string, len(e.resp.Headers)+2)
	for k, v := range e.resp.Headers {
		h[k] = v
	}
	h["cf-cache-status"] = "HIT"
	h["age"] = strconv.FormatInt(int64(now.Sub(e.stored)/time.Second), 10)
	return &contract.Response{Status: e.resp.Status, Headers: h, Body: e.resp.Body}
}

// Delete removes the entry under (scope, name, url), reporting whether
// there was a fresh one.
func (s *Store) Delete(scope, name, url string) bool {
	url, err := Key(url)
	if err != nil {
		return false
	}
	k := key{scope, name, url}
	e, ok := s.lru.Get(k)
	if !ok {
		return false
	}
	s.lru.Remove(k)
	return e.expires.IsZero() || s.now().Before(e.expires)
}
