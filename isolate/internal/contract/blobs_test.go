package contract

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// randBytes is nil, empty or a few random bytes (NULs and bytes that are
// not UTF-8 among them).
func randBytes(r *rand.Rand) []byte {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func randBatch(r *rand.Rand) *StorageBatch {
	b := &StorageBatch{DeleteAll: r.IntN(2) == 0, Deletes: []string{"d"}}
	for i := range r.IntN(5) {
		b.Puts = append(b.Puts, StoragePut{Key: "k" + string(rune('a'+i)), Value: randBytes(r)})
	}
	for i := range r.IntN(3) {
		b.Pages = append(b.Pages, StoragePage{No: uint32(i + 1), Data: randBytes(r)})
	}
	return b
}

// Random calls and replies with every byte field nil, empty or full come
// back from their frames exactly as they were (nil stays nil, empty stays
// empty), and encoding leaves them as they were.
func TestBlobsRoundTrip(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for range 500 {
		c := &HostCall{Op: OpStorageCommit, Binding: "B", Key: "k", Value: randBytes(r), Args: randBytes(r),
			ReqBody: randBytes(r), CacheBody: randBytes(r)}
		if r.IntN(2) == 0 {
			c.Batch = randBatch(r)
		}
		c.Request, c.Cache = nil, nil
		if c.ReqBody != nil {
			c.Request = &Request{Method: "POST", URL: "https://x.test/"}
		}
		if c.CacheBody != nil {
			c.Cache = &CacheCall{URL: "https://x.test/", Response: &Response{Status: 200, Headers: map[string]string{}}}
		}
		// EncodeHostCall moves the bodies into ReqBody and CacheBody, and
		// DecodeHostCall back: compare what the other side sees.
		want := *c
		if c.Request != nil {
			rq := *c.Request
			rq.Body, want.ReqBody = c.ReqBody, nil
			want.Request = &rq
		}
		if c.Cache != nil {
			cc, rp := *c.Cache, *c.Cache.Response
			rp.Body, want.CacheBody = c.CacheBody, nil
			cc.Response = &rp
			want.Cache = &cc
		}
		want.Batch = nil
		if c.Batch != nil {
			want.Batch = c.Batch.detach()
		}
		in := &HostCall{}
		*in = want
		before := deepCopyCall(in)
		b, err := EncodeHostCall(in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, before) {
			t.Fatalf("encoding changed the call:\n got %+v\nwant %+v", in, before)
		}
		got, err := DecodeHostCall(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, before) {
			if got.Request != nil && before.Request != nil {
				t.Logf("request: got %#v\nwant %#v", *got.Request, *before.Request)
			}
			if got.Cache != nil && before.Cache != nil {
				t.Logf("cache: got %#v %#v\nwant %#v %#v", *got.Cache, got.Cache.Response, *before.Cache, before.Cache.Response)
			}
			t.Fatalf("call round trip:\n got %#v\nwant %#v", got, before)
		}

		rep := &HostReply{Value: randBytes(r), Entry: &KVEntry{Value: randBytes(r)},
			KVEntries: []*KVEntry{{Value: randBytes(r)}, nil, {Value: randBytes(r), Expiration: 5}},
			Entries:   []StorageEntry{{Key: "a", Value: randBytes(r)}, {Key: "b", Value: randBytes(r)}},
			Pages:     []StoragePage{{No: 3, Data: randBytes(r)}}}
		if r.IntN(2) == 0 {
			// A response's nil body reads as empty (Response's JSON).
			rep.Response = &Response{Status: 200, Headers: map[string]string{}, Body: append([]byte{}, randBytes(r)...)}
		}
		repBefore := rep.detach()
		rb, err := EncodeHostReply(rep)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rep, repBefore) {
			t.Fatal("encoding changed the reply")
		}
		gotRep, err := DecodeHostReply(rb)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotRep, repBefore) {
			if gotRep.Response != nil {
				t.Logf("response: got %#v\nwant %#v", *gotRep.Response, *repBefore.Response)
			}
			t.Logf("entry: got %#v want %#v", *gotRep.Entry, *repBefore.Entry)
			for i, e := range gotRep.KVEntries {
				if e != nil {
					t.Logf("kv entry %d: got %#v want %#v", i, *e, *repBefore.KVEntries[i])
				}
			}
			t.Fatalf("reply round trip:\n got %#v\nwant %#v", gotRep, repBefore)
		}

		res := &ObjectResult{Result: Result{Outcome: OutcomeOK, Logs: []Log{}, Exceptions: []Exception{}}, Writes: randBatch(r)}
		resBefore := res.Writes.detach()
		gotRes, err := DecodeObjectResult(EncodeObjectResult(res))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Writes, resBefore) || !reflect.DeepEqual(gotRes.Writes, resBefore) {
			t.Fatalf("writes round trip:\n got %#v\nwant %#v", gotRes.Writes, resBefore)
		}
	}
}

func deepCopyCall(c *HostCall) *HostCall {
	cp := *c
	if c.Request != nil {
		r := *c.Request
		cp.Request = &r
	}
	if c.Cache != nil {
		cc := *c.Cache
		if cc.Response != nil {
			rp := *cc.Response
			cc.Response = &rp
		}
		cp.Cache = &cc
	}
	if c.Batch != nil {
		cp.Batch = c.Batch.detach()
	}
	return &cp
}

