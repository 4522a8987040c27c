package kvsm

import (
	"testing"

	"pgregory.net/rapid"
)

// ExpireDue says whether an expire command would change anything: checked
// against the command itself after random puts with expirations, puts
// with request ids and deadlines, and objects' DeleteAll.
func TestExpireDue(t *testing.T) {
	db := openDB(t, "", false)
	n := 0
	rapid.Check(t, func(t *rapid.T) {
		n++
		g := newGroup(t, db, "d"+keyN(n))
		if due, err := g.s.ExpireDue(at(1000)); err != nil || due {
			t.Fatalf("an empty store: ExpireDue = %v, %v", due, err)
		}
		for i := range rapid.IntRange(1, 40).Draw(t, "steps") {
			now := at(rapid.Int64Range(0, 20).Draw(t, "now"))
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0:
				exp := int64(0)
				if rapid.Bool().Draw(t, "expires") {
					exp = at(rapid.Int64Range(1, 20).Draw(t, "exp")).Unix()
				}
				g.must(EncodePut("ns", keyN(rapid.IntRange(0, 5).Draw(t, "key")), []byte("v"), nil, exp))
			case 1:
				var id [16]byte
				id[0], id[1] = byte(i), byte(n)
				deadline := at(rapid.Int64Range(1, 20).Draw(t, "deadline")).Unix()
				g.must(EncodePutOnce(id, deadline, "ns", keyN(rapid.IntRange(0, 5).Draw(t, "key")), []byte("v"), nil, 0))
			case 2:
				obj := "obj" + keyN(rapid.IntRange(0, 2).Draw(t, "obj"))
				b := &ObjectBatch{DeleteAll: rapid.Bool().Draw(t, "deleteAll"), Puts: []ObjectPut{{"k" + keyN(i), []byte("v")}}}
				if r := g.applyAt(1, EncodeObjectBatch(1, obj, b))[0]; r.Err != nil {
					t.Fatal(r.Err)
				}
			default:
				due, err := g.s.ExpireDue(now)
				if err != nil {
					t.Fatal(err)
				}
				r := g.must(EncodeExpire(now, MaxExpireLimit))[0]
				if changed := r.Expired+r.Forgotten+r.Collected > 0; changed != due {
					t.Fatalf("at %v ExpireDue said %v, and the expire command removed %d keys, %d request ids and %d object keys", now.Unix(), due, r.Expired, r.Forgotten, r.Collected)
				}
				if due, err := g.s.ExpireDue(now); err != nil || due {
					t.Fatalf("after an expire at the same time, ExpireDue = %v, %v", due, err)
				}
			}
		}
	})
}
