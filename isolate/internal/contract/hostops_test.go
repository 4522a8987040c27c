package contract

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHostOpsTable(t *testing.T) {
	seen := map[string]HostOp{}
	for op := HostOp(1); op < NumHostOps; op++ {
		info := op.Info()
		if info.Name == "" {
			t.Errorf("op %d has no wire name", op)
		}
		if prev, ok := seen[info.Name]; ok {
			t.Errorf("ops %d and %d share the name %q", prev, op, info.Name)
		}
		seen[info.Name] = op
		if info.Side == 0 {
			t.Errorf("%s: no side answers it", op)
		}
		if info.Fallback == "" {
			t.Errorf("%s: no fallback error code", op)
		}
		if op.String() != info.Name {
			t.Errorf("%s: String() = %q", info.Name, op.String())
		}
		// Every op crosses a worker's channel and comes back itself.
		b, err := json.Marshal(&HostCall{Op: op})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		c, err := DecodeHostCall(b)
		if err != nil || c.Op != op {
			t.Errorf("%s: decoded as %v, %v", op, c, err)
		}
	}
	if HostOp(0).Valid() || NumHostOps.Valid() {
		t.Error("an op outside the table is valid")
	}
	if _, err := json.Marshal(&HostCall{}); err == nil {
		t.Error("a call without an op encoded")
	}
}

func TestDecodeHostCallRefuses(t *testing.T) {
	for _, msg := range []string{
		`{"op":"nope"}`,
		`{"op":"KV"}`,
		`{"op":""}`,
		`{}`,
		`{"op":7}`,
		`{"op":"sget","id":3}`, // not async: cannot be started
		`{"op":"code","id":1}`,
	} {
		if c, err := DecodeHostCall([]byte(msg)); err == nil {
			t.Errorf("%s decoded as %+v", msg, c)
		} else if !strings.HasPrefix(err.Error(), "bad host call") {
			t.Errorf("%s: error %q", msg, err)
		}
	}
	if _, err := DecodeHostCall([]byte(`{"op":"nope"}`)); err == nil || !strings.Contains(err.Error(), `unknown host call op "nope"`) {
		t.Errorf("unknown op: error %v", err)
	}
	c, err := DecodeHostCall([]byte(`{"op":"kv","id":3,"binding":"K","method":"get"}`))
	if err != nil || c.Op != OpKV || c.ID != 3 {
		t.Errorf("a started KV call: %+v, %v", c, err)
	}
}
