package cache

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func resp(body string, headers ...string) *contract.Response {
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return &contract.Response{Status: 200, Headers: h, Body: []byte(body)}
}

func TestPutMatch(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(1<<20, c.now)
	const u = "https://e.com/a"
	if s.Match("w", "", u) != nil {
		t.Fatal("hit on an empty cache")
	}
	if ok, err := s.Put("w", "", u+"#frag", resp("A", "cache-control", "public, max-age=60", "content-type", "text/plain")); !ok || err != nil {
		t.Fatalf("put: %v %v", ok, err)
	}
	got := s.Match("w", "", u)
	if got == nil || string(got.Body) != "A" || got.Headers["cf-cache-status"] != "HIT" || got.Headers["content-type"] != "text/plain" || got.Headers["age"] != "0" {
		t.Fatalf("match: %+v", got)
	}
	// Scopes and names are apart.
	if s.Match("other", "", u) != nil || s.Match("w", "named", u) != nil {
		t.Fatal("another scope or cache name sees the entry")
	}
	c.t = c.t.Add(59 * time.Second)
	if got := s.Match("w", "", u); got == nil || got.Headers["age"] != "59" {
		t.Fatalf("fresh at 59s: %+v", got)
	}
	c.t = c.t.Add(time.Second)
	if s.Match("w", "", u) != nil {
		t.Fatal("expired entry matched")
	}
	if s.Bytes() != 0 {
		t.Fatalf("expired entry still holds %d bytes", s.Bytes())
	}
}

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		headers []string
		stored  bool
		ttl     time.Duration // 0: none
	}{
		{nil, true, 0},
		{[]string{"cache-control", "max-age=10"}, true, 10 * time.Second},
		{[]string{"cache-control", "max-age=10, s-maxage=100"}, true, 100 * time.Second},
		{[]string{"cache-control", "s-maxage=100, max-age=10"}, true, 100 * time.Second},
		{[]string{"cache-control", "max-age=0"}, false, 0},
		{[]string{"cache-control", "no-store"}, false, 0},
		{[]string{"cache-control", "no-cache"}, false, 0},
		{[]string{"cache-control", "private, max-age=10"}, false, 0},
		{[]string{"cache-control", "max-age=x"}, false, 0},
		{[]string{"expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, time.Hour},
		{[]string{"expires", now.Add(-time.Hour).Format(http.TimeFormat)}, false, 0},
		{[]string{"expires", "0"}, false, 0},
		{[]string{"cache-control", "max-age=5", "expires", now.Add(time.Hour).Format(http.TimeFormat)}, true, 5 * time.Second},
		{[]string{"cache-control", "max-age=60", "set-cookie", "a=b"}, false, 0},
	}
	for _, tc := range cases {
		c := &clock{now}
		s := New(1<<20, c.now)
		ok, err := s.Put("w", "", "http://e.com/", resp("x", tc.headers...))
		if err != nil || ok != tc.stored {
			t.Errorf("%q: stored %v (%v), want %v", tc.headers, ok, err, tc.stored)
			continue
		}
		if !ok {
			if s.Match("w", "", "http://e.com/") != nil {
				t.Errorf("%q: not stored, yet matched", tc.headers)
			}
			continue
		}
		if tc.ttl > 0 {
			c.t = now.Add(tc.ttl - time.Second)
			if s.Match("w", "", "http://e.com/") == nil {
				t.Errorf("%q: gone before its ttl", tc.headers)
			}
			c.t = now.Add(tc.ttl)
			if s.Match("w", "", "http://e.com/") != nil {
				t.Errorf("%q: there after its ttl", tc.headers)
			}
		}
	}
}

func TestRefused(t *testing.T) {
	s := New(1<<20, nil)
	for _, r := range []*contract.Response{
		{Status: 206, Headers: map[string]string{}},
		resp("x", "vary", "accept-encoding, *"),
	} {
		if _, err := s.Put("w", "", "https://e.com/", r); !errors.Is(err, ErrRefused) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if _, err := s.Put("w", "", "ftp://e.com/", resp("x")); !errors.Is(err, ErrRefused) {
		t.Errorf("ftp: %v", err)
	}
}

func TestDelete(t *testing.T) {
	s := New(1<<20, nil)
	s.Put("w", "", "https://e.com/", resp("x"))
	if s.Delete("w", "n", "https://e.com/") || s.Delete("other", "", "https://e.com/") {
		t.Fatal("deleted another's entry")
	}
	if !s.Delete("w", "", "https://e.com/") {
		t.Fatal("delete found nothing")
	}
	if s.Delete("w", "", "https://e.com/") || s.Match("w", "", "https://e.com/") != nil {
		t.Fatal("entry still there")
	}
	// A put that is not stored replaces the entry.
	s.Put("w", "", "https://e.com/", resp("x"))
	s.Put("w", "", "https://e.com/", resp("y", "cache-control", "no-store"))
	if s.Match("w", "", "https://e.com/") != nil {
		t.Fatal("an uncacheable put left the old entry")
	}
}

func TestEvictionByBytes(t *testing.T) {
	s := New(10_000, nil)
	body := strings.Repeat("x", 1000)
	for i := range 20 {
		s.Put("w", "", "https://e.com/"+string(rune('a'+i)), resp(body))
		if s.Bytes() > 10_000 {
			t.Fatalf("holds %d bytes", s.Bytes())
		}
	}
	if s.Match("w", "", "https://e.com/a") != nil {
		t.Fatal("the oldest entry survived")
	}
	if s.Match("w", "", "https://e.com/t") == nil {
		t.Fatal("the newest entry was evicted")
	}
	// An entry over a quarter of the cache is not stored.
	if ok, _ := s.Put("w", "", "https://e.com/big", resp(strings.Repeat("x", 3000))); ok {
		t.Fatal("an oversized entry was stored")
	}
}

// TestConcurrent: invocations on many workers share one store.
func TestConcurrent(t *testing.T) {
	s := New(64<<10, nil)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				u := "https://e.com/" + strings.Repeat("k", i%7)
				switch (g + i) % 3 {
				case 0:
					s.Put("w", "", u, resp(strings.Repeat("x", i%300), "cache-control", "max-age=60"))
				case 1:
					if r := s.Match("w", "", u); r != nil && r.Headers["cf-cache-status"] != "HIT" {
						t.Error("a hit without its status")
					}
				default:
					s.Delete("w", "", u)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	if s.Bytes() > 64<<10 {
		t.Fatalf("holds %d bytes", s.Bytes())
	}
}
