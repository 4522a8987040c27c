package sizedlru

import "testing"

func TestBounds(t *testing.T) {
	c := New[string, int](3, 100)
	for i, k := range []string{"a", "b", "c"} {
		if !c.Add(k, i, 20) {
			t.Fatalf("Add(%s) refused", k)
		}
	}
	if c.Len() != 3 || c.Bytes() != 60 {
		t.Fatalf("len %d bytes %d", c.Len(), c.Bytes())
	}
	// The entry bound: a fourth evicts the least recently used ("b", since
	// "a" was just read).
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a missing")
	}
	c.Add("d", 3, 20)
	if _, ok := c.Get("b"); ok || c.Len() != 3 || c.Bytes() != 60 {
		t.Fatalf("after d: b present %v, len %d, bytes %d", ok, c.Len(), c.Bytes())
	}
	// The byte bound: 25 more bytes push out the oldest until <= 100.
	c.Add("e", 4, 25)
	if c.Bytes() > 100 || c.Len() != 3 {
		t.Fatalf("after e: len %d bytes %d", c.Len(), c.Bytes())
	}
	if _, ok := c.Get("e"); !ok {
		t.Fatal("e missing")
	}
	// Too big for the cache: not kept, nothing evicted for it.
	before := c.Len()
	if c.Add("huge", 5, 26) {
		t.Fatal("a value over a quarter of the budget was kept")
	}
	if _, ok := c.Get("huge"); ok || c.Len() != before {
		t.Fatal("huge value kept or evicted others")
	}
	// Replacing a key updates its size.
	c.Add("e", 6, 5)
	if v, _ := c.Get("e"); v != 6 {
		t.Fatalf("e = %d", v)
	}
	want := int64(0)
	for _, k := range []string{"a", "c", "d", "e"} {
		if _, ok := c.Get(k); ok {
			want += map[string]int64{"a": 20, "c": 20, "d": 20, "e": 5}[k]
		}
	}
	if c.Bytes() != want {
		t.Fatalf("bytes %d, want %d", c.Bytes(), want)
	}
	c.Remove("e")
	if _, ok := c.Get("e"); ok || c.Bytes() != want-5 {
		t.Fatalf("after Remove: bytes %d", c.Bytes())
	}
}
