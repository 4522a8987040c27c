package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// A bulk get answers one entry per key in order (nil for a missing one),
// refuses more than 100 keys, and fails past 25 MiB of values in all
// rather than bring them to the isolate at once.
func TestBulkGetBounds(t *testing.T) {
	ctx := context.Background()
	kv := &memKV{m: map[string]KVEntry{}}
	var keys []string
	for i := range 3 {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		kv.m[k] = KVEntry{Value: []byte(k)}
	}
	es, err := bulkGet(ctx, kv, append(keys, "missing"), KVGetOptions{})
	if err != nil || len(es) != 4 || es[3] != nil {
		t.Fatalf("bulk get: %d entries, %v", len(es), err)
	}
	for i, k := range keys {
		if string(es[i].Value) != k {
			t.Fatalf("entry %d: %q, want %q", i, es[i].Value, k)
		}
	}
	many := make([]string, contract.MaxKVBulkKeys+1)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	if _, err := bulkGet(ctx, kv, many, KVGetOptions{}); !isInvalid(err) {
		t.Fatalf("101 keys: %v", err)
	}
	if _, err := bulkGet(ctx, kv, nil, KVGetOptions{}); !isInvalid(err) {
		t.Fatalf("no keys: %v", err)
	}
	kv.m["big1"] = KVEntry{Value: bytes.Repeat([]byte("x"), 13<<20)}
	kv.m["big2"] = KVEntry{Value: bytes.Repeat([]byte("y"), 13<<20)}
	if _, err := bulkGet(ctx, kv, []string{"k0", "big1", "big2"}, KVGetOptions{}); !isInvalid(err) {
		t.Fatalf("26 MiB of values: %v", err)
	}
	if es, err := bulkGet(ctx, kv, []string{"big1", "k1"}, KVGetOptions{}); err != nil || len(es[0].Value) != 13<<20 {
		t.Fatalf("13 MiB of values: %v", err)
	}
}

func isInvalid(err error) bool {
	var he *contract.HostError
	return errors.As(err, &he) && he.KVCode() == string(contract.CodeInvalid)
}