// A batch of large values crosses in about its own size, not a third more
// as base64 made it.
func TestBlobsFrameSize(t *testing.T) {
	b := &StorageBatch{}
	raw := 0
	for i := range 64 {
		v := bytes.Repeat([]byte{byte(i)}, 100_000)
		b.Puts = append(b.Puts, StoragePut{Key: strings.Repeat("k", i+1), Value: v})
		raw += len(v)
	}
	msg, err := EncodeHostCall(&HostCall{Op: OpStorageCommit, Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) > raw+raw/100 {
		t.Errorf("a batch of %d bytes of values took a frame of %d", raw, len(msg))
	}
}

// Frames that are not what encodeBlobs writes are refused with an error,
// never a panic, and never decode into bytes that were not sent.
func TestBlobsRefused(t *testing.T) {
	c := &HostCall{Op: OpStorageCommit, Value: []byte("v"), Batch: &StorageBatch{Puts: []StoragePut{{Key: "k", Value: []byte("value")}}}}
	good, err := EncodeHostCall(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(good); i++ {
		if _, err := DecodeHostCall(good[:i]); err == nil {
			t.Errorf("a frame cut to %d of %d bytes decoded", i, len(good))
		}
	}
	if _, err := DecodeHostCall(append(append([]byte(nil), good...), 'x')); err == nil {
		t.Error("a frame with a trailing byte decoded")
	}
	js, _ := json.Marshal(&HostCall{Op: OpStorageCommit, Batch: &StorageBatch{Puts: []StoragePut{{Key: "k"}, {Key: "l"}}}})
	frame := func(lens []uint64, js []byte, data string) []byte {
		w := &WBuf{B: []byte{blobTag}}
		w.Uint(uint64(len(lens)))
		for _, l := range lens {
			w.Uint(l)
		}
		w.Bytes(js)
		return append(w.B, data...)
	}
	// The call has 6 byte fields: Value, Args, ReqBody, CacheBody and
	// the two puts' values.
	if got, err := DecodeHostCall(frame([]uint64{0, 0, 0, 0, 2, 3}, js, "abcd")); err == nil {
		t.Error("a frame with its blobs' right count decoded")
	} else if got != nil {
		t.Error("a refused frame gave a call")
	}
	if got, err := DecodeHostCall(frame([]uint64{0, 0, 0, 0, 2, 3}, js, "abc")); err != nil || string(got.Batch.Puts[1].Value) != "bc" {
		t.Errorf("a well-formed frame: %v", err)
	}
	for name, f := range map[string][]byte{
		"a blob too few":              frame([]uint64{0, 0, 0, 0, 2}, js, "a"),
		"a blob too many":             frame([]uint64{0, 0, 0, 0, 2, 3, 1}, js, "abc"),
		"lengths past the frame":      frame([]uint64{0, 0, 0, 0, 1 << 40, 3}, js, "abc"),
		"a count past the frame":      append([]byte{blobTag}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"bad JSON":                    frame([]uint64{0, 0, 0, 0}, []byte("{"), ""),
		"a JSON length past the rest": append(frame([]uint64{0, 0, 0, 0}, nil, "")[:6], 0x7f),
	} {
		if _, err := DecodeHostCall(f); err == nil {
			t.Errorf("%s: decoded", name)
		}
		if _, err := DecodeHostReply(f); err == nil {
			t.Errorf("%s: decoded as a reply", name)
		}
	}
}

// FuzzDecodeHostCall: any bytes from a worker either decode into a call
// that encodes and decodes to itself again, or give an error.
func FuzzDecodeHostCall(f *testing.F) {
	for _, c := range []*HostCall{
		{Op: OpStorageCommit, Batch: &StorageBatch{Puts: []StoragePut{{Key: "k", Value: []byte("v")}}, Pages: []StoragePage{{No: 1, Data: []byte{0}}}}},
		{Op: OpKV, Binding: "KV", Method: "put", Key: "k", Value: []byte("value")},
		{Op: OpFetch, Request: &Request{Method: "POST", URL: "https://x.test/", Body: []byte("body")}},
	} {
		b, err := EncodeHostCall(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"op":"kv","value":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeHostCall(b)
		if err != nil || c.Op == OpRespond || c.Op == OpBody {
			return
		}
		again, err := EncodeHostCall(c)
		if err != nil {
			return // JSON cannot hold every value a call decodes to (a NaN)
		}
		c2, err := DecodeHostCall(again)
		if err != nil {
			t.Fatalf("a decoded call's encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip of a decoded call:\n got %#v\nwant %#v", c2, c)
		}
	})
}

// BenchmarkStorageCommitFrame: a Durable Object's batch of 64 values of
// 100 KB written and read on a worker's channel, and the same call in
// plain JSON (the encoding before blobs).
func BenchmarkStorageCommitFrame(b *testing.B) {
	batch := &StorageBatch{}
	for i := range 64 {
		batch.Puts = append(batch.Puts, StoragePut{Key: strings.Repeat("k", i+1), Value: bytes.Repeat([]byte("x"), 100_000)})
	}
	c := &HostCall{Op: OpStorageCommit, Batch: batch}
	b.Run("blobs", func(b *testing.B) {
		b.SetBytes(64 * 100_000)
		for b.Loop() {
			msg, err := EncodeHostCall(c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := DecodeHostCall(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(64 * 100_000)
		for b.Loop() {
			msg, err := json.Marshal(c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := DecodeHostCall(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
