package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestHostOpsTable(t *testing.T) {
	seen := map[string]hostOp{}
	for op := hostOp(1); op < numHostOps; op++ {
		info := op.info()
		if info.name == "" {
			t.Errorf("op %d has no wire name", op)
		}
		if prev, ok := seen[info.name]; ok {
			t.Errorf("ops %d and %d share the name %q", prev, op, info.name)
		}
		seen[info.name] = op
		if info.side == 0 {
			t.Errorf("%s: no side answers it", op)
		}
		if info.fallback == "" {
			t.Errorf("%s: no fallback error code", op)
		}
		if op.String() != info.name {
			t.Errorf("%s: String() = %q", info.name, op.String())
		}
		// Every op crosses a worker's channel and comes back itself.
		b, err := json.Marshal(&hostCall{Op: op})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		c, err := decodeHostCall(b)
		if err != nil || c.Op != op {
			t.Errorf("%s: decoded as %v, %v", op, c, err)
		}
	}
	if hostOp(0).valid() || numHostOps.valid() {
		t.Error("an op outside the table is valid")
	}
	if _, err := json.Marshal(&hostCall{}); err == nil {
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
		if c, err := decodeHostCall([]byte(msg)); err == nil {
			t.Errorf("%s decoded as %+v", msg, c)
		} else if !strings.HasPrefix(err.Error(), "bad host call") {
			t.Errorf("%s: error %q", msg, err)
		}
	}
	if _, err := decodeHostCall([]byte(`{"op":"nope"}`)); err == nil || !strings.Contains(err.Error(), `unknown host call op "nope"`) {
		t.Errorf("unknown op: error %v", err)
	}
	c, err := decodeHostCall([]byte(`{"op":"kv","id":3,"binding":"K","method":"get"}`))
	if err != nil || c.Op != opKV || c.ID != 3 {
		t.Errorf("a started KV call: %+v, %v", c, err)
	}
}

type codedErr string

func (e codedErr) Error() string  { return "coded" }
func (e codedErr) KVCode() string { return string(e) }

func TestHostErrorCode(t *testing.T) {
	for _, tc := range []struct {
		op   hostOp
		err  error
		want hostErrCode
	}{
		{opKV, nil, ""},
		{opKV, errors.New("x"), codeStorage},
		{opKV, fmt.Errorf("w: %w", &KVError{Code: KVCodeDenied, Err: errors.New("no")}), codeDenied},
		{opKV, context.DeadlineExceeded, codeUnavailable},
		{opStorageGet, errors.New("disk"), codeStorage},
		{opFetch, errors.New("dial"), codeUnavailable},
		{opFetch, codedErr("denied"), codeDenied},
		{opCode, errors.New("x"), codeInternal},
		{opDOCall, hostErrorf(codeInvalid, "bad"), codeInvalid},
	} {
		if got := errorCode(tc.op, tc.err); got != tc.want {
			t.Errorf("errorCode(%s, %v) = %q, want %q", tc.op, tc.err, got, tc.want)
		}
		if tc.op == opKV && KVErrorCode(tc.err) != string(tc.want) {
			t.Errorf("KVErrorCode(%v) = %q, want %q", tc.err, KVErrorCode(tc.err), tc.want)
		}
	}
	rep := failReply(opKV, &KVError{Code: KVCodeInvalid, Err: errors.New("key too long")})
	if rep.Error != "key too long" || rep.Code != codeInvalid {
		t.Errorf("failReply = %+v", rep)
	}
	var he *hostError
	if err := rep.err(); !errors.As(err, &he) || he.code != codeInvalid || err.Error() != "key too long" {
		t.Errorf("reply's err() = %v", err)
	}
}

func TestDispatcherRefusesOutOfSide(t *testing.T) {
	d := &dispatcher{}
	for _, op := range []hostOp{opWait, opRespond, opStorageGet, opStorageCommit, 0} {
		if rep, err := d.call(context.Background(), &hostCall{Op: op}); err == nil {
			t.Errorf("%s answered without its side: %+v", op, rep)
		}
	}
	rep, err := d.call(context.Background(), &hostCall{Op: opKV, Binding: "K", Method: "get"})
	if err != nil || rep.Code != codeInvalid {
		t.Errorf("KV without a binding: %+v, %v", rep, err)
	}
}
