package contract

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Host calls and replies cross a worker's channel as JSON, but the bytes
// they carry (KV values, storage batches, request and response bodies,
// SQL pages) travel beside it as blobs: in JSON a []byte is base64, a
// third larger, and encoding/json scans and decodes every byte of it. A
// Durable Object's 6 MiB batch of writes cost the node tens of
// milliseconds of CPU to read, at the node's own weight.
//
// A frame with blobs is:
//
//	blobTag
//	the number of blobs (uvarint)
//	for each blob: 0 for nil, else its length + 1 (uvarint)
//	the length of the JSON (uvarint), the JSON
//	the blobs' bytes, one after another
//
// The JSON is that of the value with each of its byte fields nil; the
// blobs are those fields in the order eachBytes visits them, which the
// decoder visits again on the decoded value. A frame whose blob count is
// not the number of fields the decoded value has is refused.
const blobTag = 2

// maxBlobs bounds the blobs of one frame, so that a hostile count cannot
// make the decoder allocate: each blob takes at least a byte of the frame
// anyway.
const maxBlobs = 1 << 20

// eachBytes calls f with each byte field of c, in a fixed order.
func (c *HostCall) eachBytes(f func(*[]byte)) {
	f(&c.Value)
	f(&c.Args)
	f(&c.ReqBody)
	f(&c.CacheBody)
	if c.Batch != nil {
		c.Batch.eachBytes(f)
	}
}

// eachBytes calls f with each byte field of b, in a fixed order.
func (b *StorageBatch) eachBytes(f func(*[]byte)) {
	for i := range b.Puts {
		f(&b.Puts[i].Value)
	}
	for i := range b.Pages {
		f(&b.Pages[i].Data)
	}
}

// eachBytes calls f with each byte field of r, in a fixed order.
func (r *HostReply) eachBytes(f func(*[]byte)) {
	f(&r.RespBody)
	f(&r.Value)
	if r.Entry != nil {
		f(&r.Entry.Value)
	}
	for _, e := range r.KVEntries {
		if e != nil {
			f(&e.Value)
		}
	}
	for i := range r.Entries {
		f(&r.Entries[i].Value)
	}
	for i := range r.Pages {
		f(&r.Pages[i].Data)
	}
}

// detach returns a copy of b whose byte fields can be cleared without
// touching b's.
func (b *StorageBatch) detach() *StorageBatch {
	cp := *b
	cp.Puts = append([]StoragePut(nil), b.Puts...)
	cp.Pages = append([]StoragePage(nil), b.Pages...)
	return &cp
}

// detach returns a copy of r whose byte fields can be cleared without
// touching r's.
func (r *HostReply) detach() *HostReply {
	cp := *r
	if r.Entry != nil {
		e := *r.Entry
		cp.Entry = &e
	}
	if r.KVEntries != nil {
		cp.KVEntries = make([]*KVEntry, len(r.KVEntries))
		for i, e := range r.KVEntries {
			if e != nil {
				ec := *e
				cp.KVEntries[i] = &ec
			}
		}
	}
	cp.Entries = append([]StorageEntry(nil), r.Entries...)
	cp.Pages = append([]StoragePage(nil), r.Pages...)
	return &cp
}

// encodeBlobs encodes v (a detached copy: its byte fields are cleared)
// as a frame with blobs. each visits v's byte fields.
func encodeBlobs(v any, each func(func(*[]byte))) ([]byte, error) {
	var blobs [][]byte
	size := 0
	each(func(p *[]byte) {
		blobs = append(blobs, *p)
		size += len(*p)
		*p = nil
	})
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	w := &WBuf{B: make([]byte, 0, 1+10+3*len(blobs)+10+len(js)+size)}
	w.B = append(w.B, blobTag)
	w.Uint(uint64(len(blobs)))
	for _, b := range blobs {
		if b == nil {
			w.Uint(0)
		} else {
			w.Uint(uint64(len(b)) + 1)
		}
	}
	w.Bytes(js)
	for _, b := range blobs {
		w.B = append(w.B, b...)
	}
	return w.B, nil
}

// decodeBlobs decodes a frame of encodeBlobs (msg without its tag) into v,
// whose byte fields each visits. The blobs are copied out of msg.
func decodeBlobs(msg []byte, v any, each func(func(*[]byte))) error {
	r := &RBuf{B: msg}
	n := r.N()
	if r.Err != nil || n > maxBlobs {
		return errors.New("bad blob count")
	}
	lens := make([]uint64, n)
	total := uint64(0)
	for i := range lens {
		lens[i] = r.Uint()
		if lens[i] > 0 {
			total += lens[i] - 1
		}
		if r.Err != nil || total > uint64(len(msg)) {
			return errors.New("bad blob length")
		}
	}
	js := r.Bytes()
	if r.Err != nil {
		return errors.New("bad JSON length")
	}
	if total != uint64(len(r.B)) {
		return fmt.Errorf("blobs of %d bytes in %d", total, len(r.B))
	}
	if err := json.Unmarshal(js, v); err != nil {
		return err
	}
	data := append([]byte(nil), r.B...) // the frame's buffer is not ours to keep
	i := 0
	each(func(p *[]byte) {
		if i < n {
			switch l := lens[i]; l {
			case 0:
				*p = nil
			case 1:
				*p = []byte{}
			default:
				*p, data = data[:l-1:l-1], data[l-1:]
			}
		}
		i++
	})
	if i != n {
		return fmt.Errorf("%d blobs for %d byte fields", n, i)
	}
	return nil
}
